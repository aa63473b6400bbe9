"""The gateway package's word sets."""

from __future__ import annotations

from enum import StrEnum


class GatewayOutcome(StrEnum):
    """What a gateway answered for one transaction.

    ``Unknown`` is a timeout or a lost answer: the transaction may or may not have gone
    through, so the caller keeps its payment ``Processing`` and later asks ``status``
    with the same idempotency key. ``NotFound`` is only ever answered by ``status``: the
    gateway never received a transaction with that key, so retrying it is safe.
    """

    APPROVED = "Approved"
    DECLINED = "Declined"
    PENDING = "Pending"
    UNKNOWN = "Unknown"
    # A sale cancelled by a void before it settled: no money moved.
    VOIDED = "Voided"
    NOT_FOUND = "NotFound"


class TransactionKind(StrEnum):
    SALE = "Sale"
    REFUND = "Refund"
    VOID = "Void"
    # Money taken back from a settled sale by the card network or the bank (a lost
    # dispute, an ACH return): reported by the gateway, never asked for.
    CHARGEBACK = "Chargeback"


class DeclineCategory(StrEnum):
    """Zuora's Configurable Payment Retry labels: retry soft declines and system errors,
    stop on hard declines."""

    HARD = "Hard Decline"
    SOFT = "Soft Decline"
    SYSTEM = "System Error"


class CardBrand(StrEnum):
    """Card types as Zuora's payment methods spell them (``cardType``)."""

    VISA = "Visa"
    MASTERCARD = "MasterCard"
    AMERICAN_EXPRESS = "AmericanExpress"
    DISCOVER = "Discover"
    JCB = "JCB"
    DINERS = "Diners"


class ChargeState(StrEnum):
    """The state of one transaction in the test gateway's charge book
    (``test_gateway_charges.state``)."""

    APPROVED = "Approved"
    DECLINED = "Declined"
    PENDING = "Pending"
    VOIDED = "Voided"
