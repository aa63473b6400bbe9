"""The one home of a payment's and a refund's words (Zuora's, stored and shown as is)."""

from __future__ import annotations

from enum import StrEnum


class PaymentStatus(StrEnum):
    DRAFT = "Draft"
    PROCESSING = "Processing"  # the gateway's outcome is pending or unknown
    PROCESSED = "Processed"
    ERROR = "Error"
    CANCELED = "Canceled"
    POSTED = "Posted"


# Only money that has arrived counts: applications, refunds and transfers need one of these.
SETTLED_STATUSES = frozenset({PaymentStatus.PROCESSED, PaymentStatus.POSTED})


class PaymentType(StrEnum):
    """External: recorded money (cash, check, a wire); Electronic: through a gateway."""

    EXTERNAL = "External"
    ELECTRONIC = "Electronic"


class GatewayState(StrEnum):
    MARKED_FOR_SUBMISSION = "MarkedForSubmission"
    SUBMITTED = "Submitted"
    SETTLED = "Settled"
    NOT_SUBMITTED = "NotSubmitted"
    FAILED_TO_SETTLE = "FailedToSettle"


class RefundStatus(StrEnum):
    PROCESSED = "Processed"
    CANCELED = "Canceled"
    ERROR = "Error"
    PROCESSING = "Processing"


class RefundMethodType(StrEnum):
    """How an External refund left (Zuora's ``methodType``)."""

    ACH = "ACH"
    CASH = "Cash"
    CHECK = "Check"
    CREDIT_CARD = "CreditCard"
    PAYPAL = "PayPal"
    WIRE_TRANSFER = "WireTransfer"
    DEBIT_CARD = "DebitCard"
    CREDIT_CARD_REFERENCE_TRANSACTION = "CreditCardReferenceTransaction"
    BANK_TRANSFER = "BankTransfer"
    OTHER = "Other"


class RefundTransactionType(StrEnum):
    CHARGEBACK = "Chargeback"
    PAYMENT_REVERSAL = "PaymentReversal"
