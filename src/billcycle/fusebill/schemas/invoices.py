"""Fusebill wire shapes for invoices, and what ``/v1/customers/{id}/invoices`` can be
filtered (``query``) and sorted (``sortExpression``) on.

Fusebill's invoice resource is a POSTED invoice ("an invoice that has caused accounting
ledger movements"; drafts are a separate resource), so only posted invoices appear here.

Money: ``invoiceAmount = totalPayments + sumOfCreditNotes + totalWriteoffs +
outstandingBalance``, with ``totalPayments`` net of refunds. ``invoiceNumber`` is an
integer on Fusebill's wire: the sequence behind billcycle's ``INV00000012`` (12).
``terms`` is ``Net<days>`` for the days between the invoice date and its due date
(``Due Upon Receipt`` is ``Net0``), or null for a span Fusebill has no term for.
"""

from __future__ import annotations

from datetime import date

from billcycle.fusebill.query import Kind, QueryField
from billcycle.fusebill.schemas.customers import (
    Amount,
    FusebillResponse,
    fusebill_date_timestamp,
    timestamp,
)
from billcycle.ids import NUMBER_FORMATS, format_number, is_ascii_digits
from billcycle.invoicing.listing import InvoiceField, Scalar, SettlementRow
from billcycle.invoicing.statuses import SettlementStatus
from billcycle.money import from_minor

_PREFIX = NUMBER_FORMATS["invoice"][0]
# Fusebill's Net terms (days after the invoice date).
NET_TERMS_DAYS = frozenset({0, 5, 7, 10, 15, 21, 30, 45, 60, 75, 90})


def wire_invoice_number(number: str) -> int | None:
    digits = number.removeprefix(_PREFIX)
    return int(digits) if is_ascii_digits(digits) else None


def _domain_invoice_number(value: Scalar) -> Scalar:
    if not isinstance(value, int):
        raise TypeError(f"an invoice number is an integer, not {value!r}")
    return format_number("invoice", value)


INVOICE_QUERY_FIELDS: tuple[QueryField[InvoiceField], ...] = (
    QueryField("id", InvoiceField.ID, Kind.INTEGER),
    QueryField("invoiceNumber", InvoiceField.NUMBER, Kind.INTEGER, convert=_domain_invoice_number),
    QueryField(
        "status",
        InvoiceField.STATUS,
        Kind.ENUM,
        choices=tuple(status.value for status in SettlementStatus),
    ),
    QueryField("currency", InvoiceField.CURRENCY, Kind.TEXT),
    QueryField("effectiveTimestamp", InvoiceField.INVOICE_DATE, Kind.TIMESTAMP),
    QueryField("dueDate", InvoiceField.DUE_DATE, Kind.TIMESTAMP),
    QueryField("postedTimestamp", InvoiceField.POSTED_AT, Kind.TIMESTAMP),
    QueryField("modifiedTimestamp", InvoiceField.UPDATED_AT, Kind.TIMESTAMP),
    QueryField("invoiceAmount", InvoiceField.AMOUNT, Kind.DECIMAL),
    QueryField("outstandingBalance", InvoiceField.BALANCE, Kind.DECIMAL),
)

INVOICE_SORT_FIELDS: tuple[tuple[str, InvoiceField], ...] = (
    ("postedTimestamp", InvoiceField.POSTED_AT),
    ("id", InvoiceField.ID),
    ("invoiceNumber", InvoiceField.NUMBER),
    ("effectiveTimestamp", InvoiceField.INVOICE_DATE),
    ("dueDate", InvoiceField.DUE_DATE),
    ("modifiedTimestamp", InvoiceField.UPDATED_AT),
    ("invoiceAmount", InvoiceField.AMOUNT),
    ("outstandingBalance", InvoiceField.BALANCE),
    ("status", InvoiceField.STATUS),
)
DEFAULT_SORT = "postedTimestamp"


def net_terms(invoice_date: date, due_date: date) -> str | None:
    days = (due_date - invoice_date).days
    return f"Net{days}" if days in NET_TERMS_DAYS else None


class InvoiceResponse(FusebillResponse):
    invoice_number: int | None
    customer_id: int
    currency: str
    status: SettlementStatus
    terms: str | None
    po_number: str | None = None
    effective_timestamp: str
    posted_timestamp: str | None
    created_timestamp: str
    modified_timestamp: str
    due_date: date
    subtotal: Amount
    invoice_amount: Amount
    total_payments: Amount
    sum_of_credit_notes: Amount
    total_writeoffs: Amount
    outstanding_balance: Amount
    unsettled: bool = False
    id: int
    uri: str | None


def invoice_response(row: SettlementRow, uri: str | None) -> InvoiceResponse:
    currency = row.currency

    def money(minor: int) -> Amount:
        return from_minor(minor, currency)

    return InvoiceResponse(
        invoice_number=wire_invoice_number(row.invoice_number),
        customer_id=row.account_id,
        currency=currency,
        status=row.status,
        terms=net_terms(row.invoice_date, row.due_date),
        effective_timestamp=fusebill_date_timestamp(row.invoice_date),
        posted_timestamp=timestamp(row.posted_at) if row.posted_at is not None else None,
        created_timestamp=timestamp(row.created_at),
        modified_timestamp=timestamp(row.updated_at),
        due_date=row.due_date,
        subtotal=money(row.amount_minor - row.tax_minor),
        invoice_amount=money(row.amount_minor),
        total_payments=money(row.payment_minor + row.refund_minor),
        sum_of_credit_notes=money(row.credit_memo_minor),
        total_writeoffs=money(row.write_off_minor),
        outstanding_balance=money(row.balance_minor),
        id=row.id,
        uri=uri,
    )
