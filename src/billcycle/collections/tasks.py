"""Collections' background work: the daily evaluation, ticked by the scheduler, and the
payment emails.

Each tick reads the last evaluated business day of every tenant with dunning turned on
(one query; a tenant that never set its policy has it off) and dispatches
``collections.daily`` for each tenant whose business clock has reached a new day; the
task claims the day itself, so ticks that overlap evaluate nothing twice.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING

from billcycle.collections import daily, emails
from billcycle.collections import repository as repo
from billcycle.jobs.registry import periodic, task

if TYPE_CHECKING:
    from billcycle.jobs.runner import JobRunner

log = logging.getLogger(__name__)


@periodic
def start_daily_evaluations(runner: JobRunner) -> None:
    runtime = runner.runtime
    due: list[tuple[int, date]] = []
    with runtime.service_context(0) as ctx:
        for tenant_id, evaluated_on in repo.evaluation_marks(ctx.session):
            today = runtime.business_clock(ctx.session, tenant_id).today()
            if evaluated_on is None or evaluated_on < today:
                due.append((tenant_id, today))
    for tenant_id, today in due:
        runner.dispatch("collections.daily", tenant_id=tenant_id, day=today.isoformat())


@task("collections.daily")
def evaluate_day(runner: JobRunner, *, tenant_id: int, day: str) -> None:
    with runner.context(tenant_id) as ctx:
        outcome = daily.run_day(ctx, date.fromisoformat(day))
    if outcome is not None:
        log.info("collections %s for tenant %s: %s attempts", day, tenant_id, len(outcome.attempts))


@task("collections.payment_emails")
def send_payment_emails(
    runner: JobRunner, *, tenant_id: int, notices: list[tuple[int, bool, str | None]]
) -> None:
    """The emails of one batch of payment outcomes (``notices``: payment id, succeeded,
    gateway message), through one mailer session."""
    emails.send_payment_emails(
        runner.runtime,
        tenant_id,
        [emails.PaymentNotice(int(p), bool(ok), message) for p, ok, message in notices],
    )


# One payment's email: tasks queued before the batch task existed.
@task("collections.payment_email")
def send_payment_email(
    runner: JobRunner, *, tenant_id: int, payment_id: int, succeeded: bool, message: str | None
) -> None:
    emails.send_payment_email(runner.runtime, tenant_id, payment_id, succeeded, message)
