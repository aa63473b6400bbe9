# The SDK types nearly every field Optional and leaves its constructors untyped.
# mypy: disable-error-code="union-attr, no-untyped-call, arg-type, index"
"""zuora-sdk, unchanged, against a live billcycle server: invoices and billing documents."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from zuora_sdk.exceptions import ApiException
from zuora_sdk.models.post_async_invoice_request import PostAsyncInvoiceRequest
from zuora_sdk.models.write_off_invoice_request import WriteOffInvoiceRequest
from zuora_sdk.zuora_client import ZuoraClient

from billcycle.ids import to_zuora_id
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.invoicing.factories import make_account, make_invoice, make_subscription, monthly
from tests.support.zuora_sdk import make_sdk_client

JAN = date(2026, 1, 1)
FEB = date(2026, 2, 1)


@pytest.fixture
def client(live_url: str, tenant: NewTenant) -> ZuoraClient:
    return make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)


def test_invoice_lifecycle_through_the_sdk(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx, payment_term="Net 30"))
        invoice = make_invoice(
            ctx, billed.account, [monthly(billed.charge, JAN), monthly(billed.charge, FEB, "49.99")]
        )
        spare = make_subscription(ctx, billed.account)
        other = make_invoice(ctx, billed.account, [monthly(spare.charge, JAN, "5")])
        invoice_hex, number = to_zuora_id(invoice.id), invoice.invoice_number
        other_number = other.invoice_number
        account_hex, account_number = to_zuora_id(billed.account.id), billed.account.account_number
    invoices = client.invoices_api()

    got = invoices.get_invoice(number)
    assert (got.success, got.id, got.invoice_number, got.status) == (
        True,
        invoice_hex,
        number,
        "Draft",
    )
    assert Decimal(str(got.amount)) == Decimal("149.99")
    assert Decimal(str(got.balance)) == Decimal("149.99")
    assert (got.account_id, got.payment_term, got.source) == (account_hex, "Net 30", "BillRun")

    page = invoices.get_invoice_items(invoice_hex, page_size=1)
    assert page.success is True
    assert len(page.invoice_items) == 1
    assert page.next_page is not None
    item = page.invoice_items[0]
    assert (str(item.service_start_date), str(item.service_end_date)) == (
        "2026-01-01",
        "2026-01-31",
    )
    assert item.charge_name == "Monthly fee"
    rest = invoices.get_invoice_items(invoice_hex, page_size=1, page=2)
    assert Decimal(str(rest.invoice_items[0].charge_amount)) == Decimal("49.99")
    assert rest.next_page is None

    posted = invoices.post_invoice(
        invoice_hex, PostAsyncInvoiceRequest(invoice_date=date(2026, 1, 5))
    )
    assert (posted.success, posted.id) == (True, invoice_hex)
    after = invoices.get_invoice(invoice_hex)
    assert (after.status, str(after.invoice_date), str(after.due_date)) == (
        "Posted",
        "2026-01-05",
        "2026-02-04",
    )

    written = invoices.write_off_invoice(number, WriteOffInvoiceRequest(comment="uncollectable"))
    assert written.success is True
    assert len(written.credit_memo.id) == 32
    settled = invoices.get_invoice(number)
    assert Decimal(str(settled.balance)) == 0
    assert Decimal(str(settled.credit_memo_amount)) == Decimal("149.99")

    canceled = invoices.cancel_invoice(other_number)
    assert canceled.success is True
    assert invoices.get_invoice(other_number).status == "Canceled"

    documents = client.billing_documents_api().get_billing_documents(
        account_number=account_number, sort="-documentDate,-documentNumber", page_size=10
    )
    assert documents.success is True
    # Oldest first ("-" is ascending in Zuora): the cancelled one is dated Jan 1, the
    # posted one was re-dated to Jan 5.
    assert [d.document_number for d in documents.documents] == [other_number, number]
    cancelled, posted_doc = documents.documents
    assert (cancelled.status, str(cancelled.document_date)) == ("Canceled", "2026-01-01")
    assert (posted_doc.document_type, posted_doc.status, posted_doc.account_id) == (
        "Invoice",
        "Posted",
        account_hex,
    )
    assert str(posted_doc.document_date) == "2026-01-05"
    assert Decimal(str(posted_doc.amount)) == Decimal("149.99")
    assert Decimal(str(posted_doc.balance)) == 0

    # (zuora-sdk 3.21 cannot send ``status``: it validates it as a str, then calls
    # ``status.value`` on it. The HTTP tests cover that filter.)
    dated = client.billing_documents_api().get_billing_documents(
        account_id=account_hex, document_date=date(2026, 1, 5)
    )
    assert [d.document_number for d in dated.documents] == [number]


def test_sdk_errors_for_bad_requests(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        number = make_invoice(
            ctx, billed.account, [monthly(billed.charge, JAN)], status="Posted"
        ).invoice_number
    invoices = client.invoices_api()
    with pytest.raises(ApiException) as missing:
        invoices.get_invoice("INV99999999")
    assert missing.value.status == 404
    with pytest.raises(ApiException) as posted:
        invoices.cancel_invoice(number)
    assert posted.value.status == 400
    assert "draft" in str(posted.value.body)
