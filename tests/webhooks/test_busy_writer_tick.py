"""SQLite: the scheduler's webhook tick does not wait for another writer's lock.

A long unit of work (a 10k sandbox's collections day holds the write lock for its whole
transaction) used to make the tick's fan-out wait out the 30 s busy timeout and fail
with "database is locked", logged as an error. Now the tick leaves the fan-out to the
next tick, quietly (a debug log and ``billcycle_webhook_fan_out_skipped``), and the next
tick delivers what it left: nothing is lost.
"""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from billcycle.clock import FrozenClock
from billcycle.db.engine import begin_sqlite_write
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.jobs.runner import JobRunner
from billcycle.runtime import Runtime
from billcycle.webhooks.tasks import webhooks_tick
from tests.accounts.factories import new_account
from tests.support.api import Api
from tests.webhooks.helpers import add_endpoint, real_time, receiver

SKIPPED = "billcycle_webhook_fan_out_skipped_total"


def _skipped() -> float:
    return REGISTRY.get_sample_value(SKIPPED) or 0.0


def test_a_tick_finding_the_write_lock_taken_skips_quietly_and_the_next_tick_delivers(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    machine_clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's fan-out skips locked rows: it never waits for a writer")
    real_time(machine_clock)
    caplog.set_level(logging.DEBUG, logger="billcycle")
    tenant_id = api.tenant.tenant_id
    runner = JobRunner(runtime, jobs)
    with receiver() as hook:
        add_endpoint(runtime, tenant_id, hook.url, "account.created")
        # The database is shared by the worker's tests: a tick now sends what earlier
        # tests left due, so that the ticks below have only this test's work.
        webhooks_tick(runner)
        jobs.run_until_idle()
        caplog.clear()
        with runtime.service_context(tenant_id) as ctx:
            new_account(ctx, name="Busy Writer Ltd")
        before = _skipped()
        # Another writer holds SQLite's write lock (as the advance's collections day does).
        raw = runtime.engine.raw_connection()
        begin_sqlite_write(raw.driver_connection)
        try:
            webhooks_tick(runner)
            jobs.run_until_idle()
        finally:
            raw.driver_connection.rollback()  # type: ignore[union-attr]
            raw.close()
        assert hook.received == []
        assert _skipped() == before + 1
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("fan-out skipped" in r.getMessage() for r in caplog.records)
        # The lock is free: the next tick fans out the event and it is delivered, once.
        webhooks_tick(runner)
        jobs.run_until_idle()
        assert len(hook.of_type("account.created")) == 1
        assert _skipped() == before + 1
        webhooks_tick(runner)
        jobs.run_until_idle()
        assert len(hook.received) == 1
