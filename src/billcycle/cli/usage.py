"""``billcycle usage``: a tenant's units of measure, and usage file imports.

``uom add|list|delete`` manage the units of measure usage records are counted in (a
tenant setting, as in Zuora's Billing Settings). ``import FILE`` loads a usage CSV
(Zuora's format) the way ``POST /v1/usage`` does, streaming the file from disk (no body
limit) and, by default, loading it in this process; ``--queue`` leaves it to the workers
(``billcycle worker`` on PostgreSQL, ``billcycle serve`` on SQLite).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from billcycle.cli.bill_run import TenantOpt
from billcycle.cli.common import console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.cli.runs import fail
from billcycle.errors import DomainError
from billcycle.jobs import wiring
from billcycle.usage import imports, service
from billcycle.usage.inputs import NewUom

app = typer.Typer(help="Usage: units of measure and usage file imports.", no_args_is_help=True)
uom_app = typer.Typer(help="A tenant's units of measure.", no_args_is_help=True)
app.add_typer(uom_app, name="uom")


@uom_app.command("add")
def uom_add(
    name: str,
    tenant: TenantOpt,
    decimals: Annotated[int, typer.Option("--decimals", min=0, max=9, help="Decimal places")] = 0,
    display_name: Annotated[str | None, typer.Option("--display-name")] = None,
    database: DatabaseOpt = None,
) -> None:
    """Define a unit of measure (its name is what usage records give as UOM)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    try:
        with runtime.service_context(tenant_id) as ctx:
            uom = service.create_uom(ctx, NewUom(name, decimals, display_name))
            console.print(f"Unit of measure {uom.name} ({uom.decimal_places} decimals) added.")
    except DomainError as exc:
        fail(exc)
    finally:
        runtime.dispose()


@uom_app.command("list")
def uom_list(tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    """List the tenant's units of measure."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with runtime.service_context(tenant_id) as ctx:
        table = Table("Name", "Decimals", "Display name", "Active")
        for uom in service.list_uoms(ctx):
            table.add_row(
                uom.name, str(uom.decimal_places), uom.display_name or "", str(uom.active)
            )
    console.print(table)
    runtime.dispose()


@uom_app.command("delete")
def uom_delete(name: str, tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    """Delete a unit of measure no usage record uses."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    try:
        with runtime.service_context(tenant_id) as ctx:
            service.delete_uom(ctx, name)
        console.print(f"Unit of measure {name} deleted.")
    except DomainError as exc:
        fail(exc)
    finally:
        runtime.dispose()


def _pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(imports.PART_BYTES):
            yield piece


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    tenant: TenantOpt,
    queue: Annotated[
        bool, typer.Option("--queue", help="Leave the loading to the workers")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Import a usage CSV (ACCOUNT_ID, UOM, QTY, STARTDATE, ENDDATE, SUBSCRIPTION_ID,
    CHARGE_ID, DESCRIPTION). Atomic: a file with a bad row loads nothing."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    dispatcher = None
    if queue and wiring.is_postgres(runtime):
        context = wiring.procrastinate_dispatch(runtime)
    else:
        dispatcher, _runner = wiring.manual(runtime)
        context = None
    started = time.monotonic()
    try:
        if context is not None:
            with context, runtime.service_context(tenant_id) as ctx:
                job = imports.start_import(ctx, file.name, _pieces(file))
                job_id = job.id
        else:
            with runtime.service_context(tenant_id) as ctx:
                job = imports.start_import(ctx, file.name, _pieces(file))
                job_id = job.id
            if dispatcher is not None and not queue:
                dispatcher.run_until_idle()
        with runtime.service_context(tenant_id) as ctx:
            job = imports.get_import(ctx, job_id)
            errors = imports.import_errors(job)
            payload = {
                "id": job.id,
                "status": job.status,
                "fileName": job.file_name,
                "size": job.size,
                "totalRecords": job.total_records,
                "loadedRecords": job.loaded_records,
                "errorCount": job.error_count,
                "errors": errors[:20],
                "seconds": round(time.monotonic() - started, 2),
            }
    except DomainError as exc:
        fail(exc)
    finally:
        runtime.dispose()
    if as_json:
        typer.echo(json.dumps(payload))
        return
    table = Table(title=f"Usage import {payload['id']}", show_header=False)
    for key, value in payload.items():
        if key != "errors":
            table.add_row(key, str(value))
    console.print(table)
    for error in errors[:20]:
        console.print(f"[red]row {error['row']}: {error['reason']}[/red]")
