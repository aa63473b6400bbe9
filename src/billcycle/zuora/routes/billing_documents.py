"""Zuora routes: ``GET /v1/billing-documents`` (an account's invoices, memos later)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request

from billcycle.errors import InvalidValue, MissingField, NotFound
from billcycle.ids import parse_zuora_id
from billcycle.invoicing import queries
from billcycle.zuora.deps import Ctx
from billcycle.zuora.paging import Page, PageNumber, next_page_url
from billcycle.zuora.schemas import invoices as schemas
from billcycle.zuora.schemas.base import WireDate

router = APIRouter(prefix="/v1/billing-documents", tags=["Billing Documents"])

# zuora-sdk caps pageSize at 40 for billing documents.
MAX_DOCUMENTS_PAGE_SIZE = 40


def document_page(
    page: PageNumber = 1,
    page_size: Annotated[
        int,
        Query(alias="pageSize", ge=1, le=MAX_DOCUMENTS_PAGE_SIZE, description="Items per page"),
    ] = 20,
) -> Page:
    return Page(number=page, size=page_size)


@router.get(
    "",
    response_model=schemas.BillingDocumentsResponse,
    response_model_exclude_none=True,
    summary="List billing documents for an account",
)
def get_billing_documents(
    request: Request,
    ctx: Ctx,
    page: Annotated[Page, Depends(document_page)],
    account_id: Annotated[str | None, Query(alias="accountId")] = None,
    account_number: Annotated[str | None, Query(alias="accountNumber")] = None,
    document_date: Annotated[WireDate | None, Query(alias="documentDate")] = None,
    status: Annotated[schemas.DocumentStatus | None, Query()] = None,
    sort: Annotated[
        str | None,
        Query(
            description="At most two of documentDate, documentNumber, documentType; "
            "- ascending, + or nothing descending (as Zuora documents it)."
        ),
    ] = None,
) -> schemas.BillingDocumentsResponse:
    """An account's billing documents, newest first unless ``sort`` says otherwise."""
    if account_id is None and account_number is None:
        raise MissingField(
            "Missing query parameter: accountId or accountNumber is required.",
            resource="billing_document",
        )
    sort_keys = schemas.parse_document_sort(sort)
    if account_id is not None:
        parsed = parse_zuora_id(account_id.strip())
        if parsed is None:
            raise NotFound(f"Account {account_id} not found.", resource="account")
        account = queries.find_account(ctx, account_id=parsed, number=None)
        if account_number is not None and account_number.strip() != account.account_number:
            raise InvalidValue(
                "accountId and accountNumber name different accounts.",
                resource="billing_document",
            )
    else:
        account = queries.find_account(ctx, account_id=None, number=(account_number or "").strip())
    rows = queries.billing_documents(
        ctx,
        account,
        status=status,
        document_date=document_date,
        sort=sort_keys,
        offset=page.offset,
        limit=page.size + 1,
    )
    return schemas.BillingDocumentsResponse(
        documents=[schemas.document_response(row) for row in rows[: page.size]],
        next_page=next_page_url(request, page, len(rows) > page.size),
    )
