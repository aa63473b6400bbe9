"""The one home of a payment method's words (Zuora's, stored and shown as is)."""

from __future__ import annotations

from enum import StrEnum


class PaymentMethodType(StrEnum):
    CREDIT_CARD = "CreditCard"
    CREDIT_CARD_REFERENCE_TRANSACTION = "CreditCardReferenceTransaction"
    ACH = "ACH"
    SEPA = "SEPA"
    BANK_TRANSFER = "BankTransfer"


class PaymentMethodStatus(StrEnum):
    ACTIVE = "Active"
    CLOSED = "Closed"
    SCRUBBED = "Scrubbed"


class BankAccountType(StrEnum):
    BUSINESS_CHECKING = "BusinessChecking"
    BUSINESS_SAVING = "BusinessSaving"
    CHECKING = "Checking"
    SAVING = "Saving"


# What a method is charged through: every type billcycle takes is electronic (a gateway
# charges it), which is what an autopay account's default must be.
ELECTRONIC_TYPES = frozenset(PaymentMethodType)
# Usable for charges and as a default; Closed and Scrubbed methods are not.
USABLE_STATUSES = frozenset({PaymentMethodStatus.ACTIVE})
