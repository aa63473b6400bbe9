"""The one home of a payment run's words (Zuora's, stored and shown as is).

Lifecycle: ``Pending`` -> ``Processing`` -> ``Completed`` | ``Error``; ``Pending`` ->
``Canceled`` (the CLI: Zuora publishes no REST cancel); ``Canceled``/``Error`` ->
deleted.
"""

from __future__ import annotations

from enum import StrEnum


class PaymentRunStatus(StrEnum):
    PENDING = "Pending"
    PROCESSING = "Processing"
    COMPLETED = "Completed"
    ERROR = "Error"
    CANCELED = "Canceled"


# A failed payment's record when the gateway gave no code or message.
DECLINED_CODE = "Declined"
DECLINED_MESSAGE = "The gateway declined the charge."


class RecordResult(StrEnum):
    """A payment_run_data row's outcome (Zuora's ``result``)."""

    PROCESSED = "Processed"
    ERROR = "Error"


class TransactionType(StrEnum):
    PAYMENT = "Payment"
    CREDIT_MEMO = "CreditMemo"
    UNAPPLIED_PAYMENT = "UnappliedPayment"
    CREDIT_BALANCE_ADJUSTMENT = "CreditBalanceAdjustment"


class DocumentType(StrEnum):
    INVOICE = "Invoice"
    DEBIT_MEMO = "DebitMemo"


class RecordError(StrEnum):
    """billcycle's ``errorCode`` words on a record it did not collect (a gateway's own
    code, e.g. ``card_declined``, is shown as the gateway gave it)."""

    NOTHING_TO_COLLECT = "NothingToCollect"
    NO_PAYMENT_METHOD = "NoPaymentMethod"
    PAYMENT_METHOD_CLOSED = "PaymentMethodClosed"
    RETRY_RULE = "RetryRuleNotMet"
    PAYMENT_PENDING = "PaymentPending"
    CHARGE_REFUSED = "ChargeRefused"
