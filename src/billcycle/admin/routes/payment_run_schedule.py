"""``/v1/tenants/{tenant_id}/payment-run-schedule``: the tenant's recurring payment-run
schedule (read, set, remove), as ``billcycle payment-run schedule``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from billcycle.admin.deps import AdminContext, Ctx, runtime_of
from billcycle.admin.schemas.common import PROBLEM_RESPONSES
from billcycle.admin.schemas.payment_run_schedule import ScheduleIn, ScheduleOut
from billcycle.context import ServiceContext
from billcycle.paymentruns import schedules
from billcycle.tenancy import management

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}/payment-run-schedule",
    tags=["Payment-run schedule"],
    responses=PROBLEM_RESPONSES,
)

TenantId = Path(ge=1, le=2**63 - 1, description="The tenant's id")


@contextmanager
def _tenant(ctx: AdminContext, request: Request, tenant_id: int) -> Iterator[ServiceContext]:
    management.get_tenant(ctx.session, tenant_id)  # an unknown tenant is a 404
    yield runtime_of(request).context(ctx.session, tenant_id)


@router.get("", response_model=ScheduleOut, summary="Get the tenant's payment-run schedule")
def get_schedule(ctx: Ctx, request: Request, tenant_id: int = TenantId) -> ScheduleOut:
    """404 when the tenant has none."""
    with _tenant(ctx, request, tenant_id) as sctx:
        return ScheduleOut.of(schedules.get_schedule(sctx))


@router.put("", response_model=ScheduleOut, summary="Set the tenant's payment-run schedule")
def put_schedule(
    ctx: Ctx, request: Request, body: ScheduleIn, tenant_id: int = TenantId
) -> ScheduleOut:
    """Creates or replaces it: every day at ``run_hour`` (tenant time zone) a payment run
    with that day as target date collects the autopay invoices due by then; the next run
    is the first such hour after now."""
    with _tenant(ctx, request, tenant_id) as sctx:
        schedule = schedules.set_schedule(
            sctx, run_hour=body.run_hour, frequency=body.frequency, active=body.active
        )
        return ScheduleOut.of(schedule)


@router.delete("", status_code=204, summary="Remove the tenant's payment-run schedule")
def delete_schedule(ctx: Ctx, request: Request, tenant_id: int = TenantId) -> Response:
    with _tenant(ctx, request, tenant_id) as sctx:
        schedules.remove_schedule(sctx)
    return Response(status_code=204)
