from __future__ import annotations

import json
from typing import Annotated

import typer

from billcycle.cli import invoice_template
from billcycle.cli.common import console, runtime_for
from billcycle.cli.db import DatabaseOpt
from billcycle.db.session import unit_of_work
from billcycle.errors import InvalidValue
from billcycle.tenancy import service
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


app.add_typer(invoice_template.app, name="invoice-template")
