"""Reading and advancing a sandbox tenant's test clock.

Advancing runs, in time order, what the installation's scheduler would have run for the
tenant had the time really passed (the scheduler itself leaves sandbox tenants alone):
each scheduled bill run at its execution time (generation, auto-posting, invoice emails
to the outbox, the next occurrence), each scheduled payment run at its run time, each
occurrence of the tenant's recurring payment-run schedule (``paymentruns.schedules``), and the
collections policy's daily evaluation at each of the tenant's midnights (standing,
dunning steps, payment retries through payment runs). Those instants are the only ones
at which work runs, whatever the target of one call is, so advancing a year in one call
and advancing it a day at a time leave the same rows with the same dates.

The work runs in the calling thread through a job runner of its own (not the process's
background worker), one step after another, so an advance returns when everything it
caused is done. Machine time (leases, tokens) never moves with a test clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from billcycle.billruns import repository as bill_runs
from billcycle.collections import daily as collections_daily
from billcycle.context import ServiceContext
from billcycle.errors import Conflict, InvalidValue, RuleViolation
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.jobs.runner import JobRunner
from billcycle.paymentruns import repository as payment_runs
from billcycle.paymentruns import schedules as payment_run_schedules
from billcycle.runtime import Runtime
from billcycle.tenancy import repository as tenants

# One call moves a clock at most this far (a typo of a year 20260 is refused, not run).
MAX_ADVANCE = timedelta(days=366 * 10)
RESOURCE = "TestClock"


@dataclass(frozen=True)
class ClockReading:
    tenant_id: int
    now: datetime
    today: date
    time_zone: str


@dataclass(frozen=True)
class Step:
    """One instant at which work ran."""

    at: datetime
    bill_runs: int
    payment_runs: int
    evaluated: int = 0  # collections days evaluated at this step (0 or 1)
    worked: bool = False  # anything ran or changed: the next midnight is evaluated


@dataclass
class Advanced:
    tenant_id: int
    started_at: datetime
    target: datetime
    now: datetime
    steps: int = 0
    bill_runs: int = 0
    payment_runs: int = 0
    days: int = 0  # business days moved on (midnights crossed)
    evaluations: int = 0  # collections days evaluated (the others had nothing due)


Progress = Callable[[datetime, Advanced], None]
# How a command moves a clock: (runtime, tenant, progress) -> what was done.
Mover = Callable[[Runtime, int, Progress | None], Advanced]


def read_clock(ctx: ServiceContext) -> ClockReading:
    """The sandbox tenant's clock; refused for a production tenant."""
    _require_sandbox(ctx)
    return ClockReading(
        tenant_id=ctx.tenant_id,
        now=ctx.clock.now(),
        today=ctx.clock.today(),
        time_zone=_zone(ctx).key,
    )


def _zone(ctx: ServiceContext) -> ZoneInfo:
    return ctx.clock.zone


def _require_sandbox(ctx: ServiceContext) -> datetime:
    instant = tenants.test_clock_at(ctx.session, ctx.tenant_id)
    if instant is None:
        raise RuleViolation(
            "This tenant has no test clock: only a sandbox tenant (created with --sandbox)"
            " has one, and a production tenant always reads the real time.",
            resource=RESOURCE,
        )
    return instant


def advance_by(
    runtime: Runtime, tenant_id: int, by: timedelta, progress: Progress | None = None
) -> Advanced:
    """Move the clock forward by ``by`` (see :func:`advance_to`)."""
    if by <= timedelta(0):
        raise InvalidValue("A test clock only moves forward: give a positive duration.")
    with runtime.service_context(tenant_id) as ctx:
        start = _require_sandbox(ctx)
    return advance_to(runtime, tenant_id, start + by, progress)


def advance_to(
    runtime: Runtime, tenant_id: int, to: datetime, progress: Progress | None = None
) -> Advanced:
    """Move the sandbox tenant's clock forward to ``to``, running everything due on the
    way; ``progress`` is told after each step."""
    if to.tzinfo is None:
        raise InvalidValue("The new clock time needs a time zone (e.g. 2027-01-01T00:00:00Z).")
    to = to.astimezone(UTC)
    with runtime.service_context(tenant_id) as ctx:
        start = _require_sandbox(ctx)
        zone = _zone(ctx)
    if to < start:
        raise InvalidValue(
            f"A test clock only moves forward: it is at {start.isoformat()}, later than"
            f" {to.isoformat()}."
        )
    if to - start > MAX_ADVANCE:
        raise InvalidValue("One advance moves a test clock at most 10 years.")
    work = _Work(runtime, tenant_id)
    done = Advanced(tenant_id=tenant_id, started_at=start, target=to, now=start)
    current = start
    # The collections day is evaluated at the first step, at each midnight something is
    # due (collections.daily.next_due_day) and at the midnight after any step at which
    # work ran; every other midnight would evaluate nothing, so it is not a step.
    evaluate_next = True
    while current < to:
        midnight = _midnight_after(current, zone)
        step_to = work.next_instant(current, to, midnight if evaluate_next else None, zone)
        work.move(current, step_to)
        if done.steps == 0 or _is_midnight(step_to, zone):
            evaluate = "evaluate"
        elif step_to == to:
            # The last day is marked evaluated as a day-by-day advance leaves it (its
            # midnight had nothing due, or it was evaluated then and this is a no-op).
            evaluate = "claim"
        else:
            evaluate = "none"  # the day was evaluated, or had nothing due, at its midnight
        step = work.run_due(step_to, evaluate)
        evaluate_next = step.worked
        done.steps += 1
        done.bill_runs += step.bill_runs
        done.payment_runs += step.payment_runs
        done.evaluations += step.evaluated
        current = done.now = step_to
        if progress is not None:
            progress(current, done)
    done.days = _days_between(start, to, zone)
    return done


