"""``/v1/tenants/{tenant_id}/audit``: a tenant's audit log, newest first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import Response

from billcycle.admin.deps import Ctx
from billcycle.admin.paging import PageParams, paginate
from billcycle.admin.schemas.audit import AuditEventOut
from billcycle.admin.schemas.common import PROBLEM_RESPONSES, ListPage
from billcycle.audit import service as audit
from billcycle.tenancy import management

router = APIRouter(prefix="/v1/tenants", tags=["Audit log"], responses=PROBLEM_RESPONSES)


@router.get(
    "/{tenant_id}/audit",
    response_model=ListPage[AuditEventOut],
    summary="List a tenant's audit events",
)
def list_audit_events(
    ctx: Ctx,
    page: PageParams,
    request: Request,
    response: Response,
    tenant_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="The tenant's id")],
    actor: Annotated[
        str | None, Query(max_length=255, description="Only this actor (`client:<id>`)")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=255, description="Actions starting with this (`POST /zuora/v1/`)"),
    ] = None,
    outcome: Annotated[
        str | None, Query(max_length=32, description="Only this outcome (`201`, `ok`)")
    ] = None,
    since: Annotated[datetime | None, Query(description="Events at or after this instant")] = None,
    until: Annotated[datetime | None, Query(description="Events before this instant")] = None,
) -> ListPage[AuditEventOut]:
    """Every state-changing call of both dialects and the CLI, newest first: who (`actor`),
    what (`action`, `route`, `object_ids`), how it ended (`outcome`: the HTTP status, or
    `ok`/`error` for the CLI), when, and the request and track ids."""
    management.get_tenant(ctx.session, tenant_id)
    since, until = (
        None if t is None else t if t.tzinfo else t.replace(tzinfo=UTC) for t in (since, until)
    )
    rows = audit.list_events(
        ctx.session,
        tenant_id,
        after=page.after,
        limit=page.fetch,
        where=audit.AuditFilter(actor, action, outcome, since, until),
    )
    shown = paginate(request, response, page, rows, lambda event: event.id)
    return ListPage[AuditEventOut](
        data=[AuditEventOut.of(event) for event in shown.items], next=shown.next
    )
