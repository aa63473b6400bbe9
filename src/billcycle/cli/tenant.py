from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from billcycle.cli.common import console, runtime_for
from billcycle.cli.db import DatabaseOpt
from billcycle.db.session import unit_of_work
from billcycle.errors import InvalidValue
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
        )
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
        console.print(f"[bold]Tenant {name}[/bold] created (id {created.tenant_id})")
        for key, value in payload.items():
            console.print(f"  {key}: [cyan]{value}[/cyan]")


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
        management.delete_oauth_client(session, tenant_id, row_id)
    runtime.dispose()
    console.print(f"OAuth client [bold]{client_id}[/bold] deleted")
