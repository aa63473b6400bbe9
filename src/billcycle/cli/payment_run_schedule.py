"""``billcycle payment-run schedule set|show|remove --tenant T``: the tenant's recurring
payment-run schedule (every day at an hour of its time zone, a payment run with that
day as target date), which the scheduler fires (a sandbox tenant's: its clock advances).
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
from billcycle.paymentruns import schedules
from billcycle.paymentruns.schedule_models import PaymentRunSchedule

app = typer.Typer(
    help="The tenant's recurring payment-run schedule (autopay collected on due dates).",
    no_args_is_help=True,
)


def _print(schedule: PaymentRunSchedule) -> None:
    table = Table(show_header=False, title=f"Payment-run schedule of tenant {schedule.tenant_id}")
    table.add_row("Frequency", schedule.frequency)
    table.add_row("Run hour (tenant time zone)", f"{schedule.run_hour:02d}:00")
    table.add_row("Active", "yes" if schedule.active else "no")
    table.add_row("Next run (UTC)", schedule.next_run_at.isoformat())
    table.add_row(
        "Last run (UTC)", schedule.last_run_at.isoformat() if schedule.last_run_at else "-"
    )
    console.print(table)


@app.command("set")
def set_schedule(
    tenant: TenantOpt,
    hour: Annotated[
        int, typer.Option("--hour", min=0, max=23, help="Hour of the day (tenant time zone)")
    ],
    frequency: Annotated[str, typer.Option(help="How often: Daily")] = "Daily",
    active: Annotated[bool, typer.Option("--active/--paused", help="Paused: no run")] = True,
    database: DatabaseOpt = None,
) -> None:
    """Create or replace the schedule: every day at HOUR, a payment run (target date that
    day) collects the autopay invoices due by then."""
    runtime = runtime_for(database)
    try:
        with runtime.service_context(tenant_id_of(runtime, tenant)) as ctx:
            schedule = schedules.set_schedule(
                ctx, run_hour=hour, frequency=frequency, active=active
            )
            _print(schedule)
    except DomainError as exc:
        fail(exc)
    finally:
        runtime.dispose()


@app.command("show")
def show_schedule(tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    runtime = runtime_for(database)
    try:
        with runtime.service_context(tenant_id_of(runtime, tenant)) as ctx:
            _print(schedules.get_schedule(ctx))
    except DomainError as exc:
        fail(exc)
    finally:
        runtime.dispose()


@app.command("remove")
def remove_schedule(tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    runtime = runtime_for(database)
    try:
        with runtime.service_context(tenant_id_of(runtime, tenant)) as ctx:
            schedules.remove_schedule(ctx)
        console.print("Payment-run schedule removed.")
    except DomainError as exc:
        fail(exc)
    finally:
        runtime.dispose()
