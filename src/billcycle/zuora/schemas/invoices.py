"""Zuora wire shapes for ``/v1/invoices`` and ``/v1/billing-documents``.

Field names and types follow zuora-sdk's models (InvoiceResponse, InvoiceItemsResponse,
AsyncOperationResponse, PostAsyncInvoiceRequest, WriteOffInvoiceRequest,
WriteOffInvoiceResponse, BillingDocumentQueryResponseElement), so the SDK deserializes
every answer. Amounts are JSON numbers; dates ``yyyy-mm-dd``; date-times
``yyyy-mm-dd hh:mm:ss``; Zuora's service end dates are inclusive (billcycle stores them
exclusive).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt

from billcycle.errors import InvalidValue
from billcycle.ids import to_zuora_id
from billcycle.invoicing.queries import InvoiceView, ItemView
from billcycle.invoicing.repository import DocumentRow
from billcycle.ledger.models import LedgerEntry
from billcycle.money import from_minor
from billcycle.rating import ChargeType
from billcycle.zuora.schemas.base import (
    CamelRequest,
    CamelResponse,
    CommonResponse,
    WireAmount,
    WireDate,
    zuora_datetime,
)

_ONE_DAY = timedelta(days=1)


def _hex(value: int | None) -> str | None:
    return to_zuora_id(value) if value is not None else None


# -- requests --------------------------------------------------------------------------


class PostInvoiceRequest(CamelRequest):
    """zuora-sdk's PostAsyncInvoiceRequest."""

    invoice_date: WireDate | None = None


class WriteOffItem(CamelRequest):
    """zuora-sdk's CreditMemoItemFromWriteOffInvoice (the fields billcycle checks)."""

    invoice_item_id: Annotated[str, Field(min_length=1, max_length=64)]
    amount_without_tax: StrictInt | StrictFloat | None = None
    comment: Annotated[str, Field(max_length=255)] | None = None


class WriteOffInvoiceRequest(CamelRequest):
    """zuora-sdk's WriteOffInvoiceRequest.

    Tax and accounting options are accepted and have no effect: billcycle has no tax
    engine or general ledger yet.
    """

    comment: Annotated[str, Field(max_length=255)] | None = None
    amount: StrictInt | StrictFloat | None = None
    memo_date: WireDate | None = None
    reason_code: Annotated[str, Field(max_length=255)] | None = None
    items: list[WriteOffItem] | None = None
    tax_auto_calculation: StrictBool | None = None
    revenue_impacting: Literal["Yes", "No"] | None = None
    non_revenue_write_off_accounting_code: Annotated[str, Field(max_length=100)] | None = None


# Billing-document statuses zuora-sdk knows (BillingDocumentStatus): Zuora's wider wire
# vocabulary, of which billcycle's InvoiceStatus words are a part.
DocumentStatus = Literal[
    "Draft", "Posted", "Canceled", "CancelInProgress", "Generating", "PendingForTax", "Split"
]
SORTABLE_DOCUMENT_FIELDS = ("documentDate", "documentNumber", "documentType")


def parse_document_sort(value: str | None) -> list[tuple[str, bool]]:
    """Zuora's ``sort``: at most two ``[operator]field`` terms, comma-separated.

    As Zuora documents it: ``-`` sorts ascending, ``+`` (or no operator) descending. A raw
    ``+`` in a URL arrives as a space, which is read the same way. Default: documentDate
    descending. Returns ``(field, descending)`` pairs.
    """
    if value is None or not value.strip():
        return [("documentDate", True)]
    terms = value.split(",")
    if len(terms) > 2:
        raise InvalidValue(
            "Invalid value for sort: at most two sortable fields are allowed.",
            resource="billing_document",
            field="sort",
        )
    keys: list[tuple[str, bool]] = []
    for raw in terms:
        term = raw.lstrip(" ")
        descending = True
        if term[:1] == "-":
            descending, term = False, term[1:]
        elif term[:1] == "+":
            term = term[1:]
        term = term.strip()
        if term not in SORTABLE_DOCUMENT_FIELDS:
            raise InvalidValue(
                f"Invalid value for sort: '{raw.strip()}'. Sortable fields: "
                f"{', '.join(SORTABLE_DOCUMENT_FIELDS)}, each optionally preceded by - "
                "(ascending) or + (descending).",
                resource="billing_document",
                field="sort",
            )
        if any(field == term for field, _ in keys):
            raise InvalidValue(
                f"Invalid value for sort: '{term}' is given twice.",
                resource="billing_document",
                field="sort",
            )
        keys.append((term, descending))
    return keys


# -- responses -------------------------------------------------------------------------


class InvoiceResponse(CommonResponse):
    id: str
    account_id: str
    invoice_number: str
    invoice_date: date
    due_date: date
    target_date: date
    currency: str
    status: str
    amount: WireAmount
    amount_without_tax: WireAmount
    tax_amount: WireAmount
    tax_exempt_amount: WireAmount
    discount: WireAmount
    balance: WireAmount
    payment_amount: WireAmount
    credit_memo_amount: WireAmount
    refund_amount: WireAmount
    adjustment_amount: WireAmount
    credit_balance_adjustment_amount: WireAmount
    includes_one_time: bool
    includes_recurring: bool
    includes_usage: bool
    source: str
    source_type: str
    source_id: str | None = None
    bill_run_id: str | None = None
    comments: str | None = None
    auto_pay: bool | None = None
    payment_term: str | None = None
    bill_to_contact_id: str | None = None
    sold_to_contact_id: str | None = None
    posted_date: date | None = None
    last_email_sent_date: str | None = None
    transferred_to_accounting: str = "No"
    created_date: str | None = None
    updated_date: str | None = None


