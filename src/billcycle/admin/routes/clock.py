"""``/v1/tenants/{tenant_id}/clock``: a sandbox tenant's test clock (read, advance).

An advance answers when everything that fell due on the way has run (bill runs,
payment runs, collections days), like ``billcycle clock advance``.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from billcycle.admin.deps import Ctx, runtime_of
from billcycle.admin.schemas.clock import ClockAdvance, ClockAdvanced, ClockOut
from billcycle.admin.schemas.common import PROBLEM_RESPONSES, problems
from billcycle.tenancy import management
from billcycle.testclocks import service as clocks

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}", tags=["Test clocks"], responses=PROBLEM_RESPONSES
)

TenantId = Path(ge=1, le=2**63 - 1, description="The tenant's id")


@router.get(
    "/clock",
    response_model=ClockOut,
    summary="Get a sandbox tenant's clock",
    responses=problems(409),
)
def get_clock(ctx: Ctx, request: Request, tenant_id: int = TenantId) -> ClockOut:
    """409 for a production tenant: it has no clock of its own."""
    management.get_tenant(ctx.session, tenant_id)
    return ClockOut.of(clocks.read_clock(runtime_of(request).context(ctx.session, tenant_id)))


@router.post(
    "/clock/advance",
    response_model=ClockAdvanced,
    summary="Advance a sandbox tenant's clock",
    responses=problems(409),
)
async def advance_clock(
    body: ClockAdvance, ctx: Ctx, request: Request, tenant_id: int = TenantId
) -> ClockAdvanced:
    """Move the clock forward and run, in time order, what falls due on the way:
    scheduled bill runs (with auto-posting and emails), scheduled payment runs, each
    day's collections (standing, dunning, retries). 409 for a production tenant or when
    another advance moved the clock meanwhile; 422 for a time earlier than the clock."""
    runtime = runtime_of(request)
    management.get_tenant(ctx.session, tenant_id)
    if body.to is not None:
        to = body.to
        done = await run_in_threadpool(clocks.advance_to, runtime, tenant_id, to)
    else:
        by = timedelta(days=30 * body.months + body.days, hours=body.hours)
        done = await run_in_threadpool(clocks.advance_by, runtime, tenant_id, by)
    with runtime.service_context(tenant_id) as service:
        reading = clocks.read_clock(service)
    return ClockAdvanced.of_advance(reading, done)
