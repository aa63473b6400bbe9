"""``billcycle webhook add|list|remove|test|redeliver|deliveries|settings``: a tenant's
webhook endpoints (``--tenant`` id or name), managed on the database directly.

``test`` sends a ``webhook.test`` event to the endpoint now, from this process, and
shows the attempt; ``redeliver`` queues an event again (the workers send it).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from billcycle.cli.bill_run import TenantOpt
from billcycle.cli.common import console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.cli.runs import fail
from billcycle.errors import DomainError
from billcycle.webhooks import delivery
from billcycle.webhooks import service as webhooks

app = typer.Typer(
    help="Webhook endpoints: signed deliveries of the tenant's events.", no_args_is_help=True
)


@app.command()
def add(
    url: str,
    tenant: TenantOpt,
    event: Annotated[
        list[str], typer.Option("--event", help="An event type (repeat), or '*' for all")
    ],
    secret: Annotated[
        str | None, typer.Option(help="whsec_ + base64 of >= 24 bytes (default: generated)")
    ] = None,
    description: Annotated[str | None, typer.Option(help="A note for people")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Add it disabled")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Add an endpoint; prints its id and signing secret (shown once)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    types = [part for value in event for part in value.split(",")]
    try:
        with runtime.service_context(tenant_id) as ctx:
            endpoint = webhooks.add_endpoint(
                ctx,
                webhooks.NewEndpoint(
                    url=url,
                    event_types=types,
                    secret=secret,
                    description=description,
                    enabled=not disabled,
                ),
            )
            endpoint_id, signing_secret = endpoint.id, endpoint.secret
    except DomainError as exc:
        fail(exc)
    console.print(f"Webhook endpoint {endpoint_id} added for {url}")
    console.print(f"Signing secret (shown once): {signing_secret}")


@app.command("list")
def list_(tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    """The tenant's endpoints."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with runtime.service_context(tenant_id) as ctx:
        table = Table(title="Webhook endpoints")
        for column in ("Id", "URL", "Events", "Enabled", "Failing since"):
            table.add_column(column)
        for endpoint in webhooks.list_endpoints(ctx, limit=10_000):
            table.add_row(
                str(endpoint.id),
                endpoint.url,
                ", ".join(endpoint.event_types),
                "yes" if endpoint.enabled else f"no ({endpoint.disabled_reason or 'by hand'})",
                endpoint.failing_since.isoformat() if endpoint.failing_since else "",
            )
        allow = webhooks.allows_private(ctx)
    console.print(table)
    console.print(f"Private addresses allowed: {'yes' if allow else 'no'}")


@app.command()
def remove(endpoint_id: int, tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    """Remove an endpoint (its pending deliveries go with it)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    try:
        with runtime.service_context(tenant_id) as ctx:
            webhooks.remove_endpoint(ctx, endpoint_id)
    except DomainError as exc:
        fail(exc)
    console.print(f"Webhook endpoint {endpoint_id} removed")


@app.command("test")
def send_test(endpoint_id: int, tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    """Send a signed ``webhook.test`` event now and show the answer."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    try:
        with runtime.service_context(tenant_id) as ctx:
            event = webhooks.send_test(ctx, endpoint_id)
            event_id = event.event_id
    except DomainError as exc:
        fail(exc)
    delivery.deliver_endpoint(runtime, endpoint_id)
    with runtime.service_context(tenant_id) as ctx:
        rows = [r for r in webhooks.deliveries(ctx, endpoint_id, limit=50) if r[1] == event_id]
        attempts = webhooks.attempts(ctx, rows[0][0].id) if rows else []
    if not attempts:
        fail("The test event was not attempted (is the endpoint disabled or busy?).")
    last = attempts[-1]
    answer = f"HTTP {last.status_code}" if last.status_code is not None else last.error
    console.print(f"{event_id}: {answer} in {last.latency_ms} ms")
    if not last.succeeded:
        raise typer.Exit(1)


@app.command()
def redeliver(
    event_id: str,
    tenant: TenantOpt,
    endpoint: Annotated[int | None, typer.Option(help="Only to this endpoint")] = None,
    database: DatabaseOpt = None,
) -> None:
    """Deliver an event again (the workers send it, with a fresh retry schedule)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    try:
        with runtime.service_context(tenant_id) as ctx:
            count = webhooks.redeliver(ctx, event_id, endpoint)
    except DomainError as exc:
        fail(exc)
    console.print(f"{event_id}: {count} deliveries queued")


@app.command()
def deliveries(
    endpoint_id: int,
    tenant: TenantOpt,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    database: DatabaseOpt = None,
) -> None:
    """An endpoint's latest deliveries and their attempts."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    try:
        with runtime.service_context(tenant_id) as ctx:
            table = Table(title=f"Deliveries of endpoint {endpoint_id}")
            for column in ("Id", "Event", "Type", "Status", "Attempts", "Last answer"):
                table.add_column(column)
            for row, event_id, event_type in webhooks.deliveries(ctx, endpoint_id, limit=limit):
                log = webhooks.attempts(ctx, row.id)
                last = log[-1] if log else None
                answer = (
                    ""
                    if last is None
                    else f"HTTP {last.status_code}"
                    if last.status_code is not None
                    else str(last.error)
                )
                table.add_row(
                    str(row.id), event_id, event_type, row.status, str(row.attempts), answer
                )
    except DomainError as exc:
        fail(exc)
    console.print(table)


@app.command()
def settings(
    tenant: TenantOpt,
    allow_private: Annotated[
        bool | None,
        typer.Option(
            "--allow-private/--no-allow-private",
            help="Allow endpoints on loopback, link-local and private addresses",
        ),
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    """Show or change the tenant's webhook settings (webhooks_allow_private)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with runtime.service_context(tenant_id) as ctx:
        if allow_private is not None:
            webhooks.set_allow_private(ctx, allow_private)
        allowed = webhooks.allows_private(ctx)
    console.print(f"webhooks_allow_private: {'yes' if allowed else 'no'}")
