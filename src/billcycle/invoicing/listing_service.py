"""Posted invoices as receivables: what is owed on each, its settlement status, and
whether an account has anything overdue. Read-only; the SQL is in
:mod:`billcycle.invoicing.listing`.

"Today" (for overdue) comes from the context's clock, so a test clock moves invoices
into and out of ``Overdue`` without waiting.
"""

from __future__ import annotations

from collections.abc import Sequence

from billcycle.accounts.models import Account
from billcycle.context import ServiceContext
from billcycle.errors import NotFound
from billcycle.invoicing import listing
from billcycle.invoicing import repository as invoice_repo
from billcycle.invoicing.listing import Condition, InvoiceField, SettlementPage, SettlementRow
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus

__all__ = [
    "account_invoices",
    "get_posted_invoice",
    "has_overdue_balance",
    "posted_invoice",
]


def _not_found(invoice_id: int) -> NotFound:
    return NotFound(f"Invoice {invoice_id} not found.", resource="invoice")


def posted_invoice(ctx: ServiceContext, invoice_id: int) -> SettlementRow:
    """A posted invoice of the tenant with its settlement figures; drafts and cancelled
    invoices are not receivables and are not found."""
    row = listing.posted_invoice(ctx.session, ctx.tenant_id, invoice_id, today=ctx.clock.today())
    if row is None:
        raise _not_found(invoice_id)
    return row


def get_posted_invoice(ctx: ServiceContext, invoice_id: int) -> Invoice:
    """The invoice itself, only if it is posted (what settlement entries apply to)."""
    invoice = invoice_repo.get_invoice(ctx.session, ctx.tenant_id, invoice_id)
    if invoice is None or invoice.status != InvoiceStatus.POSTED:
        raise _not_found(invoice_id)
    return invoice


def account_invoices(
    ctx: ServiceContext,
    account: Account,
    *,
    conditions: Sequence[Condition[InvoiceField]] = (),
    sort: InvoiceField = InvoiceField.POSTED_AT,
    descending: bool = True,
    offset: int = 0,
    limit: int = 20,
) -> SettlementPage:
    """A page of the account's posted invoices matching every condition, and the total.

    Ties on the sort key are broken by id in the same direction, so pages never overlap.
    """
    return listing.account_invoices(
        ctx.session,
        ctx.tenant_id,
        account.id,
        currency=account.currency,
        today=ctx.clock.today(),
        conditions=conditions,
        sort=sort,
        descending=descending,
        offset=offset,
        limit=limit,
    )


def has_overdue_balance(ctx: ServiceContext, account: Account) -> bool:
    """Whether the account owes on a posted invoice past its due date (poor standing)."""
    return listing.has_overdue_balance(
        ctx.session, ctx.tenant_id, account.id, today=ctx.clock.today()
    )
