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
