"""``/v1/tenants/{tenant_id}/api-keys``: a tenant's Fusebill-dialect API keys."""

from __future__ import annotations

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from billcycle.admin.deps import Ctx
from billcycle.admin.paging import PageParams, paginate
from billcycle.admin.schemas.common import PROBLEM_RESPONSES, ListPage
from billcycle.admin.schemas.credentials import ApiKeyOut, ApiKeySecret
from billcycle.tenancy import management

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}/api-keys", tags=["API keys"], responses=PROBLEM_RESPONSES
)

TenantId = Path(ge=1, le=2**63 - 1, description="The tenant's id")
KeyId = Path(ge=1, le=2**63 - 1, description="The API key's id")


@router.post("", status_code=201, response_model=ApiKeySecret, summary="Create an API key")
def create_key(
    ctx: Ctx, request: Request, response: Response, tenant_id: int = TenantId
) -> ApiKeySecret:
    """The key is in this answer only."""
    new = management.create_api_key(ctx.session, ctx.clock, tenant_id)
    response.headers["Location"] = str(
        request.url_for("get_key", tenant_id=tenant_id, key=new.key.id).path
    )
    return ApiKeySecret.made(new)


@router.get("", response_model=ListPage[ApiKeyOut], summary="List a tenant's API keys")
def list_keys(
    ctx: Ctx, page: PageParams, request: Request, response: Response, tenant_id: int = TenantId
) -> ListPage[ApiKeyOut]:
    rows = management.list_api_keys(ctx.session, tenant_id, page.after, page.fetch)
    shown = paginate(request, response, page, rows, lambda k: k.id)
    return ListPage[ApiKeyOut](data=[ApiKeyOut.of(k) for k in shown.items], next=shown.next)


@router.get("/{key}", response_model=ApiKeyOut, summary="Get an API key")
def get_key(ctx: Ctx, tenant_id: int = TenantId, key: int = KeyId) -> ApiKeyOut:
    return ApiKeyOut.of(management.get_api_key(ctx.session, tenant_id, key))


@router.post("/{key}/rotate", response_model=ApiKeySecret, summary="Rotate an API key")
def rotate_key(ctx: Ctx, tenant_id: int = TenantId, key: int = KeyId) -> ApiKeySecret:
    """A new key (in this answer only) under the same id; the old key is refused from now
    on."""
    return ApiKeySecret.made(management.rotate_api_key(ctx.session, tenant_id, key))


@router.delete("/{key}", status_code=204, summary="Delete an API key")
def delete_key(ctx: Ctx, tenant_id: int = TenantId, key: int = KeyId) -> Response:
    management.delete_api_key(ctx.session, tenant_id, key)
    return Response(status_code=204)
