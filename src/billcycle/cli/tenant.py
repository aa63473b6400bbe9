from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from billcycle.access import service as access
from billcycle.cli import invoice_template
from billcycle.cli.audited import note_tenant
from billcycle.cli.common import console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.db.session import unit_of_work
from billcycle.errors import InvalidValue
from billcycle.ids import parse_zuora_id, to_zuora_id
from billcycle.ratelimits import service as ratelimits
from billcycle.tenancy import management, service
from billcycle.tenancy import repository as tenants
from billcycle.tenancy.time_zones import DEFAULT_TIME_ZONE, check_time_zone

app = typer.Typer(help="Tenants and their credentials.", no_args_is_help=True)


@app.command()
def create(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only")] = False,
    bulk_jobs: Annotated[
        bool, typer.Option("--bulk-jobs", help="Enable Fusebill bulk jobs and write-offs")
    ] = False,
    bulk_job_limit: Annotated[
        int, typer.Option("--bulk-job-limit", help="Records allowed per bulk job", min=1)
    ] = 1000,
    time_zone: Annotated[
        str,
        typer.Option(
            "--time-zone", help="IANA time zone of the tenant's billing dates (e.g. Europe/Paris)"
        ),
    ] = DEFAULT_TIME_ZONE,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Give the tenant its own test clock (`billcycle clock advance` moves it)",
        ),
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Create a tenant and print its credentials (the secrets are shown only once)."""
    try:
        check_time_zone(time_zone)
    except InvalidValue as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    runtime = runtime_for(database)
    with unit_of_work(runtime.session_factory) as session:
        created = service.create_tenant(
            session,
            runtime.clock,
            name,
            bulk_jobs=bulk_jobs,
            bulk_job_record_limit=bulk_job_limit,
            time_zone=time_zone,
            sandbox=sandbox,
        )
    note_tenant(created.tenant_id)
    runtime.dispose()
    payload = {
        "entityId": created.entity_id,
        "clientId": created.client_id,
        "clientSecret": created.client_secret,
        "apiKey": created.api_key,
    }
    if as_json:
        typer.echo(json.dumps(payload))
    else:
        kind = "Sandbox tenant" if sandbox else "Tenant"
        console.print(f"[bold]{kind} {name}[/bold] created (id {created.tenant_id})")
        for key, value in payload.items():
            console.print(f"  {key}: [cyan]{value}[/cyan]")


@app.command()
def grant(
    client_id: str,
    entity_id: Annotated[str, typer.Argument(help="Entity: 32 hex digits, tenant id or name")],
    database: DatabaseOpt = None,
) -> None:
    """Let an OAuth client act in another entity too (multi-entity). Its next token covers
    both; a call then names its entity in Zuora-Entity-Ids."""
    runtime = runtime_for(database)
    entity = parse_zuora_id(entity_id)
    tenant_id = entity if entity is not None else tenant_id_of(runtime, entity_id)
    note_tenant(tenant_id)  # before acting: a failure is recorded in the entity it named
    with unit_of_work(runtime.session_factory) as session:
        added = access.grant_entity(session, runtime.clock, client_id, tenant_id)
    word = "granted" if added else "already had"
    console.print(f"client {client_id} {word} entity {to_zuora_id(tenant_id)}")


@app.command()
def ungrant(
    client_id: str,
    entity_id: Annotated[str, typer.Argument(help="Entity: 32 hex digits, tenant id or name")],
    database: DatabaseOpt = None,
) -> None:
    """Take an entity back from an OAuth client (its next token no longer covers it;
    tokens already issued keep it until they expire)."""
    runtime = runtime_for(database)
    entity = parse_zuora_id(entity_id)
    tenant_id = entity if entity is not None else tenant_id_of(runtime, entity_id)
    note_tenant(tenant_id)  # before acting: a failure is recorded in the entity it named
    with unit_of_work(runtime.session_factory) as session:
        removed = access.revoke_entity(session, client_id, tenant_id)
    word = "no longer has" if removed else "did not have"
    console.print(f"client {client_id} {word} entity {to_zuora_id(tenant_id)}")


@app.command("rate-limit")
def rate_limit(
    tenant: Annotated[str, typer.Argument(help="Tenant id or name")],
    per_minute: Annotated[
        int | None,
        typer.Option("--per-minute", min=0, help="Requests a minute for the tenant (0: none)"),
    ] = None,
    per_client: Annotated[
        int | None,
        typer.Option(
            "--per-client", min=0, help="Requests a minute per OAuth client or API key (0: none)"
        ),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Back to the installation's defaults")
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Set a tenant's rate limits (each server process applies them within 30 seconds)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    if default:
        per_minute = per_client = None
    elif per_minute is None and per_client is None:
        typer.echo("Error: give --per-minute and/or --per-client, or --default", err=True)
        raise typer.Exit(2)
    ratelimits.set_limits(runtime.session_factory, tenant_id, per_minute, per_client)
    note_tenant(tenant_id)
    shown = {
        "perMinute": per_minute
        if per_minute is not None
        else runtime.settings.rate_limit_per_minute,
        "perClient": per_client
        if per_client is not None
        else runtime.settings.client_rate_limit_per_minute,
    }
    console.print(f"tenant {tenant_id} rate limits: {json.dumps(shown)}")


app.add_typer(invoice_template.app, name="invoice-template")
client_app = typer.Typer(help="A tenant's OAuth clients.", no_args_is_help=True)
app.add_typer(client_app, name="client")


def _client_row_id(session: Session, client_id: str) -> tuple[int, int]:
    """(tenant id, row id) of the OAuth client with this client id."""
    client = tenants.find_oauth_client(session, client_id.strip())
    if client is None:
        typer.echo(f"Error: no OAuth client {client_id}.", err=True)
        raise typer.Exit(1)
    return client.tenant_id, client.id


@client_app.command("rotate")
def client_rotate(
    client_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Give the client a new secret (shown once). Its access tokens stop working at once."""
    runtime = runtime_for(database)
    with unit_of_work(runtime.session_factory) as session:
        tenant_id, row_id = _client_row_id(session, client_id)
        note_tenant(tenant_id)
        rotated = management.rotate_oauth_client(session, tenant_id, row_id)
        payload = {"clientId": rotated.client.client_id, "clientSecret": rotated.client_secret}
    runtime.dispose()
    if as_json:
        typer.echo(json.dumps(payload))
    else:
        console.print(f"OAuth client [bold]{payload['clientId']}[/bold] rotated")
        console.print(f"  clientSecret: [cyan]{payload['clientSecret']}[/cyan]")


@client_app.command("delete")
def client_delete(client_id: str, database: DatabaseOpt = None) -> None:
    """Delete the client. Its access tokens stop working at once."""
    runtime = runtime_for(database)
    with unit_of_work(runtime.session_factory) as session:
        tenant_id, row_id = _client_row_id(session, client_id)
        note_tenant(tenant_id)
        management.delete_oauth_client(session, tenant_id, row_id)
    runtime.dispose()
    console.print(f"OAuth client [bold]{client_id}[/bold] deleted")
