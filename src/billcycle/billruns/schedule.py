"""When a scheduled bill run fires: the schedule value object and its occurrences.

billcycle schedules in UTC: ``run_time`` is an hour of the UTC day and every execution
time returned here is a tz-aware UTC datetime, so there are no DST gaps or repeats.
Everything is pure (the caller passes "now"), so the scheduler, the cancel-once path
and catch-up after downtime all agree on the same sequence of occurrences.

Occurrence ``k`` of a monthly schedule is computed from ``repeat_from`` and ``k`` alone
(never by adding a month to the previous occurrence), so Jan 31 goes to Feb 28/29 and
back to Mar 31 instead of drifting to the 28th.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum


class RepeatType(StrEnum):
    NONE = "None"
    DAILY = "Daily"
    WEEKLY = "Weekly"
    MONTHLY = "Monthly"


REPEAT_TYPES: tuple[RepeatType, ...] = tuple(RepeatType)

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class BillRunSchedule:
    """When a scheduled bill run fires: a value object, checked by the caller that builds
    it (a dialect's parser, then ``rules.settle`` for what depends on today).

    ``weekly_on_day`` holds ``date.weekday()`` numbers (Mon = 0), sorted and unique;
    it is empty unless ``repeat_type`` is Weekly. ``monthly_on_end_of_month`` is only
    ever True for a Monthly schedule whose ``repeat_from`` is a month end.
    """

    repeat_from: date
    repeat_type: RepeatType
    run_time: int
    repeat_to: date | None = None
    weekly_on_day: tuple[int, ...] = ()
    monthly_on_end_of_month: bool = False


@dataclass(frozen=True)
class DayOffset:
    """A date ``days`` days from the run date (negative = before)."""

    days: int


@dataclass(frozen=True)
class MonthDay:
    """Day ``day_of_month`` (31 = end of month; clamped) of the month ``month_offset``
    months from the run date's month. Monthly schedules only."""

    month_offset: int
    day_of_month: int


DateRule = DayOffset | MonthDay


# --- calendar helpers ------------------------------------------------------------


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def is_month_end(day: date) -> bool:
    return day.day == days_in_month(day.year, day.month)


def _month_day(year: int, month: int, shift: int, day: int) -> date:
    """Day ``day`` (clamped to the month's length) of the month ``shift`` months on."""
    index = year * 12 + month - 1 + shift
    target_year, target_month = divmod(index, 12)
    target_month += 1
    return date(target_year, target_month, min(day, days_in_month(target_year, target_month)))


def apply_date_rule(rule: DateRule, run_date: date) -> date:
    if isinstance(rule, DayOffset):
        return run_date + timedelta(days=rule.days)
    return _month_day(run_date.year, run_date.month, rule.month_offset, rule.day_of_month)


# --- occurrences -------------------------------------------------------------------


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def _monthly_date(schedule: BillRunSchedule, index: int) -> date:
    start = schedule.repeat_from
    day = 31 if schedule.monthly_on_end_of_month and is_month_end(start) else start.day
    return _month_day(start.year, start.month, index, day)


def _first_date_on_or_after(schedule: BillRunSchedule, day: date) -> date | None:
    """The first occurrence date >= ``day``, within [repeat_from, repeat_to]."""
    start = max(day, schedule.repeat_from)
    found: date | None = None
    try:
        if schedule.repeat_type == RepeatType.NONE:
            found = schedule.repeat_from if schedule.repeat_from >= day else None
        elif schedule.repeat_type == RepeatType.DAILY:
            found = start
        elif schedule.repeat_type == RepeatType.WEEKLY:
            for ahead in range(7):
                candidate = start + timedelta(days=ahead)
                if candidate.weekday() in schedule.weekly_on_day:
                    found = candidate
                    break
        else:  # Monthly
            index = (start.year - schedule.repeat_from.year) * 12 + (
                start.month - schedule.repeat_from.month
            )
            found = _monthly_date(schedule, index)
            if found < start:
                found = _monthly_date(schedule, index + 1)
    except (OverflowError, ValueError):  # beyond date.max: the series has ended
        return None
    if found is None or (schedule.repeat_to is not None and found > schedule.repeat_to):
        return None
    return found


def _first_occurrence(
    schedule: BillRunSchedule, moment: datetime, *, strict: bool
) -> datetime | None:
    day = moment.date()
    candidate = _at(day, schedule.run_time)
    if candidate < moment or (strict and candidate == moment):
        if day == date.max:
            return None
        day += _ONE_DAY
    found = _first_date_on_or_after(schedule, day)
    return None if found is None else _at(found, schedule.run_time)


def next_execution_time(schedule: BillRunSchedule, after: datetime) -> datetime | None:
    """The first occurrence strictly after ``after`` (tz-aware), or None when the
    series has ended."""
    return _first_occurrence(schedule, _utc(after, "after"), strict=True)


def first_execution_time(schedule: BillRunSchedule, now: datetime) -> datetime | None:
    """The first occurrence at or after ``now``: repeat_from's run time when that is
    still ahead. None when no occurrence is left (e.g. a one-off whose time passed)."""
    return _first_occurrence(schedule, _utc(now, "now"), strict=False)


def occurrences_between(
    schedule: BillRunSchedule, start: datetime, end: datetime
) -> list[datetime]:
    """Every occurrence in ``(start, end]``, oldest first: what a scheduler whose last
    handled occurrence was ``start`` has missed by ``end``."""
    end_utc = _utc(end, "end")
    found: list[datetime] = []
    current = next_execution_time(schedule, start)
    while current is not None and current <= end_utc:
        found.append(current)
        current = next_execution_time(schedule, current)
    return found


# --- AsRunDay --------------------------------------------------------------------


def as_run_day_values(run_date: date) -> tuple[int, ...]:
    """The bill cycle days an ``AsRunDay`` run on ``run_date`` selects: the run date's
    day, and on a month's last day every greater day too (Feb 28 -> 28, 29, 30, 31),
    so accounts whose BCD the month lacks are not skipped."""
    if is_month_end(run_date):
        return tuple(range(run_date.day, 32))
    return (run_date.day,)


def as_run_day_matches(account_bcd: int, run_date: date) -> bool:
    return account_bcd in as_run_day_values(run_date)
