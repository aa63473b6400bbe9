"""Invoices built through the services and the Zuora API, and PDF text, for the document
tests."""

from __future__ import annotations

import io
from datetime import date

from pypdf import PdfReader
from sqlalchemy import func, select

from billcycle.accounts.inputs import AccountChanges, ContactChanges
from billcycle.accounts.service import require_account, update_account
from billcycle.documents.models import InvoiceFile, StoredFile
from billcycle.invoicing.generator import GenerationOptions, generate_invoices
from billcycle.invoicing.service import get_invoice, post_invoices
from billcycle.ledger.models import EntryType
from billcycle.ledger.service import apply_to_invoice
from billcycle.runtime import Runtime
from tests.notifications.helpers import subscribe
from tests.subscriptions.factories import ChargeSpec, TierSpec, add_account, add_rate_plan
from tests.support.api import Api


def charge(price: str, currency: str = "USD", name: str = "Monthly fee") -> ChargeSpec:
    return ChargeSpec(name=name, prices={currency: [TierSpec(price, price_format="Flat Fee")]})


def make_invoice(
    api: Api,
    runtime: Runtime,
    *,
    currency: str = "USD",
    charges: tuple[ChargeSpec, ...] | None = None,
    post: bool = True,
    target: date = date(2026, 2, 1),
) -> int:
    """A new account (bill-to Jane Doe, 2 Sample Road, Shelbyville) in ``currency``,
    subscribed from 2026-01-15 to ``charges`` (one $30/month fee by default), invoiced
    up to ``target`` and, unless ``post=False``, posted."""
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        account = add_account(ctx.session, tenant_id, currency=currency)
        plan = add_rate_plan(
            ctx.session,
            tenant_id,
            *(charges or (charge("30", currency),)),
            sku=f"SKU-{account.account_number}",
        )
        update_account(
            ctx,
            require_account(ctx, account.id),
            AccountChanges(
                bill_to_contact=ContactChanges(
                    first_name="Jane",
                    last_name="Doe",
                    work_email="jane@example.com",
                    address1="2 Sample Road",
                    city="Shelbyville",
                    postal_code="12345",
                    country="United States",
                ),
            ),
        )
    subscribe(api, account.account_number, plan.rate_plan_key)
    with runtime.service_context(tenant_id) as ctx:
        result = generate_invoices(
            ctx, [account.id], GenerationOptions(target_date=target, invoice_date=target)
        )
        assert result.failures == {}
        [invoice_id] = result.invoice_ids
        if post:
            assert post_invoices(ctx, [invoice_id]) == [invoice_id]
    return invoice_id


def pay(runtime: Runtime, tenant_id: int, invoice_id: int, amount_minor: int) -> None:
    with runtime.service_context(tenant_id) as ctx:
        apply_to_invoice(
            ctx,
            get_invoice(ctx, invoice_id),
            EntryType.PAYMENT,
            amount_minor,
            reference=None,
            comment=None,
            source="API",
        )


def pdf_text(content: bytes) -> str:
    """The text of every page; fails unless ``content`` is a readable PDF."""
    assert content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) >= 1
    return "\n".join(page.extract_text() for page in reader.pages)


def stored_counts(runtime: Runtime, tenant_id: int) -> tuple[int, int]:
    """(invoice file versions, stored files) of the tenant."""
    with runtime.service_context(tenant_id) as ctx:
        versions = ctx.session.scalar(
            select(func.count()).select_from(InvoiceFile).where(InvoiceFile.tenant_id == tenant_id)
        )
        files = ctx.session.scalar(
            select(func.count()).select_from(StoredFile).where(StoredFile.tenant_id == tenant_id)
        )
    return int(versions or 0), int(files or 0)
