"""Zuora's usage API: usage records through the object API (``/v1/object/usage``), the
usage file import (``POST /v1/usage`` and its status resource), an account's usage
(``GET /v1/usage/accounts/{account-key}``) and the rate detail of a billed usage item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from billcycle.accounts import service as accounts
from billcycle.errors import InvalidValue, MissingField, NotFound
from billcycle.ids import parse_zuora_id, require_zuora_id, to_zuora_id
from billcycle.usage import billing, imports, service
from billcycle.usage.models import USAGE, USAGE_IMPORT
from billcycle.zuora.deps import Ctx
from billcycle.zuora.paging import Page, PageNumber, next_page_url
from billcycle.zuora.routes.objects import ObjectId, ObjectRoute
from billcycle.zuora.schemas import usage as schemas
from billcycle.zuora.schemas.catalog import ProxyCreateOrModifyResponse, ProxyDeleteResponse

object_router = APIRouter(route_class=ObjectRoute, tags=["Object API: usage"])
router = APIRouter(tags=["Usage"])

# zuora-sdk caps pageSize at 40 for an account's usage.
MAX_USAGE_PAGE_SIZE = 40


def usage_page(
    page: PageNumber = 1,
    page_size: Annotated[
        int, Query(alias="pageSize", ge=1, le=MAX_USAGE_PAGE_SIZE, description="Items per page")
    ] = 20,
) -> Page:
    return Page(number=page, size=page_size)


@object_router.post(
    "/v1/object/usage", response_model=ProxyCreateOrModifyResponse, summary="Create a usage record"
)
def create_usage(body: schemas.UsageCreateRequest, ctx: Ctx) -> ProxyCreateOrModifyResponse:
    """``AccountId`` or ``AccountNumber``; ``ChargeNumber`` (or the account's only usage
    charge in this ``UOM``); ``Quantity`` >= 0 in a unit of measure the tenant defines;
    ``StartDateTime`` inside the charge's dates and not on a billed period."""
    account_id = None
    if body.account_id is not None:
        account_id = parse_zuora_id(body.account_id)
        if account_id is None:
            raise NotFound(f"Account {body.account_id} does not exist.", resource=USAGE)
    record = service.create_usage(ctx, body.to_input(account_id))
    return ProxyCreateOrModifyResponse(id=to_zuora_id(record.id))


@object_router.get(
    "/v1/object/usage/{id}",
    response_model=schemas.ObjectUsage,
    response_model_exclude_none=True,
    summary="Retrieve a usage record",
)
def get_usage(object_id: ObjectId, ctx: Ctx) -> schemas.ObjectUsage:
    record = service.get_usage(ctx, require_zuora_id(object_id, USAGE))
    return schemas.object_usage(service.describe(ctx, [record])[0])


@object_router.put(
    "/v1/object/usage/{id}",
    response_model=ProxyCreateOrModifyResponse,
    summary="Update a usage record (not once its period is billed)",
)
def update_usage(
    object_id: ObjectId, body: schemas.UsageUpdateRequest, ctx: Ctx
) -> ProxyCreateOrModifyResponse:
    record = service.update_usage(ctx, require_zuora_id(object_id, USAGE), body.to_changes())
    return ProxyCreateOrModifyResponse(id=to_zuora_id(record.id))


@object_router.delete(
    "/v1/object/usage/{id}",
    response_model=ProxyDeleteResponse,
    summary="Delete a usage record (not once its period is billed)",
)
def delete_usage(object_id: ObjectId, ctx: Ctx) -> ProxyDeleteResponse:
    record_id = require_zuora_id(object_id, USAGE)
    service.delete_usage(ctx, record_id)
    return ProxyDeleteResponse(id=to_zuora_id(record_id))


@dataclass(frozen=True)
class _Upload:
    file_name: str
    pieces: list[bytes]


async def _upload(request: Request) -> _Upload:
    """The multipart body's file part, read in pieces (the body is already capped by the
    server's body limit: a larger upload was answered 413 before it was read)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise InvalidValue("Upload the usage file as multipart/form-data with a 'file' part.")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except (MultiPartException, HTTPException) as exc:
        raise InvalidValue("The multipart body is malformed.") from exc
    try:
        upload = next((v for _k, v in form.multi_items() if isinstance(v, UploadFile)), None)
        if upload is None:
            raise MissingField("A 'file' part with the usage CSV is required.", field="file")
        pieces: list[bytes] = []
        while piece := await upload.read(imports.PART_BYTES):
            pieces.append(piece)
        return _Upload(upload.filename or "", pieces)
    finally:
        await form.close()


@router.post(
    "/v1/usage",
    response_model=schemas.UploadResponse,
    summary="Upload a usage file (CSV)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
def upload_usage(
    request: Request, ctx: Ctx, upload: Annotated[_Upload, Depends(_upload)]
) -> schemas.UploadResponse:
    """Stores the file and answers at once; a worker validates and loads it. The import
    is atomic (a file with a bad row loads nothing, as Zuora documents); its status
    resource (the ``checkImportStatus`` path) says Pending, Processing, Completed or
    Failed, with each bad row's line number and reason. A body past the server's body
    limit is refused with 413 before it is read."""
    job = imports.start_import(ctx, upload.file_name, upload.pieces)
    root = request.scope.get("root_path", "")
    return schemas.UploadResponse(
        check_import_status=f"{root}/v1/usage/{to_zuora_id(job.id)}/status", size=job.size
    )


@router.get(
    "/v1/usage/{import_id}/status",
    response_model=schemas.ImportStatusResponse,
    response_model_exclude_none=True,
    summary="Retrieve the status of a usage import",
)
def import_status(import_id: str, ctx: Ctx) -> schemas.ImportStatusResponse:
    job = imports.get_import(ctx, require_zuora_id(import_id, USAGE_IMPORT))
    return schemas.import_status(job, imports.import_errors(job))


@router.get(
    "/v1/usage/accounts/{account_key}",
    response_model=schemas.UsageListResponse,
    response_model_exclude_none=True,
    summary="List an account's usage records",
)
def account_usage(
    account_key: str,
    request: Request,
    ctx: Ctx,
    page: Annotated[Page, Depends(usage_page)],
) -> schemas.UsageListResponse:
    """The account's usage records, oldest first."""
    account = accounts.find_account(ctx, account_id=parse_zuora_id(account_key), number=account_key)
    views, more = service.account_usage(ctx, account.id, page=page.number, page_size=page.size)
    return schemas.UsageListResponse(
        usage=[schemas.usage_item(view) for view in views],
        next_page=next_page_url(request, page, more),
    )


@router.get(
    "/v1/invoices/invoice-item/{invoice_item_id}/usage-rate-detail",
    response_model=schemas.RateDetailResponse,
    summary="Retrieve the rate detail of a usage invoice item",
)
def usage_rate_detail(invoice_item_id: str, ctx: Ctx) -> schemas.RateDetailResponse:
    item_id = require_zuora_id(invoice_item_id, "invoice item")
    return schemas.rate_detail_response(billing.rate_detail(ctx, item_id))
