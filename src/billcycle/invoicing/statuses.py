"""The one home of an invoice's words: its lifecycle status (stored as is, shown as is by
both dialects), its settlement status (computed from its balance, shown by the Fusebill
dialect) and its source."""

from __future__ import annotations

from enum import StrEnum


class InvoiceStatus(StrEnum):
    DRAFT = "Draft"
    POSTED = "Posted"
    CANCELED = "Canceled"


class SettlementStatus(StrEnum):
    """How much of a posted invoice is still owed (see ``invoicing.listing``)."""

    PAID = "Paid"
    PARTIALLY_PAID = "PartiallyPaid"
    UNPAID = "Unpaid"
    OVERDUE = "Overdue"
    WRITTEN_OFF = "WrittenOff"


class InvoiceSource(StrEnum):
    """What created an invoice (``invoices.source``; Zuora shows it as ``source``)."""

    API = "API"
    BILL_RUN = "BillRun"
