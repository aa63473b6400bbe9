"""Business time and machine time are two clocks.

Billing (today, invoice and due dates, event timestamps) reads the tenant's business
clock, in the tenant's time zone; leases, the reaper and token expiry read the machine
clock. Moving one must never move what depends on the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event
from typer.testing import CliRunner

from billcycle.cli.main import app as cli
from billcycle.clock import FrozenClock
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.errors import InvalidValue
from billcycle.jobs import chunks, wiring
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.jobs.registry import REGISTRY, chunk_handler
from billcycle.jobs.runner import JobRunner
from billcycle.runtime import Runtime
from billcycle.tenancy.repository import get_tenant
from billcycle.tenancy.service import NewTenant, create_tenant
from billcycle.web.app import create_app
from billcycle.web.units import Units

KIND = "clock_test"


class _Nothing:
    """The handler of this file's chunks: the reaper drains only kinds with a handler, and
    a tick in a later test of the same process may drain these chunks."""

    def process(self, runner: Any, ctx: Any, chunk: Any) -> None:
        return None

    def give_up(self, runner: Any, ctx: Any, chunk: Any, error: str) -> None:
        return None


if KIND not in REGISTRY.chunk_handlers:
    chunk_handler(KIND, _Nothing())


def _tenant(runtime: Runtime, name: str, time_zone: str = "UTC") -> NewTenant:
    with unit_of_work(runtime.session_factory) as session:
        return create_tenant(session, runtime.clock, name, time_zone=time_zone)


def _bearer(client: TestClient, tenant: NewTenant) -> dict[str, str]:
    response = client.post(
        "/zuora/oauth/token",
        data={
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "grant_type": "client_credentials",
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# -- leases: machine time ----------------------------------------------------------------------


def _plan_and_claim(runtime: Runtime, tenant: NewTenant, worker: str | None) -> TaskCall:
    """One chunk of work (its parent is the tenant: one per test); ``worker`` (when
    given) claims it and then dies holding it. Returns the drain that would resume it."""
    lease = timedelta(seconds=runtime.settings.worker_lease_seconds)
    with unit_of_work(runtime.session_factory) as session:
        chunks.plan(
            session,
            tenant_id=tenant.tenant_id,
            kind=KIND,
            parent_id=tenant.tenant_id,
            ranges=[chunks.ChunkRange(first_id=1, last_id=10, size=10)],
            now=runtime.machine_clock.now(),
        )
        if worker is not None:
            claimed = chunks.claim_next(
                session,
                kind=KIND,
                parent_id=tenant.tenant_id,
                worker=worker,
                now=runtime.machine_clock.now(),
                lease=lease,
            )
            assert claimed is not None
    return TaskCall("drain", {"kind": KIND, "parent_id": tenant.tenant_id})


def _claimable(runtime: Runtime, tenant: NewTenant) -> bool:
    """Whether another worker could take the chunk over now (it then gives it back)."""
    with unit_of_work(runtime.session_factory) as session:
        taken = chunks.claim_next(
            session,
            kind=KIND,
            parent_id=tenant.tenant_id,
            worker="rescuer",
            now=runtime.machine_clock.now(),
            lease=timedelta(seconds=1),
        )
        if taken is not None:
            session.rollback()
    return taken is not None


def _reaped(runtime: Runtime) -> list[TaskCall]:
    """The drains the reaper dispatches now (the database is shared with other tests:
    callers look for their own chunk's)."""
    dispatcher = ManualDispatcher()
    JobRunner(runtime, dispatcher).reap()
    return dispatcher.pending


def test_a_lease_expires_on_machine_time_while_business_time_stands_still(
    runtime: Runtime, tenant: NewTenant, clock: FrozenClock, machine_clock: FrozenClock
) -> None:
    resume = _plan_and_claim(runtime, tenant, worker="doomed")
    lease = timedelta(seconds=runtime.settings.worker_lease_seconds)
    business_before = clock.now()

    # A month of billing time passes (a test clock's jump): the lease holds.
    clock.advance(timedelta(days=31))
    assert resume not in _reaped(runtime)
    assert not _claimable(runtime, tenant)

    # The lease's length in machine time passes; billing time does not move.
    clock.set(business_before)
    machine_clock.advance(lease + timedelta(seconds=1))
    assert resume in _reaped(runtime)
    assert _claimable(runtime, tenant)
    assert clock.now() == business_before


def test_a_pending_chunk_goes_stale_on_machine_time_only(
    runtime: Runtime, tenant: NewTenant, clock: FrozenClock, machine_clock: FrozenClock
) -> None:
    """A chunk whose drain job was lost is re-dispatched after the lease's length of
    machine time, however far the business clock jumps meanwhile."""
    resume = _plan_and_claim(runtime, tenant, worker=None)
    clock.advance(timedelta(days=365))
    assert resume not in _reaped(runtime)
    machine_clock.advance(timedelta(seconds=runtime.settings.worker_lease_seconds + 1))
    assert resume in _reaped(runtime)


# -- token expiry: machine time ----------------------------------------------------------------


@pytest.fixture
def short_tokens(runtime: Runtime) -> Iterator[TestClient]:
    """The app of a process whose access tokens live 60 seconds."""
    settings = runtime.settings.model_copy(update={"access_token_ttl_seconds": 60})
    process = Runtime(
        settings=settings,
        engine=runtime.engine,
        session_factory=runtime.session_factory,
        clock=runtime.clock,
        machine_clock=runtime.machine_clock,
    )
    wiring.manual(process)
    with TestClient(create_app(process)) as client:
        yield client


def test_token_expiry_follows_machine_time(
    short_tokens: TestClient, tenant: NewTenant, clock: FrozenClock, machine_clock: FrozenClock
) -> None:
    headers = _bearer(short_tokens, tenant)
    products = "/zuora/v1/catalog/products"
    clock.advance(timedelta(days=400))
    assert short_tokens.get(products, headers=headers).status_code == 200
    machine_clock.advance(timedelta(seconds=61))
    response = short_tokens.get(products, headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["reasons"][0]["message"]


# -- billing dates: the tenant's time zone -----------------------------------------------------


@pytest.mark.parametrize(
    ("time_zone", "instant", "expected"),
    [
        ("UTC", datetime(2026, 1, 10, 23, 30, tzinfo=UTC), date(2026, 1, 10)),
        ("Europe/Paris", datetime(2026, 1, 10, 23, 30, tzinfo=UTC), date(2026, 1, 11)),
        ("Asia/Tokyo", datetime(2026, 1, 10, 15, 0, tzinfo=UTC), date(2026, 1, 11)),
        ("America/New_York", datetime(2026, 1, 11, 3, 0, tzinfo=UTC), date(2026, 1, 10)),
        # Summer time: Paris is UTC+2 in July, so 22:30 UTC is already the next day.
        ("Europe/Paris", datetime(2026, 7, 10, 22, 30, tzinfo=UTC), date(2026, 7, 11)),
    ],
)
def test_today_is_the_tenant_local_date_of_the_instant(
    runtime: Runtime, clock: FrozenClock, time_zone: str, instant: datetime, expected: date
) -> None:
    tenant = _tenant(runtime, f"in {time_zone}", time_zone)
    clock.set(instant)
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert ctx.clock.today() == expected
        assert ctx.clock.now() == instant  # instants stay UTC
        assert ctx.clock.now().utcoffset() == timedelta(0)


def test_a_tenant_east_of_utc_bills_tomorrow_at_2330_utc(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, clock: FrozenClock
) -> None:
    """An ad hoc bill run's default invoice date is the tenant's today."""
    paris = _tenant(runtime, "paris", "Europe/Paris")
    clock.set(datetime(2026, 1, 10, 23, 30, tzinfo=UTC))
    body = {"batches": ["AllBatches"], "targetDate": "2026-02-01"}
    with TestClient(app) as client:
        dates = {}
        for who in (tenant, paris):
            response = client.post("/zuora/v1/bill-runs", json=body, headers=_bearer(client, who))
            assert response.status_code == 200, response.text
            dates[who.tenant_id] = response.json()["invoiceDate"]
    assert dates == {tenant.tenant_id: "2026-01-10", paris.tenant_id: "2026-01-11"}


def test_a_tenant_s_zone_costs_no_query_per_request(runtime: Runtime) -> None:
    tenant = _tenant(runtime, "tokyo", "Asia/Tokyo")
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    units = Units(runtime, tenant.tenant_id)
    event.listen(runtime.engine, "before_cursor_execute", record)
    try:
        first = units.read(lambda ctx: ctx.clock.today())
        after_first = len(seen)
        later = [units.read(lambda ctx: ctx.clock.today()) for _ in range(3)]
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)
    assert after_first == 1  # the zone, read once
    assert len(seen) == after_first  # then remembered
    assert later == [first] * 3


# -- the tenant's time zone ------------------------------------------------------------------


def test_a_tenant_is_utc_unless_told_otherwise(runtime: Runtime, tenant: NewTenant) -> None:
    with unit_of_work(runtime.session_factory) as session:
        row = get_tenant(session, tenant.tenant_id)
        assert row is not None
        assert row.time_zone == "UTC"


@pytest.mark.parametrize("bad", ["Europe/Nowhere", "europe/paris", "", "Europe", "../etc/passwd"])
def test_an_unknown_time_zone_is_refused(runtime: Runtime, bad: str) -> None:
    with (
        pytest.raises(InvalidValue, match="Unknown time zone"),
        unit_of_work(runtime.session_factory) as session,
    ):
        create_tenant(session, runtime.clock, "nowhere", time_zone=bad)


def test_the_cli_creates_a_tenant_in_a_time_zone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade", "--database", url]).exit_code == 0

    bad = runner.invoke(
        cli, ["tenant", "create", "Acme", "--time-zone", "Mars/Olympus", "--database", url]
    )
    assert bad.exit_code != 0
    assert bad.stderr.strip().splitlines() == [
        "Error: Unknown time zone 'Mars/Olympus': use an IANA name such as Europe/Paris or UTC."
    ]

    good = runner.invoke(
        cli,
        ["tenant", "create", "Acme", "--json", "--time-zone", "Europe/Paris", "--database", url],
    )
    assert good.exit_code == 0, good.output
    tenant_id = int(json.loads(good.stdout)["entityId"], 16)
    engine = make_engine(url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            row = get_tenant(session, tenant_id)
            assert row is not None
            assert row.time_zone == "Europe/Paris"
    finally:
        engine.dispose()
