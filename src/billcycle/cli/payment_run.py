"""``billcycle payment-run``: payment runs from a terminal, for operators, and the only
way to cancel a Pending run (Zuora publishes no REST cancel).

On SQLite the command runs a worker in its own process while it waits; on PostgreSQL
the ``billcycle worker`` processes do the work and the command only watches.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from billcycle.cli.common import console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.cli.runs import RunProgress, fail, parse_date, run_key, watch
from billcycle.cli.serve import background
from billcycle.errors import DomainError
from billcycle.ids import is_ascii_digits, parse_zuora_id
from billcycle.money import from_minor
from billcycle.paymentruns import service
from billcycle.paymentruns.models import PaymentRun
from billcycle.paymentruns.repository import RunFilters
from billcycle.paymentruns.spec import Filters, Flags, PaymentRunSpec
from billcycle.paymentruns.statuses import PaymentRunStatus
from billcycle.runtime import Runtime

app = typer.Typer(help="Payment runs: create, watch, show, cancel, list.", no_args_is_help=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id or name")]
WaitOpt = Annotated[bool, typer.Option("--wait/--no-wait", help="Show progress until done")]
_BUSY = {PaymentRunStatus.PENDING, PaymentRunStatus.PROCESSING}


def _run_date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--run-date: '{text}' is not yyyy-mm-dd hh:mm:ss.")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _account(text: str | None) -> int | None:
    if text is None:
        return None
    found = parse_zuora_id(text) if not is_ascii_digits(text) else int(text)
    if found is None:
        fail(f"--account-id: '{text}' is not an account id.")
    return found


def _load(runtime: Runtime, tenant_id: int, key: str) -> PaymentRun:
    with runtime.service_context(tenant_id) as ctx:
        return service.find_payment_run(ctx, run_key(key))


def _watch(runtime: Runtime, tenant_id: int, key: str, *, timeout: float = 24 * 3600) -> None:
    """A progress bar over the run's receivables until it leaves Pending/Processing (a
    scheduled run is not waited for: it may be hours away)."""
    run = _load(runtime, tenant_id, key)
    if run.status == PaymentRunStatus.PENDING and run.run_date is not None:
        return

    def poll() -> RunProgress:
        found = _load(runtime, tenant_id, key)
        done = found.receivables_processed + found.receivables_failed
        return found.status, found.receivables_total or None, done

    watch(run.payment_run_number, poll, _BUSY, timeout=timeout)


def _show(runtime: Runtime, tenant_id: int, key: str) -> None:
    with runtime.service_context(tenant_id) as ctx:
        run = service.find_payment_run(ctx, run_key(key))
        summary = service.summary(ctx, run)
    table = Table(title=f"Payment run {run.payment_run_number}", show_header=False)
    flags = [
        name
        for name, on in (
            ("consolidatedPayment", run.consolidated_payment),
            ("autoApplyUnappliedPayment", run.auto_apply_unapplied_payment),
            ("applyCreditBalance", run.apply_credit_balance),
            ("collectPayment=false", not run.collect_payment),
            ("processPaymentWithClosedPM", run.process_payment_with_closed_pm),
            ("ignorePaymentRunRetryRule", run.ignore_payment_run_retry_rule),
        )
        if on
    ]
    rows = [
        ("id", f"{run.id:032x}"),
        ("status", run.status),
        ("target date", str(run.target_date or "")),
        ("run date", str(run.run_date or "")),
        ("executed", str(run.executed_on or "")),
        ("completed", str(run.completed_on or "")),
        ("flags", ", ".join(flags)),
        (
            "receivables",
            f"{run.receivables_processed + run.receivables_failed}/{run.receivables_total}",
        ),
        ("errors", str(summary.errors)),
        ("payments", str(summary.payments)),
    ]
    for totals in summary.totals:
        rows.append(
            (
                f"collected {totals.currency}",
                f"{from_minor(totals.collected_minor, totals.currency)} of "
                f"{from_minor(totals.receivables_minor, totals.currency)}",
            )
        )
    if run.error_message:
        rows.append(("error", run.error_message))
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


@app.command()
def create(
    tenant: TenantOpt,
    target_date: Annotated[
        str | None, typer.Option(help="yyyy-mm-dd: collect what is due by then (runs now)")
    ] = None,
    run_date: Annotated[
        str | None, typer.Option(help="yyyy-mm-dd hh:mm:ss (UTC): schedule the run")
    ] = None,
    account_id: Annotated[str | None, typer.Option(help="Only this account (id)")] = None,
    currency: Annotated[str | None, typer.Option(help="Only receivables in this currency")] = None,
    consolidated: Annotated[
        bool, typer.Option("--consolidated", help="One payment per account")
    ] = False,
    apply_unapplied: Annotated[
        bool, typer.Option("--apply-unapplied", help="Spend unapplied payments first")
    ] = False,
    no_collect: Annotated[
        bool, typer.Option("--no-collect", help="Charge nothing (only apply credit)")
    ] = False,
    ignore_retry_rule: Annotated[
        bool, typer.Option("--ignore-retry-rule", help="Charge methods the retry rule holds back")
    ] = False,
    wait: WaitOpt = True,
    database: DatabaseOpt = None,
) -> None:
    """Create a payment run (and watch it)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    spec = PaymentRunSpec(
        target_date=parse_date(target_date, "--target-date") if target_date else None,
        run_date=_run_date(run_date) if run_date else None,
        filters=Filters(account_id=_account(account_id), currency=currency),
        flags=Flags(
            consolidated_payment=consolidated,
            auto_apply_unapplied_payment=apply_unapplied,
            collect_payment=not no_collect,
            ignore_payment_run_retry_rule=ignore_retry_rule,
        ),
    )
    with background(runtime):
        try:
            with runtime.service_context(tenant_id) as ctx:
                run = service.create_payment_run(ctx, spec, created_by="cli")
                number = run.payment_run_number
        except DomainError as exc:
            fail(exc)
        console.print(f"created [bold]{number}[/bold]")
        if wait:
            _watch(runtime, tenant_id, number)
    _show(runtime, tenant_id, number)


