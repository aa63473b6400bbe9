"""``billcycle audit``: read a tenant's audit log; purge events past the retention."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from billcycle.audit import service as audit
from billcycle.cli.common import console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.db.session import unit_of_work
from billcycle.requestkeys import service as requestkeys

app = typer.Typer(help="The audit log of state-changing calls.", no_args_is_help=True)


@app.command("list")
def list_events(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant id or name")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=audit.MAX_PAGE)] = 50,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this actor")] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Actions starting with this")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
    database: DatabaseOpt = None,
) -> None:
    """The tenant's latest events, newest first."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with unit_of_work(runtime.session_factory) as session:
        rows = audit.list_events(
            session, tenant_id, limit=limit, where=audit.AuditFilter(actor=actor, action=action)
        )
        events: list[dict[str, Any]] = [
            {
                "id": e.id,
                "occurredAt": e.occurred_at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "objectIds": list(e.object_ids or []),
                "outcome": e.outcome,
                "requestId": e.request_id,
                "trackId": e.track_id,
            }
            for e in rows
        ]
    for event in events:
        if as_json:
            typer.echo(json.dumps(event))
        else:
            ids = ",".join(str(i) for i in event["objectIds"])
            console.print(
                f"{event['occurredAt']}  {event['actor']}  {event['action']}  "
                f"{event['outcome']}  {ids}  {event['requestId'] or ''}",
                highlight=False,
                soft_wrap=True,
            )


@app.command()
def purge(
    older_than_days: Annotated[
        int | None,
        typer.Option("--older-than-days", min=1, help="Default: BILLCYCLE_AUDIT_RETENTION_DAYS"),
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """Delete every tenant's events older than the retention period."""
    runtime = runtime_for(database)
    days = older_than_days or runtime.settings.audit_retention_days
    with unit_of_work(runtime.session_factory) as session:
        gone = audit.purge(session, runtime.machine_clock.now(), days)
        keys = requestkeys.purge_expired(session, runtime.machine_clock.now())
    console.print(
        f"{gone} audit events older than {days} days deleted; {keys} expired idempotency keys"
    )
