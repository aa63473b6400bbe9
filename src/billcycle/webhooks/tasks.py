"""Webhook background work: fan-out on every scheduler tick (and on demand), one
delivery task per endpoint with due deliveries."""

from __future__ import annotations

from billcycle.db.session import unit_of_work
from billcycle.jobs.registry import periodic, task
from billcycle.jobs.runner import JobRunner
from billcycle.webhooks import delivery
from billcycle.webhooks import repository as repo

DELIVER = "webhook.deliver"


@task("webhook.fan_out")
def fan_out(runner: JobRunner) -> None:
    for endpoint_id in sorted(delivery.fan_out(runner.runtime)):
        runner.dispatch(DELIVER, endpoint_id=endpoint_id)


@task(DELIVER)
def deliver(runner: JobRunner, *, endpoint_id: int) -> None:
    delivery.deliver_endpoint(runner.runtime, endpoint_id)


# Events fanned out by one scheduler tick; more are left to a webhook.fan_out task, so
# a tick stays short after a big bill run with per-invoice events.
TICK_BATCHES = 10


@periodic
def webhooks_tick(runner: JobRunner) -> None:
    """New events to fan out, then a delivery task per endpoint with work due. On
    SQLite the fan-out does not wait for another writer's lock: the next tick fans out
    what this one left (``delivery.fan_out_some``)."""
    touched, more = delivery.fan_out_some(
        runner.runtime, max_batches=TICK_BATCHES, wait_for_writers=False
    )
    if more:
        runner.dispatch("webhook.fan_out")
    with unit_of_work(runner.runtime.session_factory) as session:
        due = set(repo.endpoints_with_due_deliveries(session, runner.runtime.machine_clock.now()))
    for endpoint_id in sorted(touched | due):
        runner.dispatch(DELIVER, endpoint_id=endpoint_id)
