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


class PaymentSortField(StrEnum):
    """What a payment list can be sorted by (Zuora's ``sort`` fields, as is). Billcycle
    records no user ids: ``createdById``/``updatedById`` are accepted and leave the order
    to the fields after them."""

    NUMBER = "number"
    ACCOUNT_ID = "accountId"
    AMOUNT = "amount"
    APPLIED_AMOUNT = "appliedAmount"
    UNAPPLIED_AMOUNT = "unappliedAmount"
    REFUND_AMOUNT = "refundAmount"
    CREDIT_BALANCE_AMOUNT = "creditBalanceAmount"
    EFFECTIVE_DATE = "effectiveDate"
    CREATED_DATE = "createdDate"
    CREATED_BY_ID = "createdById"
    UPDATED_DATE = "updatedDate"
    UPDATED_BY_ID = "updatedById"


class RefundSortField(StrEnum):
    """What a refund list can be sorted by (Zuora's ``sort`` fields, as is)."""

    NUMBER = "number"
    ACCOUNT_ID = "accountId"
    AMOUNT = "amount"
    REFUND_DATE = "refundDate"
    PAYMENT_ID = "paymentId"
    CREATED_DATE = "createdDate"
    CREATED_BY_ID = "createdById"
    UPDATED_DATE = "updatedDate"
    UPDATED_BY_ID = "updatedById"
