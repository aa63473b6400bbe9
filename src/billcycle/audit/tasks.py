"""Retention: audit events past ``BILLCYCLE_AUDIT_RETENTION_DAYS`` and idempotency keys
past their 24 hours are deleted by the scheduler, at most once an hour per process (two
indexed DELETEs; ``billcycle audit purge`` does the same at once)."""

from __future__ import annotations

import time

from billcycle.audit import service
from billcycle.db.session import unit_of_work
from billcycle.jobs.registry import periodic
from billcycle.jobs.runner import JobRunner
from billcycle.requestkeys import service as requestkeys

PURGE_EVERY_SECONDS = 3600.0
_last_purge: list[float] = []


@periodic
def purge_expired(runner: JobRunner) -> None:
    now_mono = time.monotonic()
    if _last_purge and now_mono - _last_purge[0] < PURGE_EVERY_SECONDS:
        return
    _last_purge[:] = [now_mono]
    runtime = runner.runtime
    now = runtime.machine_clock.now()
    with unit_of_work(runtime.session_factory) as session:
        service.purge(session, now, runtime.settings.audit_retention_days)
        requestkeys.purge_expired(session, now)
