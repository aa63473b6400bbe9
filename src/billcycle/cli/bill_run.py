"""``billcycle bill-run``: bill runs from a terminal, for operators.

On SQLite the command runs a worker in its own process while it waits (so a run makes
progress even with no server up); on PostgreSQL the `billcycle worker` processes do the
work and the command only watches.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.table import Table

from billcycle.billruns import service
from billcycle.billruns.models import BillRun
from billcycle.billruns.spec import BillCycleDay, BillRunSpec, CycleDays
from billcycle.billruns.statuses import BillRunStatus
from billcycle.cli.common import console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.cli.runs import RunProgress, fail, parse_date, run_key, watch
from billcycle.cli.serve import background
from billcycle.errors import DomainError
from billcycle.ids import is_ascii_digits
from billcycle.money import from_minor
from billcycle.runtime import Runtime

app = typer.Typer(help="Bill runs: create, watch, post, cancel, list.", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id or name")]
WaitOpt = Annotated[bool, typer.Option("--wait/--no-wait", help="Show progress until done")]
_BUSY = {
    BillRunStatus.PENDING,
    BillRunStatus.PROCESSING,
    BillRunStatus.POST_IN_PROGRESS,
    BillRunStatus.CANCEL_IN_PROGRESS,
    BillRunStatus.REMOVE_IN_PROGRESS,
}
_BATCH = re.compile(r"(?:Batch)?([1-9][0-9]?)")
MAX_BATCH = 50
MAX_NAME_LENGTH = 255


def _batches(values: list[str] | None) -> tuple[int, ...]:
    numbers: set[int] = set()
    for value in values or ():
        match = _BATCH.fullmatch(value)
        if match is None or not 1 <= int(match.group(1)) <= MAX_BATCH:
            fail(f"--batch: '{value}' is not Batch1 to Batch{MAX_BATCH}.")
        numbers.add(int(match.group(1)))
    return tuple(sorted(numbers))


def _bill_cycle_day(value: str) -> BillCycleDay:
    if value in ("AllBillCycleDays", "All"):
        return CycleDays.ALL
    if is_ascii_digits(value) and 1 <= int(value) <= 31:
        return int(value)
    fail(f"--bill-cycle-day: '{value}' is not 1 to 31 or AllBillCycleDays.")


def _name(value: str | None) -> str | None:
    text = (value or "").strip()
    if len(text) > MAX_NAME_LENGTH:
        fail(f"--name is longer than {MAX_NAME_LENGTH} characters.")
    return text or None


def _load(runtime: Runtime, tenant_id: int, key: str) -> tuple[BillRun, dict[str, Any]]:
    with runtime.service_context(tenant_id) as ctx:
        run = service.find_bill_run(ctx, run_key(key))
        return run, service.progress(ctx, run)


def _watch(runtime: Runtime, tenant_id: int, key: str, *, timeout: float = 24 * 3600) -> None:
    run, _ = _load(runtime, tenant_id, key)

    def poll() -> RunProgress:
        found, _ = _load(runtime, tenant_id, key)
        return found.status, found.accounts_total or None, found.accounts_processed

    watch(run.bill_run_number, poll, _BUSY, timeout=timeout)


def _show(runtime: Runtime, tenant_id: int, key: str) -> None:
    run, extra = _load(runtime, tenant_id, key)
    table = Table(title=f"Bill run {run.bill_run_number}", show_header=False)
    rows = [
        ("id", f"{run.id:032x}"),
        ("status", run.status),
        ("name", run.name or ""),
        ("type", run.bill_run_type),
        ("target date", str(run.target_date or "")),
        ("invoice date", str(run.invoice_date or "")),
        ("scheduled", str(run.scheduled_execution_time or "")),
        ("accounts", f"{run.accounts_processed}/{run.accounts_total}"),
        ("failed accounts", str(run.accounts_failed)),
        ("invoices", str(run.invoices_created)),
    ]
    rows += [
        (f"total {currency}", str(from_minor(amount, currency)))
        for currency, amount in extra["totals"].items()
    ]
    if run.error_message:
        rows.append(("error", run.error_message))
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    for account_id, message in extra["failures"]:
        console.print(f"  [yellow]account {account_id:032x}[/yellow]: {message}")


@app.command()
def create(
    tenant: TenantOpt,
    target_date: Annotated[str, typer.Option(help="yyyy-mm-dd: bill what is due by then")],
    invoice_date: Annotated[str | None, typer.Option(help="yyyy-mm-dd (default today)")] = None,
    batch: Annotated[list[str] | None, typer.Option(help="Batch1..Batch50 (default all)")] = None,
    bill_cycle_day: Annotated[str, typer.Option(help="1..31 or AllBillCycleDays")] = (
        "AllBillCycleDays"
    ),
    name: Annotated[str | None, typer.Option(help="A name for the run")] = None,
    auto_post: Annotated[bool, typer.Option("--auto-post", help="Post when done")] = False,
    auto_email: Annotated[bool, typer.Option("--auto-email", help="Email when posted")] = False,
    wait: WaitOpt = True,
    database: DatabaseOpt = None,
) -> None:
    """Create an ad hoc bill run (and watch it)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    spec = BillRunSpec(
        name=_name(name),
        batches=_batches(batch),
        bill_cycle_day=_bill_cycle_day(bill_cycle_day),
        target_date=parse_date(target_date, "--target-date"),
        invoice_date=parse_date(invoice_date, "--invoice-date") if invoice_date else None,
        auto_post=auto_post,
        auto_email=auto_email,
    )
    with background(runtime):
        try:
            with runtime.service_context(tenant_id) as ctx:
                run = service.create_bill_run(ctx, spec, created_by="cli")
                number = run.bill_run_number
        except DomainError as exc:
            fail(exc)
        console.print(f"created [bold]{number}[/bold]")
        if wait:
            _watch(runtime, tenant_id, number)
    _show(runtime, tenant_id, number)


