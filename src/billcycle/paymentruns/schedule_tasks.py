"""The scheduler's hook for payment-run schedules: on every tick, fire the schedules of
production tenants whose occurrence has come (each tenant in its own unit of work; the
run it creates starts once that commits)."""

from __future__ import annotations

import logging

from billcycle.jobs.registry import periodic
from billcycle.jobs.runner import JobRunner
from billcycle.paymentruns import schedules

log = logging.getLogger(__name__)


@periodic
def fire_payment_run_schedules(runner: JobRunner) -> None:
    with runner.runtime.service_context(0) as ctx:
        due = schedules.due_tenants(ctx)
    for tenant_id in due:
        try:
            with runner.runtime.service_context(tenant_id) as ctx:
                schedules.fire_due(ctx)
        except Exception:
            log.exception("payment-run schedule of tenant %s failed to fire", tenant_id)
