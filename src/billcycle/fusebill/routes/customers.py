"""Fusebill routes: ``/v1/customers/{id}`` and ``/v1/customers/{id}/invoices``.

A Fusebill customer is a billcycle account, shown with its integer id. Its
``accountStatus`` and ``status`` are driven by the collections policy (``collections/``):
``PoorStanding`` while it owes on a posted invoice past its due date, ``Good`` otherwise,
``Collection`` when flagged for manual collection; ``status`` ``Suspended`` while
collections has it suspended.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from billcycle.accounts import service as accounts
from billcycle.accounts.models import Account
from billcycle.collections import service as collections
from billcycle.context import ServiceContext
from billcycle.errors import NotFound
from billcycle.fusebill.deps import Ctx
from billcycle.fusebill.paging import PageParams, set_paging_headers
from billcycle.fusebill.query import parse_id, parse_query, parse_sort
from billcycle.fusebill.schemas import customers as schemas
from billcycle.fusebill.schemas.customers import resource_uri
from billcycle.fusebill.schemas.invoices import (
    DEFAULT_SORT,
    INVOICE_QUERY_FIELDS,
    INVOICE_SORT_FIELDS,
    InvoiceResponse,
    invoice_response,
)
from billcycle.invoicing import listing_service

router = APIRouter(tags=["Customers"])


def customer_of(ctx: ServiceContext, customer_id: str) -> Account:
    """The tenant's account a Fusebill customer id in a path names (404 otherwise)."""
    account_id = parse_id(customer_id, "customer")
    try:
        return accounts.require_account(ctx, account_id)
    except NotFound:
        raise NotFound(f"Customer {account_id} not found.", resource="account") from None


@router.get(
    "/v1/customers/{customer_id}",
    response_model=schemas.CustomerResponse,
    summary="Read a customer",
)
def get_customer(customer_id: str, request: Request, ctx: Ctx) -> schemas.CustomerResponse:
    """The customer with its AR balance (what its posted invoices still owe) and standing."""
    account = customer_of(ctx, customer_id)
    bill_to, _ = accounts.contacts_of(ctx, account)
    state = collections.account_collections(ctx, account.id)
    return schemas.customer_response(
        account,
        bill_to,
        accounts.account_metrics(ctx, account),
        standing=state.standing,
        suspended=state.suspended,
        uri=resource_uri(request, "customers", account.id),
    )


@router.get(
    "/v1/customers/{customer_id}/invoices",
    response_model=list[InvoiceResponse],
    summary="List a customer's invoices",
)
def list_customer_invoices(
    customer_id: str,
    request: Request,
    response: Response,
    ctx: Ctx,
    page: PageParams,
    query: Annotated[
        str | None,
        Query(
            description="Filter: field:value;field2:value2 (* wildcard, a,b sets, "
            "lo|hi ranges, [empty]). Fields: "
            + ", ".join(spec.name for spec in INVOICE_QUERY_FIELDS),
        ),
    ] = None,
) -> list[InvoiceResponse]:
    """The customer's posted invoices, a page at a time (paging in the ``X-*`` headers).

    Sortable on ``sortExpression`` (default postedTimestamp) in ``sortOrder``.
    """
    sort_name, sort_field = parse_sort(page.sort_expression, INVOICE_SORT_FIELDS, DEFAULT_SORT)
    conditions = parse_query(query, INVOICE_QUERY_FIELDS)
    account = customer_of(ctx, customer_id)
    found = listing_service.account_invoices(
        ctx,
        account,
        conditions=conditions,
        sort=sort_field,
        descending=page.sort_order == "Descending",
        offset=page.offset,
        limit=page.size,
    )
    set_paging_headers(response, page, found.total, sort_name)
    return [invoice_response(row, resource_uri(request, "invoices", row.id)) for row in found.rows]
