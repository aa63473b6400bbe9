"""A recurring payment-run schedule on a sandbox tenant: advancing its clock fires the
schedule's daily runs in time order, so autopay invoices are collected on their due
date and a customer who pays is never in PoorStanding; advancing in one call leaves the
same rows as advancing a day at a time."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from billcycle.accounts import service as accounts
from billcycle.cli.main import app as main
from billcycle.clock import FrozenClock
from billcycle.collections import policy
from billcycle.collections import repository as collections_repo
from billcycle.collections.statuses import AccountStanding
from billcycle.db.session import unit_of_work
from billcycle.errors import InvalidValue
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.operators import service as operators
from billcycle.paymentruns import schedules
from billcycle.paymentruns.models import PaymentRun
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from billcycle.testclocks import service as clocks
from tests.testclocks.helpers import sandbox, snapshot, year_of_billing

cli = CliRunner()
DAYS = 82  # from 2026-01-10 09:00 to Apr 2: the Feb 1 and Mar 1 invoices fall due (Net 30)


def _schedule(runtime: Runtime, tenant_id: int, hour: int) -> None:
    with runtime.service_context(tenant_id) as ctx:
        schedules.set_schedule(ctx, run_hour=hour)


def test_scheduled_runs_collect_on_the_due_date_the_same_at_once_or_daily(
    app: FastAPI, runtime: Runtime, clock: FrozenClock
) -> None:
    started = clock.now()
    with TestClient(app) as client:
        at_once = year_of_billing(runtime, sandbox(runtime, client, "sched-at-once"))
        daily = year_of_billing(runtime, sandbox(runtime, client, "sched-daily"))
    one, other = at_once.api.tenant.tenant_id, daily.api.tenant.tenant_id
    for tenant_id in (one, other):
        _schedule(runtime, tenant_id, 8)  # after the 06:00 bill runs

    done = clocks.advance_by(runtime, one, timedelta(days=DAYS))
    # One a day, 08:00 of Jan 11 ... Apr 2 (beside the dunning retries' own runs).
    assert done.payment_runs >= DAYS
    for _ in range(DAYS):
        clocks.advance_by(runtime, other, timedelta(days=1))
    book = snapshot(runtime, one)
    assert book == snapshot(runtime, other)
    assert {status for _, status, *_ in book["payment_runs"]} == {"Completed"}
    scheduled = [r for r in book["payment_runs"] if r[3].hour == 8]
    assert [r[2] for r in scheduled] == [
        (started + timedelta(days=n)).date() for n in range(1, DAYS + 1)
    ]

    with runtime.service_context(one) as ctx:
        numbers = {
            account_id: accounts.require_account(ctx, account_id).account_number
            for account_id in at_once.good + at_once.declining
        }
    good = {numbers[a] for a in at_once.good}
    (declining,) = {numbers[a] for a in at_once.declining}
    # Every good invoice due by the end was collected ON its due date.
    end = (started + timedelta(days=DAYS)).date()
    owed = sorted(
        (account, due)
        for account, _, _, due, *_ in book["invoices"]
        if account in good and due <= end
    )
    assert len(owed) == 4  # Mar 3 and Mar 31, for each good account
    collected = sorted((p[0], p[4]) for p in book["payments"] if p[0] in good)
    assert collected == owed
    assert all(p[3] == "Processed" for p in book["payments"] if p[0] in good)
    # ... so the good accounts never left Good standing; the declining one did.
    changed = {account for account, kind, _ in book["events"] if kind == "StandingChanged"}
    assert changed == {declining}
    # The declining card was first tried on its due date, by the schedule's run.
    first_due = min(due for account, _, _, due, *_ in book["invoices"] if account == declining)
    assert min(p[4] for p in book["payments"] if p[0] == declining) == first_due
    with runtime.service_context(one) as ctx:
        for account_id in at_once.good:
            row = collections_repo.get_account_row(ctx.session, one, account_id)
            assert policy.shown_standing(row) == AccountStanding.GOOD


def test_a_schedule_is_validated_replaced_and_removed(
    app: FastAPI, runtime: Runtime, clock: FrozenClock
) -> None:
    with TestClient(app) as client:
        api = sandbox(runtime, client, "sched-edit")
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        for bad in (-1, 24, True):
            with pytest.raises(InvalidValue):
                schedules.set_schedule(ctx, run_hour=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidValue):
            schedules.set_schedule(ctx, run_hour=3, frequency="Hourly")
        made = schedules.set_schedule(ctx, run_hour=3)
        # 2026-01-10 09:00 UTC: the next 03:00 is tomorrow's.
        assert made.next_run_at == clock.now().replace(hour=3) + timedelta(days=1)
        again = schedules.set_schedule(ctx, run_hour=23)
        assert again.id == made.id
        assert again.next_run_at == clock.now().replace(hour=23)
    clocks.advance_by(runtime, tenant_id, timedelta(days=2))
    with runtime.service_context(tenant_id) as ctx:
        schedule = schedules.get_schedule(ctx)
        assert schedule.next_run_at == clock.now().replace(hour=23) + timedelta(days=2)
        assert schedule.last_run_id is not None
        schedules.remove_schedule(ctx)
        assert schedules.find_schedule(ctx) is None


def test_the_schedule_through_the_admin_api_and_the_cli(
    app: FastAPI, runtime: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    with unit_of_work(runtime.session_factory) as session:
        key = operators.create_operator_key(session, runtime.clock, "op-schedule").key
    with TestClient(app) as client:
        api = sandbox(runtime, client, "sched-admin")
    base = f"/billcycle/v1/tenants/{api.tenant.tenant_id}/payment-run-schedule"
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as admin:
        assert admin.get(base).status_code == 404
        assert admin.put(base, json={"run_hour": 24}).status_code == 422
        assert admin.put(base, json={"run_hour": 5, "frequency": "Hourly"}).status_code == 422
        assert admin.put(base, json={"run_hour": 5, "extra": 1}).status_code == 422
        made = admin.put(base, json={"run_hour": 10})
        assert made.status_code == 200, made.text
        # 2026-01-10 09:00 UTC: 10:00 today is next.
        assert made.json()["next_run_at"].startswith("2026-01-10T10:00:00")
        assert admin.get(base).json()["run_hour"] == 10
        assert (
            admin.put("/billcycle/v1/tenants/999999/payment-run-schedule", json={"run_hour": 1})
        ).status_code == 404
        assert admin.delete(base).status_code == 204
        assert admin.delete(base).status_code == 404

    url = f"sqlite:///{tmp_path / 'schedule.db'}"
    assert cli.invoke(main, ["db", "upgrade", "--database", url]).exit_code == 0
    made = cli.invoke(main, ["tenant", "create", "play", "--sandbox", "--database", url])
    assert made.exit_code == 0, made.output
    absent = cli.invoke(
        main, ["payment-run", "schedule", "show", "--tenant", "play", "--database", url]
    )
    assert absent.exit_code == 1
    assert "no payment-run schedule" in absent.output
    set_ = cli.invoke(
        main,
        ["payment-run", "schedule", "set", "--tenant", "play", "--hour", "6", "--database", url],
    )
    assert set_.exit_code == 0, set_.output
    assert "06:00" in set_.output
    moved = cli.invoke(
        main, ["clock", "advance", "--tenant", "play", "--days", "2", "--database", url]
    )
    assert moved.exit_code == 0, moved.output
    shown = cli.invoke(
        main, ["payment-run", "schedule", "show", "--tenant", "play", "--database", url]
    )
    assert shown.exit_code == 0, shown.output
    assert "Last run" in shown.output
    assert "T06:00:00" in shown.output
    runs = cli.invoke(main, ["payment-run", "list", "--tenant", "play", "--database", url])
    assert runs.exit_code == 0, runs.output
    assert runs.output.count("Completed") == 2
    gone = cli.invoke(
        main, ["payment-run", "schedule", "remove", "--tenant", "play", "--database", url]
    )
    assert gone.exit_code == 0, gone.output


def test_the_scheduler_tick_fires_a_production_tenants_schedule_once_per_occurrence(
    app: FastAPI, runtime: Runtime, clock: FrozenClock, jobs: ManualDispatcher, tenant: NewTenant
) -> None:
    """A production tenant reads the real (here: the test's frozen) clock; its schedule
    fires on the scheduler's tick, once per occurrence, with that day as target date; a
    sandbox tenant's schedule is left to its test clock."""
    with TestClient(app) as client:
        play = sandbox(runtime, client, "sched-sandbox")
    _schedule(runtime, tenant.tenant_id, 10)  # the clock says 2026-01-10 09:00 UTC
    _schedule(runtime, play.tenant.tenant_id, 10)

    def runs(tenant_id: int) -> list[tuple[object, ...]]:
        with runtime.service_context(tenant_id) as ctx:
            return [
                (r.target_date, r.status, r.created_by_id)
                for r in ctx.session.scalars(
                    select(PaymentRun)
                    .where(PaymentRun.tenant_id == tenant_id)
                    .order_by(PaymentRun.target_date)
                )
            ]

    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    assert runs(tenant.tenant_id) == []
    clock.advance(timedelta(hours=1))  # 10:00
    for _ in range(2):
        jobs.dispatch(TaskCall("tick"))
        jobs.run_until_idle()
    assert runs(tenant.tenant_id) == [(date(2026, 1, 10), "Completed", "payment-run schedule")]
    # Down for three days: one run, for the latest occurrence.
    clock.advance(timedelta(days=3, hours=2))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    assert [r[0] for r in runs(tenant.tenant_id)] == [date(2026, 1, 10), date(2026, 1, 13)]
    assert runs(play.tenant.tenant_id) == []
