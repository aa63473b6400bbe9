"""Pages of payments and refunds, filtered and sorted in the database.

A page is read with one row more than asked, so the caller knows whether a next page
exists without counting; a payment page's amounts come from one ledger query.
"""

from __future__ import annotations

from dataclasses import replace

from billcycle.context import ServiceContext
from billcycle.payments import repository as repo
from billcycle.payments.inputs import PaymentQuery, RefundQuery
from billcycle.payments.models import Refund
from billcycle.payments.views import PaymentView, amounts_of


def payments_page(ctx: ServiceContext, query: PaymentQuery) -> tuple[list[PaymentView], bool]:
    """The page's payments with their amounts, and whether more follow."""
    rows = repo.page_of_payment_rows(
        ctx.session, ctx.tenant_id, replace(query, limit=query.limit + 1)
    )
    more = len(rows) > query.limit
    page = rows[: query.limit]
    amounts = amounts_of(ctx.session, page)
    return [PaymentView(payment, amounts[payment.id], [], []) for payment in page], more


def refunds_page(ctx: ServiceContext, query: RefundQuery) -> tuple[list[Refund], bool]:
    """The page's refunds, and whether more follow."""
    rows = repo.page_of_refund_rows(
        ctx.session, ctx.tenant_id, replace(query, limit=query.limit + 1)
    )
    return rows[: query.limit], len(rows) > query.limit


def payment_numbers(ctx: ServiceContext, payment_ids: list[int]) -> dict[int, str]:
    """The numbers of the payments behind a page of refunds, in one query."""
    return repo.payment_numbers(ctx.session, ctx.tenant_id, payment_ids)