def _is_midnight(instant: datetime, zone: ZoneInfo) -> bool:
    return instant.astimezone(zone).time() == time(0)


def _days_between(start: datetime, to: datetime, zone: ZoneInfo) -> int:
    """The tenant's midnights in (start, to]: the business days the advance moved on."""
    return (to.astimezone(zone).date() - start.astimezone(zone).date()).days


def _midnight_after(instant: datetime, zone: ZoneInfo) -> datetime:
    """The first midnight of the tenant's calendar after ``instant``."""
    local = instant.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(local, time(0), tzinfo=zone).astimezone(UTC)


class _Work:
    """The tenant's due work, run through a job runner of the advance's own."""

    def __init__(self, runtime: Runtime, tenant_id: int) -> None:
        # A view of the runtime whose tasks queue here, not on the process's worker.
        self.runtime = dataclasses.replace(runtime, dispatcher=None)
        self.dispatcher = ManualDispatcher()
        self.runtime.dispatcher = self.dispatcher
        self.runner = JobRunner(self.runtime, self.dispatcher)
        self.dispatcher.execute = self.runner.execute
        self.tenant_id = tenant_id

    def next_instant(
        self, current: datetime, to: datetime, midnight: datetime | None, zone: ZoneInfo
    ) -> datetime:
        """The next instant at which something is due: ``to``, ``midnight`` (given when
        the next midnight must be evaluated), a scheduled bill or payment run, an
        occurrence of the payment-run schedule, or the midnight of the next day the
        collections policy has something due."""
        candidates = [to]
        if midnight is not None:
            candidates.append(midnight)
        with self.runtime.service_context(self.tenant_id) as ctx:
            for found in (
                bill_runs.next_scheduled_time(ctx.session, self.tenant_id, current),
                payment_runs.next_scheduled_time(ctx.session, self.tenant_id, current),
                payment_run_schedules.next_time(ctx, current),
            ):
                if found is not None:
                    candidates.append(found)
            due_day = collections_daily.next_due_day(ctx, current.astimezone(zone).date())
        if due_day is not None:
            candidates.append(datetime.combine(due_day, time(0), tzinfo=zone).astimezone(UTC))
        return min(candidates)

    def move(self, current: datetime, to: datetime) -> None:
        with self.runtime.service_context(self.tenant_id) as ctx:
            if not tenants.move_test_clock(ctx.session, self.tenant_id, current, to):
                raise Conflict(
                    "The test clock was moved by another advance meanwhile; read it and try again.",
                    resource=RESOURCE,
                )

    def run_due(self, at: datetime, evaluate: str) -> Step:
        """Run what is due at ``at``; ``evaluate``: "evaluate" the day's collections,
        "claim" it only (its midnight had nothing due), or "none"."""
        with self.runtime.service_context(self.tenant_id) as ctx:
            due_bills = bill_runs.due_scheduled_runs(
                ctx.session, at, 10_000, tenant_id=self.tenant_id
            )
            today = ctx.clock.today()
        for _, run_id in due_bills:
            self.runner.dispatch("bill_run.start", tenant_id=self.tenant_id, run_id=run_id)
        self.dispatcher.run_until_idle()
        # The day's collections (standing, dunning, retries through payment runs), as the
        # ``collections.daily`` task runs them; the evaluation claims the day, so a
        # second step on the same day evaluates nothing.
        changed = False
        evaluated = 0
        if evaluate == "evaluate":
            with self.runner.context(self.tenant_id) as ctx:
                outcome = collections_daily.run_day(ctx, today)
            evaluated = int(outcome is not None)
            changed = outcome is not None and outcome.changed
        elif evaluate == "claim":
            with self.runner.context(self.tenant_id) as ctx:
                collections_daily.claim_only(ctx, today)
        self.dispatcher.run_until_idle()
        # The recurring payment-run schedule's occurrence (its run starts on commit).
        with self.runtime.service_context(self.tenant_id) as ctx:
            fired = payment_run_schedules.fire_due(ctx) is not None
        self.dispatcher.run_until_idle()
        with self.runtime.service_context(self.tenant_id) as ctx:
            due_payments = payment_runs.due_scheduled_runs(
                ctx.session, at, 10_000, tenant_id=self.tenant_id
            )
        for _, run_id in due_payments:
            self.runner.dispatch("payment_run.start", tenant_id=self.tenant_id, run_id=run_id)
        self.dispatcher.run_until_idle()
        payments = len(due_payments) + fired
        return Step(
            at,
            len(due_bills),
            payments,
            evaluated=evaluated,
            worked=bool(due_bills or payments or changed),
        )
