"""``billcycle bulk-job``: a tenant's Fusebill bulk write-offs from the command line.

Works on the database directly (``--tenant-id``, like ``billcycle tenant``), through the
same service as the API. While a job validates or processes, a Rich progress bar follows
it: on SQLite this process runs the embedded worker itself; on PostgreSQL the work goes
to the queue and ``billcycle worker`` processes do it (Ctrl-C stops following, not the
job).
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

import billcycle.tasks  # noqa: F401  (registers the background work run here)
from billcycle.bulkjobs import service
from billcycle.bulkjobs.csv_upload import parse_invoice_ids
from billcycle.bulkjobs.models import BulkJob
from billcycle.bulkjobs.statuses import BulkJobType
from billcycle.cli.audited import note_tenant
from billcycle.cli.common import console, err_console, runtime_for
from billcycle.cli.db import DatabaseOpt
from billcycle.errors import DomainError
from billcycle.fusebill.schemas.bulk_jobs import job_json
from billcycle.jobs import wiring
from billcycle.runtime import Runtime
from billcycle.tenancy import repository as tenants

app = typer.Typer(help="Fusebill bulk jobs (bulk write-offs) of a tenant.", no_args_is_help=True)

CANCELLED_BY = "cli"
POLL_SECONDS = 0.25

TenantOpt = Annotated[
    int, typer.Option("--tenant-id", help="The tenant (printed by `billcycle tenant create`)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the job as Fusebill's JSON")]
WaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Follow the job with a progress bar")
]


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]{message}[/red]")
    return typer.Exit(1)


def _runtime(database: str | None, tenant_id: int) -> Runtime:
    """The runtime, once the tenant is known to exist with bulk jobs enabled (the same
    gate as the API's)."""
    runtime = runtime_for(database)
    with runtime.service_context(tenant_id) as ctx:
        tenant = tenants.get_tenant(ctx.session, tenant_id)
        enabled = tenant is not None and tenant.bulk_jobs_enabled
        exists = tenant is not None
    if exists:
        note_tenant(tenant_id)  # the audit log (billcycle.cli.audited)
    if not enabled:
        runtime.dispose()
        if not exists:
            raise _fail(f"Tenant {tenant_id} does not exist.")
        raise _fail(
            f"Bulk jobs are not enabled for tenant {tenant_id} "
            "(billcycle tenant create --bulk-jobs)."
        )
    return runtime


def _background(runtime: Runtime, wait: bool) -> AbstractContextManager[object]:
    """Where the job's background work goes: PostgreSQL's queue (``billcycle worker``);
    on SQLite a worker thread here while we wait, else nowhere yet (``billcycle serve``'s
    reaper picks the job's chunks up)."""
    if wiring.is_postgres(runtime):
        return wiring.procrastinate_dispatch(runtime)
    if wait:
        return wiring.embedded_worker(runtime)
    err_console.print("[dim]SQLite: `billcycle serve` does the work.[/dim]")
    wiring.manual(runtime)
    return nullcontext()


def _read(runtime: Runtime, tenant_id: int, job_id: int) -> BulkJob:
    with runtime.service_context(tenant_id) as ctx:
        return service.get_job(ctx, job_id)


def _follow(runtime: Runtime, tenant_id: int, job_id: int, *, quiet: bool) -> BulkJob:
    """Poll the job until it is neither validating nor processing (the bar goes to
    stderr when stdout carries JSON)."""
    out = err_console if quiet else console
    if wiring.is_postgres(runtime):
        out.print("[dim]PostgreSQL: `billcycle worker` processes do the work.[/dim]")
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out, transient=False) as bar:
        task = bar.add_task("Validating", total=None)
        while True:
            job = _read(runtime, tenant_id, job_id)
            now = service.progress(job)
            if now.validating:
                bar.update(task, description="Validating", completed=now.validated, total=now.total)
            elif now.processing:
                bar.update(
                    task, description="Processing", completed=now.processed, total=now.to_process
                )
            else:
                bar.update(task, description=job.status, completed=1, total=1)
                return job
            time.sleep(POLL_SECONDS)


def _show(job: BulkJob, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(job_json(job)))
        return
    table = Table(title=f"Bulk job {job.id}", show_header=False)
    for key, value in job_json(job).items():
        table.add_row(key, "" if value is None else str(value))
    console.print(table)


def _run(runtime: Runtime, tenant_id: int, job_id: int, wait: bool, as_json: bool) -> None:
    job = (
        _follow(runtime, tenant_id, job_id, quiet=as_json)
        if wait
        else _read(runtime, tenant_id, job_id)
    )
    _show(job, as_json)


@app.command()
def create(
    csv: Annotated[
        Path,
        typer.Option(
            "--csv", exists=True, dir_okay=False, readable=True, help="Invoice ids, one a line"
        ),
    ],
    tenant_id: TenantOpt,
    wait: WaitOpt = True,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Create a BulkWriteOff job from a CSV file of invoice ids, and follow its validation."""
    runtime = _runtime(database, tenant_id)
    try:
        with _background(runtime, wait):
            try:
                invoice_ids = parse_invoice_ids(csv.read_bytes())
                with runtime.service_context(tenant_id) as ctx:
                    job = service.create_job(
                        ctx,
                        BulkJobType.BULK_WRITE_OFF,
                        invoice_ids,
                        chunk_size=runtime.settings.bulk_job_chunk_size,
                        file_name=csv.name,
                    )
                _run(runtime, tenant_id, job.id, wait, as_json)
            except DomainError as exc:
                raise _fail(exc.message) from None
    finally:
        runtime.dispose()


@app.command()
def show(
    job_id: int,
    tenant_id: TenantOpt,
    records: Annotated[bool, typer.Option("--records", help="Include every record")] = False,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Show a job (with --records: every record, as Fusebill's view=Full)."""
    runtime = _runtime(database, tenant_id)
    try:
        with runtime.service_context(tenant_id) as ctx:
            job = service.get_job(ctx, job_id)
            rows = service.job_records(ctx, job) if records else None
        if as_json:
            typer.echo(json.dumps(job_json(job, rows)))
            return
        _show(job, False)
        if rows is not None:
            table = Table("id", "status", "data", "details", "createdEntityId")
            for row in rows:
                table.add_row(
                    str(row.id),
                    row.status,
                    row.data,
                    row.details or "",
                    "" if row.created_entity_id is None else str(row.created_entity_id),
                )
            console.print(table)
    except DomainError as exc:
        raise _fail(exc.message) from None
    finally:
        runtime.dispose()


@app.command()
def process(
    job_id: int,
    tenant_id: TenantOpt,
    wait: WaitOpt = True,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Process a validated job (write its invoices off), and follow it."""
    runtime = _runtime(database, tenant_id)
    try:
        with _background(runtime, wait):
            try:
                with runtime.service_context(tenant_id) as ctx:
                    service.process_job(
                        ctx, job_id, chunk_size=runtime.settings.bulk_job_chunk_size
                    )
                _run(runtime, tenant_id, job_id, wait, as_json)
            except DomainError as exc:
                raise _fail(exc.message) from None
    finally:
        runtime.dispose()


@app.command()
def cancel(
    job_id: int,
    tenant_id: TenantOpt,
    as_json: JsonOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Cancel an unfinished job: its incomplete records are marked failed."""
    runtime = _runtime(database, tenant_id)
    try:
        with runtime.service_context(tenant_id) as ctx:
            job = service.cancel_job(ctx, job_id, cancelled_by=CANCELLED_BY)
        _show(job, as_json)
    except DomainError as exc:
        raise _fail(exc.message) from None
    finally:
        runtime.dispose()