@app.command()
def show(key: str, tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    """Show a payment run (id or PR- number) with its progress and totals."""
    runtime = runtime_for(database)
    try:
        _show(runtime, tenant_id_of(runtime, tenant), key)
    except DomainError as exc:
        fail(exc)


@app.command()
def cancel(key: str, tenant: TenantOpt, database: DatabaseOpt = None) -> None:
    """Cancel a Pending payment run (Zuora's REST API has no cancel)."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    try:
        with runtime.service_context(tenant_id) as ctx:
            service.cancel_payment_run(ctx, service.find_payment_run(ctx, run_key(key)))
    except DomainError as exc:
        fail(exc)
    _show(runtime, tenant_id, key)


@app.command("list")
def list_runs(
    tenant: TenantOpt,
    status: Annotated[str | None, typer.Option(help="Only runs in this status")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 20,
    database: DatabaseOpt = None,
) -> None:
    """List payment runs, newest first."""
    runtime = runtime_for(database)
    tenant_id = tenant_id_of(runtime, tenant)
    if status is not None and status not in set(PaymentRunStatus):
        fail(f"--status: use one of {', '.join(PaymentRunStatus)}.")
    with runtime.service_context(tenant_id) as ctx:
        runs, _ = service.list_payment_runs(ctx, RunFilters(status=status), 0, limit)
    table = Table("number", "status", "target date", "receivables", "errors")
    for run in runs:
        table.add_row(
            run.payment_run_number,
            run.status,
            str(run.target_date or run.run_date or ""),
            f"{run.receivables_processed + run.receivables_failed}/{run.receivables_total}",
            str(run.receivables_failed),
        )
    console.print(table)


# ``billcycle payment-run schedule ...``: the tenant's recurring schedule (own module).
from billcycle.cli import payment_run_schedule as _schedule  # noqa: E402

app.add_typer(_schedule.app, name="schedule")
