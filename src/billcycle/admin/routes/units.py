"""``/v1/tenants/{tenant_id}/units-of-measure``: the units a tenant's usage is counted in
(Zuora's Billing Settings > Units of Measure). A usage record's UOM must be one of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from billcycle.admin.deps import AdminContext, Ctx, runtime_of
from billcycle.admin.schemas.common import PROBLEM_RESPONSES
from billcycle.admin.schemas.units import UnitIn, UnitList, UnitOut
from billcycle.context import ServiceContext
from billcycle.tenancy import management
from billcycle.usage import service
from billcycle.usage.inputs import NewUom

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}/units-of-measure",
    tags=["Units of measure"],
    responses=PROBLEM_RESPONSES,
)

TenantId = Path(ge=1, le=2**63 - 1, description="The tenant's id")


@contextmanager
def _tenant(ctx: AdminContext, request: Request, tenant_id: int) -> Iterator[ServiceContext]:
    management.get_tenant(ctx.session, tenant_id)  # an unknown tenant is a 404
    yield runtime_of(request).context(ctx.session, tenant_id)


@router.post("", status_code=201, response_model=UnitOut, summary="Define a unit of measure")
def create_unit(ctx: Ctx, request: Request, body: UnitIn, tenant_id: int = TenantId) -> UnitOut:
    """A name already defined (case-insensitively) is a 409."""
    with _tenant(ctx, request, tenant_id) as sctx:
        spec = NewUom(body.name, body.decimal_places, body.display_name)
        return UnitOut.of(service.create_uom(sctx, spec))


@router.get("", response_model=UnitList, summary="List a tenant's units of measure")
def list_units(ctx: Ctx, request: Request, tenant_id: int = TenantId) -> UnitList:
    with _tenant(ctx, request, tenant_id) as sctx:
        return UnitList(data=[UnitOut.of(u) for u in service.list_uoms(sctx)])


@router.delete("/{name}", status_code=204, summary="Delete an unused unit of measure")
def delete_unit(ctx: Ctx, request: Request, name: str, tenant_id: int = TenantId) -> Response:
    """A unit that usage records use cannot be deleted (409)."""
    with _tenant(ctx, request, tenant_id) as sctx:
        service.delete_uom(sctx, name)
    return Response(status_code=204)
