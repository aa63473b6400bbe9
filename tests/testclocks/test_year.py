"""The issue's done-when: a sandbox tenant advanced by a year shows twelve invoices per
account, payments collected through the test gateway, a declined card retried on the
dunning days and the account's standing moving as the policy says; and advancing the
year in one call leaves the same rows and dates as advancing it one day at a time (each
half-year compared in a test of its own)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from billcycle.accounts import service as accounts
from billcycle.clock import FrozenClock
from billcycle.collections import policy
from billcycle.collections import repository as collections_repo
from billcycle.collections.statuses import AccountStanding
from billcycle.runtime import Runtime
from billcycle.testclocks import service as clocks
from tests.testclocks.helpers import sandbox, snapshot, year_of_billing

YEAR = timedelta(days=365)
HALF_DAYS = 182  # 2026-01-10 -> 2026-07-11: six bill runs (Feb 1 ... Jul 1)


@pytest.mark.parametrize("half", [0, 1], ids=["first-half", "second-half"])
def test_a_year_day_by_day_equals_a_year_at_once(
    app: FastAPI, runtime: Runtime, clock: FrozenClock, machine_clock: FrozenClock, half: int
) -> None:
    """Two sandboxes billed alike; one crosses its half-year in one call, the other one
    day at a time, and their books are equal. The year is cut in two halves, each a test
    of its own (the suite runs them side by side; a year day by day in one test outlasted
    the per-test timeout on a loaded machine): the second half starts both sandboxes
    from the same state, the first half advanced in one call, the half that the first
    test proved equal to advancing it day by day."""
    started = clock.now()
    machine_started = machine_clock.now()
    with TestClient(app) as client:
        at_once = year_of_billing(runtime, sandbox(runtime, client, "year-at-once"))
        daily = year_of_billing(runtime, sandbox(runtime, client, "year-day-by-day"))
    one, other = at_once.api.tenant.tenant_id, daily.api.tenant.tenant_id
    if half:
        for tenant_id in (one, other):
            clocks.advance_by(runtime, tenant_id, timedelta(days=HALF_DAYS))
    days = HALF_DAYS if half == 0 else 365 - HALF_DAYS
    clocks.advance_by(runtime, one, timedelta(days=days))
    for _ in range(days):
        clocks.advance_by(runtime, other, timedelta(days=1))
    # Neither real business time nor machine time moved.
    assert (clock.now(), machine_clock.now()) == (started, machine_started)
    book = snapshot(runtime, one)
    assert book == snapshot(runtime, other)
    # Each half bills: Feb 1 ... Jul 1 in the first, Aug 1 ... Jan 1 in the second.
    posted = [run for run in book["bill_runs"] if run[1] == "Posted"]
    assert len(posted) == (6 if half == 0 else 12)
    assert len({p[4] for p in book["payments"]}) > 10  # collections and retries in it


def test_a_year_in_one_call_bills_collects_and_dunns(
    app: FastAPI, runtime: Runtime, clock: FrozenClock, machine_clock: FrozenClock
) -> None:
    started = clock.now()
    machine_started = machine_clock.now()
    with TestClient(app) as client:
        at_once = year_of_billing(runtime, sandbox(runtime, client, "year-at-once"))
    one = at_once.api.tenant.tenant_id

    done = clocks.advance_by(runtime, one, YEAR)
    assert (done.started_at, done.now) == (started, started + YEAR)
    assert done.bill_runs == 12  # Feb 1, 2026 ... Jan 1, 2027 at 06:00 UTC
    # Neither real business time nor machine time moved.
    assert (clock.now(), machine_clock.now()) == (started, machine_started)

    book = snapshot(runtime, one)

    by_account: dict[str, list[tuple[object, ...]]] = {}
    for row in book["invoices"]:
        by_account.setdefault(str(row[0]), []).append(row)
    assert len(by_account) == 3
    for rows in by_account.values():
        assert len(rows) == 12
        assert all(status == "Posted" for *_, status, _posted, _emailed in rows)
        # The first run billed January and February; each later run one month ahead.
        assert [amount for _, _, _, _, amount, *_ in rows] == [6000] + [3000] * 11

    with runtime.service_context(one) as ctx:
        numbers = {
            account_id: accounts.require_account(ctx, account_id).account_number
            for account_id in at_once.good + at_once.declining
        }
    good = {numbers[a] for a in at_once.good}
    (declining,) = {numbers[a] for a in at_once.declining}
    paid = [p for p in book["payments"] if p[0] in good]
    # Every invoice due within the year was collected the day after it fell due.
    collected = [(p[0], p[4]) for p in paid if p[3] == "Processed"]
    owed = [
        (account, due + timedelta(days=1))
        for account, _, _, due, *_ in book["invoices"]
        if account in good and due + timedelta(days=1) <= (started + YEAR).date()
    ]
    assert sorted(collected) == sorted(owed)
    assert all(p[3] == "Processed" for p in paid)

    # The declined card: tried 1, 3 and 5 days after each due date, never paid.
    tried = sorted(p[4] for p in book["payments"] if p[0] == declining)
    assert all(p[3] == "Error" for p in book["payments"] if p[0] == declining)
    expected_days = sorted(
        due + timedelta(days=n)
        for account, _, _, due, *_ in book["invoices"]
        if account == declining
        for n in (1, 3, 5)
        if due + timedelta(days=n) <= (started + YEAR).date()
    )
    assert tried == expected_days
    assert len(tried) >= 30
    # Standing: poor from the first failed attempt day on; the good accounts stay good.
    first_failure = min(expected_days)
    standing_changes = [
        day
        for account, kind, day in book["events"]
        if kind == "StandingChanged" and account == declining
    ]
    assert standing_changes == [first_failure]
    with runtime.service_context(one) as ctx:
        for account_id, expected in [
            *((a, AccountStanding.GOOD) for a in at_once.good),
            *((a, AccountStanding.POOR_STANDING) for a in at_once.declining),
        ]:
            row = collections_repo.get_account_row(ctx.session, one, account_id)
            assert policy.shown_standing(row) == expected
    assert datetime(2027, 1, 10, 9, tzinfo=UTC) == started + YEAR
