"""``/v1/tenants/{tenant_id}/oauth-clients``: a tenant's Zuora-dialect OAuth clients."""

from __future__ import annotations

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from billcycle.admin.deps import Ctx
from billcycle.admin.paging import PageParams, paginate
from billcycle.admin.schemas.common import PROBLEM_RESPONSES, ListPage
from billcycle.admin.schemas.credentials import OAuthClientOut, OAuthClientSecret
from billcycle.tenancy import management

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}/oauth-clients",
    tags=["OAuth clients"],
    responses=PROBLEM_RESPONSES,
)

TenantId = Path(ge=1, le=2**63 - 1, description="The tenant's id")
ClientId = Path(ge=1, le=2**63 - 1, description="The OAuth client's id (not its client_id)")


@router.post(
    "", status_code=201, response_model=OAuthClientSecret, summary="Create an OAuth client"
)
def create_client(
    ctx: Ctx, request: Request, response: Response, tenant_id: int = TenantId
) -> OAuthClientSecret:
    """The secret is in this answer only."""
    new = management.create_oauth_client(ctx.session, ctx.clock, tenant_id)
    response.headers["Location"] = str(
        request.url_for("get_client", tenant_id=tenant_id, client=new.client.id).path
    )
    return OAuthClientSecret.made(new)


@router.get("", response_model=ListPage[OAuthClientOut], summary="List a tenant's OAuth clients")
def list_clients(
    ctx: Ctx, page: PageParams, request: Request, response: Response, tenant_id: int = TenantId
) -> ListPage[OAuthClientOut]:
    rows = management.list_oauth_clients(ctx.session, tenant_id, page.after, page.fetch)
    shown = paginate(request, response, page, rows, lambda c: c.id)
    return ListPage[OAuthClientOut](
        data=[OAuthClientOut.of(c) for c in shown.items], next=shown.next
    )


@router.get("/{client}", response_model=OAuthClientOut, summary="Get an OAuth client")
def get_client(ctx: Ctx, tenant_id: int = TenantId, client: int = ClientId) -> OAuthClientOut:
    return OAuthClientOut.of(management.get_oauth_client(ctx.session, tenant_id, client))


@router.post(
    "/{client}/rotate", response_model=OAuthClientSecret, summary="Rotate an OAuth client's secret"
)
def rotate_client(ctx: Ctx, tenant_id: int = TenantId, client: int = ClientId) -> OAuthClientSecret:
    """Same `client_id`, new secret (in this answer only); the old secret is refused from
    now on. Access tokens already issued stay valid until they expire."""
    return OAuthClientSecret.made(management.rotate_oauth_client(ctx.session, tenant_id, client))


@router.delete("/{client}", status_code=204, summary="Delete an OAuth client")
def delete_client(ctx: Ctx, tenant_id: int = TenantId, client: int = ClientId) -> Response:
    """The client can no longer get tokens; tokens already issued stay valid until they
    expire."""
    management.delete_oauth_client(ctx.session, tenant_id, client)
    return Response(status_code=204)
