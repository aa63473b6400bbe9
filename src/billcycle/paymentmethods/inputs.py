"""What the payment-method services take, free of any wire dialect.

A full card number travels only inside :class:`~billcycle.gateways.interface.CardDetails`
(whose ``repr`` hides it) on its way to a tokenizing gateway; a full bank account number
or IBAN only as far as :mod:`billcycle.paymentmethods.masking`. Neither is ever stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from billcycle.gateways.interface import CardDetails
from billcycle.unset import UNSET, Unset

# Holder and mandate details, by billcycle's snake_case names (``holder_name``,
# ``address_line1``, ``city``, ...; ``mandate_id``, ``mandate_status``, ...).
Details = Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class RetryRule:
    """Zuora's per-method retry fields; UNSET keeps (or defaults) each."""

    use_default_retry_rule: bool | Unset = UNSET
    max_consecutive_payment_failures: int | Unset | None = UNSET
    payment_retry_window_hours: int | Unset | None = UNSET


@dataclass(frozen=True, slots=True)
class NewPaymentMethod:
    """One payment method to create. ``account_id`` None makes an orphan method (Zuora:
    no ``accountKey``), attached to an account later by an update."""

    type: str
    account_id: int | None = None
    make_default: bool = False
    gateway_id: int | None = None  # Zuora's authGateway
    currency_code: str | None = None
    payment_method_number: str | None = None
    # The gateway's references (Zuora's tokens.tokenId/secondTokenId, or a reference
    # transaction's tokenId/secondTokenId).
    token: str | None = None
    second_token: str | None = None
    # CreditCard with a full number: tokenized by the gateway, never stored.
    card: CardDetails | None = field(default=None, repr=False)
    card_type: str | None = None
    card_mask: str | None = None
    expiration_month: int | None = None
    expiration_year: int | None = None
    # ACH
    bank_aba_code: str | None = None
    bank_account_name: str | None = None
    bank_account_type: str | None = None
    bank_name: str | None = None
    bank_account_number: str | None = field(default=None, repr=False)  # masked, then dropped
    bank_account_mask: str | None = None
    mandate_id: str | None = None
    # SEPA
    iban: str | None = field(default=None, repr=False)  # masked, then dropped
    business_identification_code: str | None = None
    holder: Details | None = None
    mandate: Details | None = None
    retry: RetryRule = RetryRule()


@dataclass(frozen=True, slots=True)
class PaymentMethodChanges:
    """A patch: UNSET leaves a field alone. ``holder`` and ``mandate`` merge into what
    is stored (a key set to None clears it)."""

    account_id: int | Unset = UNSET  # attaches an orphan method
    gateway_id: int | Unset | None = UNSET
    currency_code: str | Unset | None = UNSET
    expiration_month: int | Unset = UNSET
    expiration_year: int | Unset = UNSET
    holder: Details | Unset = UNSET
    mandate: Details | Unset = UNSET
    retry: RetryRule = RetryRule()
    # Only 0 is accepted: resets the failure count (Zuora's numConsecutiveFailures).
    num_consecutive_failures: int | Unset = UNSET


@dataclass(frozen=True, slots=True)
class AccountPaymentSetup:
    """The payment side of an account create or update (Zuora's ``creditCard``,
    ``paymentMethod``, ``hpmCreditCardPaymentMethodId``, ``paymentGateway``,
    ``defaultPaymentMethodId``). ``new_method``'s ``account_id`` is filled in by the
    service; it becomes the account's default."""

    new_method: NewPaymentMethod | None = None
    default_method_id: int | None = None
    gateway_name: str | Unset | None = UNSET
