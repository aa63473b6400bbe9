"""``/v1/tenants``: create, list, get, update and delete tenants."""

from __future__ import annotations

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from billcycle.admin.deps import Ctx
from billcycle.admin.paging import PageParams, paginate
from billcycle.admin.schemas.common import PROBLEM_RESPONSES, ListPage, problems
from billcycle.admin.schemas.tenants import (
    FirstCredentials,
    TenantCreate,
    TenantCreated,
    TenantOut,
    TenantUpdate,
)
from billcycle.tenancy import management
from billcycle.tenancy import service as tenancy

router = APIRouter(prefix="/v1/tenants", tags=["Tenants"], responses=PROBLEM_RESPONSES)

TenantId = Path(ge=1, le=2**63 - 1, description="The tenant's id")


@router.post("", status_code=201, response_model=TenantCreated, summary="Create a tenant")
def create_tenant(
    body: TenantCreate, ctx: Ctx, request: Request, response: Response
) -> TenantCreated:
    """As `billcycle tenant create`: the tenant with a first OAuth client and API key,
    whose secrets are shown in this answer only."""
    created = tenancy.create_tenant(
        ctx.session,
        ctx.clock,
        body.name,
        bulk_jobs=body.bulk_jobs_enabled,
        bulk_job_record_limit=body.bulk_job_record_limit,
        sandbox=body.sandbox,
    )
    tenant = management.get_tenant(ctx.session, created.tenant_id)
    response.headers["Location"] = str(request.url_for("get_tenant", tenant_id=tenant.id).path)
    return TenantCreated(
        **TenantOut.of(tenant).model_dump(), credentials=FirstCredentials.of(created)
    )


@router.get("", response_model=ListPage[TenantOut], summary="List tenants")
def list_tenants(
    ctx: Ctx, page: PageParams, request: Request, response: Response
) -> ListPage[TenantOut]:
    rows = management.list_tenants(ctx.session, page.after, page.fetch)
    shown = paginate(request, response, page, rows, lambda t: t.id)
    return ListPage[TenantOut](data=[TenantOut.of(t) for t in shown.items], next=shown.next)


@router.get("/{tenant_id}", response_model=TenantOut, summary="Get a tenant")
def get_tenant(ctx: Ctx, tenant_id: int = TenantId) -> TenantOut:
    return TenantOut.of(management.get_tenant(ctx.session, tenant_id))


@router.patch("/{tenant_id}", response_model=TenantOut, summary="Update a tenant")
def update_tenant(body: TenantUpdate, ctx: Ctx, tenant_id: int = TenantId) -> TenantOut:
    """Change the name or the bulk-job settings; fields left out keep their value."""
    # The schema refuses nulls, so what was sent maps one to one onto the service's
    # keyword arguments; what was not sent stays UNSET.
    tenant = management.update_tenant(ctx.session, tenant_id, **body.model_dump(exclude_unset=True))
    return TenantOut.of(tenant)


@router.delete("/{tenant_id}", status_code=204, summary="Delete a tenant", responses=problems(409))
def delete_tenant(ctx: Ctx, tenant_id: int = TenantId) -> Response:
    """Only a tenant without billing data (no account, product, invoice, bill run, ...)
    can be deleted: 409 otherwise. To shut out a tenant with data, delete its OAuth
    clients and API keys."""
    management.delete_tenant(ctx.session, tenant_id)
    return Response(status_code=204)
