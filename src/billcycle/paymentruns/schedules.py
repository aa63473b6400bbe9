"""A tenant's recurring payment-run schedule: every day at an hour of the tenant's time
zone, one payment run whose target date is that day.

Why: an autopay invoice is otherwise first charged by the dunning attempt the day after
its due date, so a customer who pays would spend a day in PoorStanding every month.
Zuora charges autopay invoices on their due date through scheduled payment runs
(configured in its UI); this is that schedule. The scheduler's tick fires due schedules
of production tenants (``schedule_tasks``); a sandbox tenant's fire when its test clock
is advanced past them (``testclocks``).

An occurrence fires once: the schedule's ``next_run_at`` moves from the occurrence to
the next by a conditional UPDATE in the transaction that creates the run. A scheduler
that was down for days makes one run, for the latest occurrence (its target date
collects everything due by then), not one per missed day.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound
from billcycle.paymentruns import schedule_repository as repo
from billcycle.paymentruns import service as runs
from billcycle.paymentruns.models import PaymentRun
from billcycle.paymentruns.schedule_models import PaymentRunSchedule
from billcycle.paymentruns.spec import PaymentRunSpec

RESOURCE = "PaymentRunSchedule"


class Frequency(StrEnum):
    DAILY = "Daily"


def occurrence_on(day: datetime, hour: int, zone: ZoneInfo) -> datetime:
    """The schedule's instant (UTC) on the tenant's calendar date of ``day``."""
    local = day.astimezone(zone).date()
    return datetime.combine(local, time(hour), tzinfo=zone).astimezone(day.tzinfo)


def next_after(after: datetime, hour: int, zone: ZoneInfo) -> datetime:
    """The first occurrence strictly after ``after``."""
    found = occurrence_on(after, hour, zone)
    if found <= after:
        found = occurrence_on(after + timedelta(days=1), hour, zone)
        if found <= after:  # a day of a time change
            found = occurrence_on(after + timedelta(days=2), hour, zone)
    return found


def latest_by(at: datetime, hour: int, zone: ZoneInfo) -> datetime:
    """The last occurrence at or before ``at``."""
    found = occurrence_on(at, hour, zone)
    if found > at:
        found = occurrence_on(at - timedelta(days=1), hour, zone)
    return found


def get_schedule(ctx: ServiceContext) -> PaymentRunSchedule:
    found = repo.get(ctx.session, ctx.tenant_id)
    if found is None:
        raise NotFound("This tenant has no payment-run schedule.", resource=RESOURCE)
    return found


def find_schedule(ctx: ServiceContext) -> PaymentRunSchedule | None:
    return repo.get(ctx.session, ctx.tenant_id)


def set_schedule(
    ctx: ServiceContext, *, run_hour: int, frequency: str = Frequency.DAILY, active: bool = True
) -> PaymentRunSchedule:
    """Create or replace the tenant's schedule; its next occurrence is the first after
    the tenant's now."""
    if isinstance(run_hour, bool) or not isinstance(run_hour, int) or not 0 <= run_hour <= 23:
        raise InvalidValue(
            "runHour must be a whole hour from 0 to 23 (the tenant's time zone).",
            resource=RESOURCE,
            field="runHour",
        )
    if frequency not in {f.value for f in Frequency}:
        raise InvalidValue(
            f"frequency {frequency!r} is not supported; Allowed: Daily.",
            resource=RESOURCE,
            field="frequency",
        )
    now = ctx.clock.now()
    following = next_after(now, run_hour, ctx.clock.zone)
    schedule = repo.get(ctx.session, ctx.tenant_id)
    if schedule is None:
        schedule = PaymentRunSchedule(
            tenant_id=ctx.tenant_id,
            frequency=frequency,
            run_hour=run_hour,
            active=active,
            next_run_at=following,
            created_at=now,
            updated_at=now,
        )
        repo.add(ctx.session, schedule)
        return schedule
    schedule.frequency = frequency
    schedule.run_hour = run_hour
    schedule.active = active
    schedule.next_run_at = following
    schedule.updated_at = now
    ctx.session.flush()
    return schedule


def remove_schedule(ctx: ServiceContext) -> None:
    if not repo.remove(ctx.session, ctx.tenant_id):
        raise NotFound("This tenant has no payment-run schedule.", resource=RESOURCE)


def next_time(ctx: ServiceContext, after: datetime) -> datetime | None:
    return repo.next_time(ctx.session, ctx.tenant_id, after)


def fire_due(ctx: ServiceContext) -> PaymentRun | None:
    """Create the run of the tenant's due occurrence (it starts once this unit of work
    commits), or None when nothing is due or another caller fired it first."""
    schedule = repo.get(ctx.session, ctx.tenant_id)
    now = ctx.clock.now()
    if schedule is None or not schedule.active or schedule.next_run_at > now:
        return None
    zone = ctx.clock.zone
    latest = latest_by(now, schedule.run_hour, zone)
    following = next_after(now, schedule.run_hour, zone)
    if not repo.claim(ctx.session, ctx.tenant_id, schedule.next_run_at, following, now):
        return None
    run = runs.create_payment_run(
        ctx,
        PaymentRunSpec(target_date=ctx.clock.date_of(latest)),
        created_by="payment-run schedule",
    )
    ctx.session.refresh(schedule)
    schedule.last_run_id = run.id
    ctx.session.flush()
    return run


def due_tenants(ctx: ServiceContext) -> list[int]:
    """Production tenants with a due schedule (``ctx`` is the scheduler's, any tenant)."""
    return repo.due_tenants(ctx.session, ctx.clock.now())