class InvoiceItemResponse(CamelResponse):
    id: str
    subscription_id: str | None = None
    subscription_name: str | None = None
    charge_id: str
    charge_name: str
    charge_type: str
    charge_description: str | None = None
    description: str | None = None
    charge_amount: WireAmount
    tax_amount: WireAmount
    balance: WireAmount
    quantity: WireAmount
    unit_price: WireAmount
    unit_of_measure: str | None = None
    service_start_date: date
    service_end_date: date
    charge_date: str | None = None
    product_name: str | None = None
    product_rate_plan_charge_id: str | None = None
    sku: str | None = None
    processing_type: str = "Charge"
    tax_mode: str = "TaxExclusive"


class InvoiceItemsResponse(CommonResponse):
    invoice_items: list[InvoiceItemResponse]
    next_page: str | None = None


class AsyncOperationResponse(CommonResponse):
    """Zuora answers posting and cancelling with a job; billcycle finishes at once."""

    id: str
    job_status: str = "Completed"


class WriteOffCreditMemo(CamelResponse):
    id: str


class WriteOffInvoiceResponse(CommonResponse):
    credit_memo: WriteOffCreditMemo


class BillingDocument(CamelResponse):
    id: str
    document_type: str = "Invoice"
    document_number: str
    document_date: date
    amount: WireAmount
    balance: WireAmount
    account_id: str
    status: str
    currency: str


class BillingDocumentsResponse(CommonResponse):
    documents: list[BillingDocument]
    next_page: str | None = None


# -- mapping ---------------------------------------------------------------------------


def invoice_response(view: InvoiceView) -> InvoiceResponse:
    invoice, totals, account = view.invoice, view.totals, view.account
    currency = invoice.currency

    def money(minor: int) -> Decimal:
        return from_minor(minor, currency)

    zero = money(0)
    return InvoiceResponse(
        id=to_zuora_id(invoice.id),
        account_id=to_zuora_id(invoice.account_id),
        invoice_number=invoice.invoice_number,
        invoice_date=invoice.invoice_date,
        due_date=invoice.due_date,
        target_date=invoice.target_date,
        currency=currency,
        status=invoice.status,
        amount=money(invoice.amount_minor),
        amount_without_tax=money(invoice.amount_minor - invoice.tax_amount_minor),
        tax_amount=money(invoice.tax_amount_minor),
        tax_exempt_amount=zero,
        discount=zero,
        balance=money(view.balance_minor),
        payment_amount=money(totals.payment_minor),
        # A Zuora write-off is a credit memo applied to the invoice.
        credit_memo_amount=money(totals.credit_memo_minor + totals.write_off_minor),
        # Refund entries raise the balance, so the ledger holds them negative.
        refund_amount=money(abs(totals.refund_minor)),
        adjustment_amount=zero,
        credit_balance_adjustment_amount=zero,
        includes_one_time=ChargeType.OneTime.value in view.charge_types,
        includes_recurring=ChargeType.Recurring.value in view.charge_types,
        includes_usage=ChargeType.Usage.value in view.charge_types,
        source=invoice.source,
        source_type="Subscription",
        bill_run_id=_hex(invoice.bill_run_id),
        comments=invoice.comments,
        auto_pay=account.auto_pay if account is not None else None,
        payment_term=account.payment_term if account is not None else None,
        bill_to_contact_id=_hex(account.bill_to_contact_id) if account is not None else None,
        sold_to_contact_id=_hex(account.sold_to_contact_id) if account is not None else None,
        posted_date=invoice.posted_at.date() if invoice.posted_at is not None else None,
        last_email_sent_date=zuora_datetime(invoice.emailed_at),
        created_date=zuora_datetime(invoice.created_at),
        updated_date=zuora_datetime(invoice.updated_at),
    )


def item_response(view: ItemView, currency: str, charge_date: str | None) -> InvoiceItemResponse:
    item = view.item
    return InvoiceItemResponse(
        id=to_zuora_id(item.id),
        subscription_id=_hex(item.subscription_id),
        subscription_name=item.subscription_number,
        charge_id=to_zuora_id(item.subscription_charge_id),
        charge_name=item.charge_name,
        charge_type=item.charge_type,
        charge_description=item.charge_description,
        description=item.charge_description,
        charge_amount=from_minor(item.amount_minor, currency),
        tax_amount=from_minor(0, currency),
        balance=from_minor(view.balance_minor, currency),
        quantity=item.quantity,
        unit_price=item.unit_price,
        unit_of_measure=item.uom,
        service_start_date=item.service_start,
        # Zuora's service end date is the last day of service.
        service_end_date=max(item.service_start, item.service_end - _ONE_DAY),
        charge_date=charge_date,
        product_name=item.product_name,
        product_rate_plan_charge_id=_hex(item.product_rate_plan_charge_id),
        sku=item.product_sku,
    )


def write_off_response(entry: LedgerEntry) -> WriteOffInvoiceResponse:
    return WriteOffInvoiceResponse(credit_memo=WriteOffCreditMemo(id=to_zuora_id(entry.id)))


def document_response(row: DocumentRow) -> BillingDocument:
    return BillingDocument(
        id=to_zuora_id(row.id),
        document_number=row.invoice_number,
        document_date=row.invoice_date,
        amount=from_minor(row.amount_minor, row.currency),
        balance=from_minor(row.balance_minor, row.currency),
        account_id=to_zuora_id(row.account_id),
        status=row.status,
        currency=row.currency,
    )
