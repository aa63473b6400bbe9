"""The one home of an invoice email delivery's words, as ``invoice_emails`` stores them."""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    """How one delivery attempt ended (``invoice_emails.status``)."""

    SENT = "Sent"
    FAILED = "Failed"


class EmailTransport(StrEnum):
    """What carried a message (``invoice_emails.transport``)."""

    SMTP = "smtp"
    OUTBOX = "outbox"
