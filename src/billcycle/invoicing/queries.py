"""Read models of invoices for the dialects: an invoice with its derived figures, its
items with per-item balances, an account's billing documents.

Everything here reads; the figures the ledger owns (balance, totals per entry type) come
from :mod:`billcycle.ledger.service` so both dialects show the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from billcycle.accounts.models import Account
from billcycle.accounts.repository import find_account_by_key, get_account
from billcycle.context import ServiceContext
from billcycle.errors import NotFound
from billcycle.invoicing import repository as repo
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.repository import DocumentRow, ItemRow
from billcycle.ledger import service as ledger
from billcycle.ledger.service import AppliedTotals


@dataclass(frozen=True, slots=True)
class InvoiceView:
    invoice: Invoice
    balance_minor: int
    totals: AppliedTotals
    account: Account | None
    charge_types: frozenset[str]


def invoice_view(ctx: ServiceContext, invoice: Invoice) -> InvoiceView:
    session, tenant_id = ctx.session, ctx.tenant_id
    return InvoiceView(
        invoice=invoice,
        balance_minor=ledger.invoice_balance(session, tenant_id, invoice.id),
        totals=ledger.applied_totals_by_type(session, tenant_id, [invoice.id])[invoice.id],
        account=get_account(session, tenant_id, invoice.account_id),
        charge_types=frozenset(repo.charge_types(session, tenant_id, invoice.id)),
    )


@dataclass(frozen=True, slots=True)
class ItemView:
    item: ItemRow
    balance_minor: int


def item_balances(
    amounts: Sequence[tuple[int, int]], amount_minor: int, balance_minor: int
) -> dict[int, int]:
    """Spread what the ledger applied to an invoice over its items, oldest first.

    The ledger records amounts per invoice, not per item. A settled invoice (balance
    zero, e.g. written off) has every item at zero, as in Zuora; otherwise positive items
    are settled in order and credit (negative) items keep their amount, so the item
    balances always add up to the invoice balance.
    """
    if balance_minor == 0:
        return {item_id: 0 for item_id, _ in amounts}
    remaining = amount_minor - balance_minor
    balances: dict[int, int] = {}
    for item_id, amount in amounts:
        if amount > 0 and remaining > 0:
            settled = min(amount, remaining)
            remaining -= settled
            balances[item_id] = amount - settled
        else:
            balances[item_id] = amount
    return balances


def invoice_items(
    ctx: ServiceContext, invoice: Invoice, *, offset: int, limit: int
) -> list[ItemView]:
    session, tenant_id = ctx.session, ctx.tenant_id
    rows = repo.items_page(session, tenant_id, invoice.id, offset=offset, limit=limit)
    if not rows:
        return []
    balance = ledger.invoice_balance(session, tenant_id, invoice.id)
    amounts = repo.item_amounts(session, tenant_id, invoice.id)
    balances = item_balances(amounts, invoice.amount_minor, balance)
    return [
        ItemView(item=row, balance_minor=balances.get(row.id, row.amount_minor)) for row in rows
    ]


def find_account(ctx: ServiceContext, *, account_id: int | None, number: str | None) -> Account:
    """The account named by id or by number (an id that does not exist is not found)."""
    account: Account | None = None
    if account_id is not None:
        account = get_account(ctx.session, ctx.tenant_id, account_id)
    elif number is not None:
        account = find_account_by_key(ctx.session, ctx.tenant_id, account_id=None, number=number)
    if account is None:
        raise NotFound(f"Account {number or account_id} not found.", resource="account")
    return account


def billing_documents(
    ctx: ServiceContext,
    account: Account,
    *,
    status: str | None = None,
    document_date: date | None = None,
    sort: Sequence[tuple[str, bool]] = (("documentDate", True),),
    offset: int = 0,
    limit: int = 20,
) -> list[DocumentRow]:
    """A page of the account's billing documents (its invoices, until memos exist).

    ``sort``: ``(field, descending)`` pairs over ``documentDate``, ``documentNumber`` and
    ``documentType``.
    """
    unknown = [field for field, _ in sort if field not in repo.DOCUMENT_SORT_COLUMNS]
    if unknown:
        raise ValueError(f"unsortable fields: {unknown}")
    return repo.account_documents(
        ctx.session,
        ctx.tenant_id,
        account.id,
        status=status,
        document_date=document_date,
        sort=sort,
        offset=offset,
        limit=limit,
    )