@app.command()
def show(key: str, tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    """Show a bill run (id or BR- number) with its progress and failures."""
    runtime = runtime_for(database)
    try:
        _show(runtime, tenant_id_of(runtime, tenant), key)
    except DomainError as exc:
        fail(exc)


@app.command()
def post(
    key: str,
    tenant: TenantOpt,
    invoice_date: Annotated[str | None, typer.Option(help="yyyy-mm-dd")] = None,
    wait: WaitOpt = True,
    database: DatabaseOpt = None,
) -> None:
    """Post a Completed bill run's draft invoices."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with background(runtime):
        try:
            with runtime.service_context(tenant_id) as ctx:
                run = service.find_bill_run(ctx, run_key(key))
                service.post_bill_run(
                    ctx, run, parse_date(invoice_date, "--invoice-date") if invoice_date else None
                )
        except DomainError as exc:
            fail(exc)
        if wait:
            _watch(runtime, tenant_id, key)
    _show(runtime, tenant_id, key)


@app.command()
def cancel(
    key: str,
    tenant: TenantOpt,
    all_future: Annotated[
        bool, typer.Option("--all-future", help="Scheduled runs: end the whole series")
    ] = False,
    wait: WaitOpt = True,
    database: DatabaseOpt = None,
) -> None:
    """Cancel a Pending or Completed bill run (its drafts become billable again)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with background(runtime):
        try:
            with runtime.service_context(tenant_id) as ctx:
                run = service.find_bill_run(ctx, run_key(key))
                _, next_run = service.cancel_bill_run(ctx, run, cancel_once=not all_future)
                following = next_run.bill_run_number if next_run else None
        except DomainError as exc:
            fail(exc)
        if following:
            console.print(f"next occurrence: [bold]{following}[/bold]")
        if wait:
            _watch(runtime, tenant_id, key)
    _show(runtime, tenant_id, key)


@app.command("list")
def list_runs(
    tenant: TenantOpt,
    status: Annotated[str | None, typer.Option(help="Only runs in this status")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 20,
    database: DatabaseOpt = None,
) -> None:
    """List bill runs, newest first."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    with runtime.service_context(tenant_id) as ctx:
        runs, _ = service.list_bill_runs(ctx, status, 0, limit)
    table = Table("number", "status", "target date", "accounts", "invoices", "created")
    for run in runs:
        table.add_row(
            run.bill_run_number,
            run.status,
            str(run.target_date or ""),
            f"{run.accounts_processed}/{run.accounts_total}",
            str(run.invoices_created),
            run.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)
