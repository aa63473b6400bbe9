"""``billcycle clock show|advance|set --tenant T``: a sandbox tenant's test clock.

``advance`` and ``set`` run, in this process and in time order, everything that would
have happened in between (scheduled bill runs and payment runs, auto-posting, invoice
emails, collections days and payment retries), with a progress bar; they return when it
is all done. A production tenant has no clock (refused).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from billcycle.cli.bill_run import TenantOpt
from billcycle.cli.common import console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.cli.runs import fail
from billcycle.errors import DomainError
from billcycle.testclocks import service as clocks

app = typer.Typer(help="Test clocks of sandbox tenants.", no_args_is_help=True)

DaysOpt = Annotated[int, typer.Option("--days", min=0, help="Days to move forward")]
MonthsOpt = Annotated[
    int, typer.Option("--months", min=0, max=120, help="Months to move forward (30 days each)")
]
HoursOpt = Annotated[int, typer.Option("--hours", min=0, help="Hours to move forward")]


def _print(reading: clocks.ClockReading) -> None:
    table = Table(show_header=False, title=f"Test clock of tenant {reading.tenant_id}")
    table.add_row("Now (UTC)", reading.now.isoformat())
    table.add_row("Business date", f"{reading.today.isoformat()} ({reading.time_zone})")
    console.print(table)


def _run(database: str | None, tenant: str, move: clocks.Mover) -> None:
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    try:
        with Progress(
            TextColumn("[bold]advancing[/bold] {task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("", total=None)

            def told(at: datetime, done: clocks.Advanced) -> None:
                span = (done.target - done.started_at).total_seconds() or 1.0
                bar.update(
                    task,
                    total=100,
                    completed=100 * (at - done.started_at).total_seconds() / span,
                    description=at.date().isoformat(),
                )

            done = move(runtime, tenant_id, told)
        with runtime.service_context(tenant_id) as ctx:
            reading = clocks.read_clock(ctx)
    except DomainError as exc:
        fail(exc)
    finally:
        runtime.dispose()
    console.print(
        f"Moved from {done.started_at.isoformat()} to {done.now.isoformat()}:"
        f" {done.days} days ({done.evaluations} with collections evaluated),"
        f" {done.bill_runs} bill runs,"
        f" {done.payment_runs} scheduled payment runs."
    )
    _print(reading)


@app.command()
def show(tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    """Show a sandbox tenant's clock."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    try:
        with runtime.service_context(tenant_id) as ctx:
            reading = clocks.read_clock(ctx)
    except DomainError as exc:
        fail(exc)
    finally:
        runtime.dispose()
    _print(reading)


@app.command()
def advance(
    tenant: TenantOpt,
    months: MonthsOpt = 0,
    days: DaysOpt = 0,
    hours: HoursOpt = 0,
    database: DatabaseOpt = None,
) -> None:
    """Move a sandbox tenant's clock forward, running what falls due on the way."""
    by = timedelta(days=30 * months + days, hours=hours)
    if by <= timedelta(0):
        fail("Give how far to move: --months, --days and/or --hours (forward only).")
    _run(database, tenant, lambda rt, t, told: clocks.advance_by(rt, t, by, told))


@app.command("set")
def set_clock(
    instant: Annotated[str, typer.Argument(help="ISO 8601 time, e.g. 2027-01-01T00:00:00Z")],
    tenant: TenantOpt,
    database: DatabaseOpt = None,
) -> None:
    """Move a sandbox tenant's clock to a later time, running what falls due on the way."""
    try:
        to = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        fail(f"Not an ISO 8601 time: {instant!r} (e.g. 2027-01-01T00:00:00Z).")
    if to.tzinfo is None:
        fail("Give the time with its zone, e.g. 2027-01-01T00:00:00Z.")
    _run(database, tenant, lambda rt, t, told: clocks.advance_to(rt, t, to, told))
