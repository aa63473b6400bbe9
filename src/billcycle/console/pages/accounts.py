"""Accounts: search by name, number or email; an account's page with its subscriptions,
invoices, payments, balance, standing and collections history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from billcycle.accounts import service as accounts
from billcycle.collections import service as collections
from billcycle.console.pages.common import PAGE_SIZE, CurrentViewer, read, sorting, trail
from billcycle.console.render import page
from billcycle.context import ServiceContext
from billcycle.reports import service as reports

router = APIRouter(include_in_schema=False)


@router.get("/accounts")
def list_accounts(
    request: Request,
    viewer: CurrentViewer,
    q: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    after: str | None = None,
) -> Response:
    order = sorting(sort, "number", descending=False)
    found = read(
        request,
        viewer,
        lambda ctx: reports.accounts(
            ctx, query=q, status=status, sort=order, after=after, limit=PAGE_SIZE
        ),
    )
    return page(
        request,
        "accounts.html.j2",
        title="Accounts",
        accounts=found,
        q=q or "",
        sort=sort or "number",
    )


@router.get("/accounts/{account_id}")
def account_page(request: Request, viewer: CurrentViewer, account_id: int) -> Response:
    def work(ctx: ServiceContext) -> dict[str, Any]:
        account = accounts.require_account(ctx, account_id)
        return {
            "summary": accounts.account_summary(ctx, account),
            "standing": collections.account_collections(ctx, account.id),
            "history": reports.collection_history(ctx, account.id),
            "trail": trail(ctx, "account", account.id),
        }

    values = read(request, viewer, work)
    account = values["summary"].account
    return page(
        request, "account.html.j2", title=f"{account.name} ({account.account_number})", **values
    )
