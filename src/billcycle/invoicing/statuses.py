"""The one home of an invoice's status words (stored as is, shown as is by both dialects)."""

from __future__ import annotations

from enum import StrEnum


class InvoiceStatus(StrEnum):
    DRAFT = "Draft"
    POSTED = "Posted"
    CANCELED = "Canceled"
