"""Schedule math: occurrences of bill-run schedules (UTC), the dates an occurrence bills
with, and the AsRunDay month-end rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billcycle.billruns.columns import schedule_column, schedule_of
from billcycle.billruns.schedule import (
    REPEAT_TYPES,
    BillRunSchedule,
    DayOffset,
    MonthDay,
    as_run_day_matches,
    as_run_day_values,
    days_in_month,
    first_execution_time,
    is_month_end,
    next_execution_time,
    occurrences_between,
)
from billcycle.billruns.spec import BillRunSpec
from billcycle.zuora.schemas.bill_run_fields import schedule_json


def at(day: str, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC).replace(
        hour=hour, minute=minute
    )


def daily(start: str, hour: int = 6, until: str | None = None) -> BillRunSchedule:
    return BillRunSchedule(
        repeat_from=date.fromisoformat(start),
        repeat_type="Daily",
        run_time=hour,
        repeat_to=date.fromisoformat(until) if until else None,
    )


def monthly(start: str, *, end_of_month: bool = False, hour: int = 0) -> BillRunSchedule:
    return BillRunSchedule(
        repeat_from=date.fromisoformat(start),
        repeat_type="Monthly",
        run_time=hour,
        monthly_on_end_of_month=end_of_month,
    )


def series(schedule: BillRunSchedule, after: datetime, count: int) -> list[datetime]:
    found: list[datetime] = []
    current: datetime | None = after
    while len(found) < count:
        assert current is not None
        current = next_execution_time(schedule, current)
        if current is None:
            break
        found.append(current)
    return found


# --- one-off and daily ---------------------------------------------------------------


def test_repeat_type_none_fires_once_on_repeat_from_at_run_time() -> None:
    schedule = BillRunSchedule(date(2026, 2, 1), "None", 14)
    assert first_execution_time(schedule, at("2026-01-10", 9)) == at("2026-02-01", 14)
    assert next_execution_time(schedule, at("2026-02-01", 13, 59)) == at("2026-02-01", 14)
    assert next_execution_time(schedule, at("2026-02-01", 14)) is None
    assert first_execution_time(schedule, at("2026-02-01", 14)) == at("2026-02-01", 14)
    assert first_execution_time(schedule, at("2026-02-01", 14, 1)) is None


def test_daily_is_strictly_after_and_first_is_at_or_after() -> None:
    schedule = daily("2026-01-10", hour=6)
    assert next_execution_time(schedule, at("2026-01-10", 5, 59)) == at("2026-01-10", 6)
    assert next_execution_time(schedule, at("2026-01-10", 6)) == at("2026-01-11", 6)
    assert first_execution_time(schedule, at("2026-01-10", 6)) == at("2026-01-10", 6)
    assert first_execution_time(schedule, at("2026-01-10", 9)) == at("2026-01-11", 6)
    # Before repeatFrom: the first occurrence is repeatFrom's run time.
    assert first_execution_time(schedule, at("2025-12-01")) == at("2026-01-10", 6)


def test_daily_crosses_leap_day_and_year_end() -> None:
    assert series(daily("2028-02-27", hour=23), at("2028-02-27"), 4) == [
        at("2028-02-27", 23),
        at("2028-02-28", 23),
        at("2028-02-29", 23),
        at("2028-03-01", 23),
    ]
    assert series(daily("2026-12-30", hour=0), at("2026-12-30", 0), 2) == [
        at("2026-12-31"),
        at("2027-01-01"),
    ]


def test_repeat_to_is_inclusive() -> None:
    schedule = daily("2026-03-01", hour=2, until="2026-03-03")
    assert series(schedule, at("2026-02-01"), 10) == [
        at("2026-03-01", 2),
        at("2026-03-02", 2),
        at("2026-03-03", 2),
    ]
    assert next_execution_time(schedule, at("2026-03-03", 2)) is None


def test_times_are_utc_whatever_the_callers_zone() -> None:
    schedule = daily("2026-03-01", hour=6)
    plus_five = timezone(timedelta(hours=5))
    # 10:30 at +05:00 is 05:30 UTC: today's 06:00 UTC is still ahead.
    after = datetime(2026, 3, 29, 10, 30, tzinfo=plus_five)
    result = next_execution_time(schedule, after)
    assert result == at("2026-03-29", 6)
    assert result is not None
    assert result.tzinfo is UTC
    # No DST: the run time is 06:00 UTC on the days European clocks change.
    assert [o.hour for o in series(schedule, at("2026-03-28"), 3)] == [6, 6, 6]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_execution_time(daily("2026-01-01"), datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        first_execution_time(daily("2026-01-01"), datetime(2026, 1, 1))


# --- weekly ------------------------------------------------------------------------


def test_weekly_on_several_days_starting_between_them() -> None:
    # 2026-01-13 is a Tuesday; Mon/Wed/Fri.
    schedule = BillRunSchedule(date(2026, 1, 13), "Weekly", 8, weekly_on_day=(0, 2, 4))
    assert series(schedule, at("2026-01-01"), 5) == [
        at("2026-01-14", 8),
        at("2026-01-16", 8),
        at("2026-01-19", 8),
        at("2026-01-21", 8),
        at("2026-01-23", 8),
    ]


def test_weekly_single_day_with_repeat_to() -> None:
    schedule = BillRunSchedule(
        date(2026, 1, 1), "Weekly", 0, repeat_to=date(2026, 1, 25), weekly_on_day=(6,)
    )
    assert occurrences_between(schedule, at("2025-12-31"), at("2027-01-01")) == [
        at("2026-01-04"),
        at("2026-01-11"),
        at("2026-01-18"),
        at("2026-01-25"),
    ]


# --- monthly -----------------------------------------------------------------------


def test_monthly_keeps_the_day_and_clamps_to_short_months() -> None:
    assert series(monthly("2027-12-31"), at("2027-12-01"), 5) == [
        at("2027-12-31"),
        at("2028-01-31"),
        at("2028-02-29"),
        at("2028-03-31"),
        at("2028-04-30"),
    ]
    assert series(monthly("2027-01-30"), at("2027-01-01"), 3) == [
        at("2027-01-30"),
        at("2027-02-28"),
        at("2027-03-30"),
    ]


def test_monthly_from_a_month_end_both_ways() -> None:
    start = at("2024-04-01")
    assert series(monthly("2024-04-30", end_of_month=True), start, 4) == [
        at("2024-04-30"),
        at("2024-05-31"),
        at("2024-06-30"),
        at("2024-07-31"),
    ]
    assert series(monthly("2024-04-30", end_of_month=False), start, 4) == [
        at("2024-04-30"),
        at("2024-05-30"),
        at("2024-06-30"),
        at("2024-07-30"),
    ]


def test_monthly_from_leap_day() -> None:
    assert series(monthly("2028-02-29", end_of_month=True), at("2028-02-01"), 3) == [
        at("2028-02-29"),
        at("2028-03-31"),
        at("2028-04-30"),
    ]
    assert series(monthly("2028-02-29"), at("2028-02-01"), 3) == [
        at("2028-02-29"),
        at("2028-03-29"),
        at("2028-04-29"),
    ]
    # Feb 2029 has no 29th: clamped to the 28th.
    schedule = monthly("2028-02-29")
    assert next_execution_time(schedule, at("2029-01-29")) == at("2029-02-28")


def test_monthly_resumes_mid_series_without_drift() -> None:
    schedule = monthly("2026-01-31", hour=3)
    assert next_execution_time(schedule, at("2026-06-15")) == at("2026-06-30", 3)
    assert next_execution_time(schedule, at("2026-06-30", 3)) == at("2026-07-31", 3)


# --- catch-up ----------------------------------------------------------------------


def test_occurrences_between_lists_missed_runs_in_half_open_window() -> None:
    schedule = daily("2026-01-01", hour=6)
    assert occurrences_between(schedule, at("2026-01-03", 6), at("2026-01-06", 6)) == [
        at("2026-01-04", 6),
        at("2026-01-05", 6),
        at("2026-01-06", 6),
    ]
    assert occurrences_between(schedule, at("2026-01-03", 6), at("2026-01-04", 5)) == []
    assert occurrences_between(schedule, at("2026-01-05"), at("2026-01-04")) == []


def test_occurrences_between_stops_at_series_end() -> None:
    schedule = BillRunSchedule(date(2026, 1, 2), "None", 0)
    assert occurrences_between(schedule, at("2025-01-01"), at("2027-01-01")) == [at("2026-01-02")]


def test_schedule_column_round_trip_and_zuora_json() -> None:
    for schedule in (
        BillRunSchedule(date(2026, 1, 13), "Weekly", 8, date(2026, 9, 1), (0, 2, 4)),
        monthly("2024-04-30", end_of_month=True),
        daily("2026-01-01"),
        BillRunSchedule(date(2026, 1, 2), "None", 23),
    ):
        assert schedule_of(schedule_column(schedule)) == schedule
    weekly = BillRunSchedule(date(2026, 1, 13), "Weekly", 8, None, (0, 6))
    assert schedule_column(weekly) == {
        "repeat_from": "2026-01-13",
        "repeat_type": "Weekly",
        "run_time": 8,
        "repeat_to": None,
        "weekly_on_day": [0, 6],
        "monthly_on_end_of_month": False,
    }
    assert schedule_json(weekly) == {
        "repeatFrom": "2026-01-13",
        "repeatType": "Weekly",
        "runTime": 8,
        "weeklyOnDay": ["Mon", "Sun"],
    }


# --- run dates -----------------------------------------------------------------------


def scheduled(invoice: DayOffset | MonthDay, target: DayOffset | MonthDay) -> BillRunSpec:
    return BillRunSpec(
        schedule=monthly("2026-01-25"), invoice_date_rule=invoice, target_date_rule=target
    )


def test_run_dates_of_an_ad_hoc_run_are_its_fixed_dates() -> None:
    spec = BillRunSpec(invoice_date=date(2026, 1, 10), target_date=date(2026, 2, 1))
    assert spec.run_dates(date(2030, 1, 1)) == (date(2026, 1, 10), date(2026, 2, 1))
    with pytest.raises(ValueError, match="ad hoc"):
        BillRunSpec().run_dates(date(2026, 1, 1))


def test_run_dates_with_day_offsets() -> None:
    spec = scheduled(DayOffset(-3), DayOffset(30))
    assert spec.run_dates(date(2028, 3, 1)) == (date(2028, 2, 27), date(2028, 3, 31))
    assert spec.run_dates(date(2026, 12, 15)) == (date(2026, 12, 12), date(2027, 1, 14))
    default = BillRunSpec(schedule=monthly("2026-01-25"))
    assert default.run_dates(date(2026, 2, 25)) == (date(2026, 2, 25), date(2026, 2, 25))


@pytest.mark.parametrize(
    ("run_date", "rule", "expected"),
    [
        # 31 = end of month, whatever the month's length.
        ("2024-04-25", MonthDay(0, 31), "2024-04-30"),
        ("2024-05-16", MonthDay(1, 31), "2024-06-30"),
        ("2028-01-31", MonthDay(1, 31), "2028-02-29"),
        ("2027-01-31", MonthDay(1, 31), "2027-02-28"),
        ("2027-01-31", MonthDay(1, 30), "2027-02-28"),
        ("2024-06-30", MonthDay(1, 1), "2024-07-01"),
        ("2026-01-15", MonthDay(-1, 31), "2025-12-31"),
        ("2026-01-15", MonthDay(-13, 15), "2024-12-15"),
        ("2026-11-10", MonthDay(14, 29), "2028-01-29"),
        ("2026-11-10", MonthDay(15, 29), "2028-02-29"),
    ],
)
def test_run_dates_with_month_offsets(run_date: str, rule: MonthDay, expected: str) -> None:
    spec = scheduled(rule, rule)
    result = spec.run_dates(date.fromisoformat(run_date))
    assert result == (date.fromisoformat(expected),) * 2


def test_zuora_use_case_3_month_end_runs_bill_the_first_of_next_month() -> None:
    schedule = monthly("2024-06-30", end_of_month=True)
    spec = BillRunSpec(
        schedule=schedule, invoice_date_rule=MonthDay(1, 1), target_date_rule=MonthDay(1, 1)
    )
    runs = series(schedule, at("2024-06-01"), 3)
    assert [spec.run_dates(r.date()) for r in runs] == [
        (date(2024, 7, 1), date(2024, 7, 1)),
        (date(2024, 8, 1), date(2024, 8, 1)),
        (date(2024, 9, 1), date(2024, 9, 1)),
    ]


# --- AsRunDay ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run_date", "values"),
    [
        ("2026-01-15", (15,)),
        ("2026-01-30", (30,)),
        ("2026-01-31", (31,)),
        ("2027-02-28", (28, 29, 30, 31)),
        ("2028-02-28", (28,)),
        ("2028-02-29", (29, 30, 31)),
        ("2026-04-30", (30, 31)),
    ],
)
def test_as_run_day_values(run_date: str, values: tuple[int, ...]) -> None:
    day = date.fromisoformat(run_date)
    assert as_run_day_values(day) == values
    for bcd in range(1, 32):
        assert as_run_day_matches(bcd, day) is (bcd in values)


def test_every_bcd_is_selected_exactly_once_a_month() -> None:
    for year, month in ((2027, 2), (2028, 2), (2026, 4), (2026, 1)):
        picked = [
            bcd
            for day in range(1, days_in_month(year, month) + 1)
            for bcd in as_run_day_values(date(year, month, day))
        ]
        assert sorted(picked) == list(range(1, 32))


# --- properties --------------------------------------------------------------------


@st.composite
def schedules(draw: st.DrawFn) -> BillRunSchedule:
    start = draw(st.dates(date(2024, 1, 1), date(2030, 12, 31)))
    repeat_type = draw(st.sampled_from(REPEAT_TYPES))
    repeat_to = draw(st.none() | st.integers(0, 800).map(lambda n: start + timedelta(days=n)))
    weekly: tuple[int, ...] = ()
    if repeat_type == "Weekly":
        weekly = tuple(sorted(draw(st.sets(st.integers(0, 6), min_size=1))))
    end_of_month = repeat_type == "Monthly" and is_month_end(start) and draw(st.booleans())
    return BillRunSchedule(
        repeat_from=start,
        repeat_type=repeat_type,
        run_time=draw(st.integers(0, 23)),
        repeat_to=repeat_to,
        weekly_on_day=weekly,
        monthly_on_end_of_month=end_of_month,
    )


def brute_force_dates(schedule: BillRunSchedule, first: date, last: date) -> list[date]:
    """An independent oracle: test every day against the schedule's definition."""
    found: list[date] = []
    day = first
    while day <= last:
        start, end = schedule.repeat_from, schedule.repeat_to
        if start <= day and (end is None or day <= end):
            if schedule.repeat_type == "None":
                ok = day == start
            elif schedule.repeat_type == "Daily":
                ok = True
            elif schedule.repeat_type == "Weekly":
                ok = day.weekday() in schedule.weekly_on_day
            elif schedule.monthly_on_end_of_month:
                ok = is_month_end(day)
            else:
                ok = day.day == min(start.day, days_in_month(day.year, day.month))
            if ok:
                found.append(day)
        day += timedelta(days=1)
    return found


PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(
    schedule=schedules(),
    lead_days=st.integers(-40, 400),
    window_days=st.integers(0, 500),
    minute=st.integers(0, 24 * 60 - 1),
)
def test_occurrences_match_the_definition(
    schedule: BillRunSchedule, lead_days: int, window_days: int, minute: int
) -> None:
    start = datetime.combine(
        schedule.repeat_from + timedelta(days=lead_days), datetime.min.time(), tzinfo=UTC
    ) + timedelta(minutes=minute)
    end = start + timedelta(days=window_days)
    found = occurrences_between(schedule, start, end)

    expected = [
        o
        for o in (
            datetime.combine(d, datetime.min.time(), tzinfo=UTC).replace(hour=schedule.run_time)
            for d in brute_force_dates(schedule, start.date(), end.date())
        )
        if start < o <= end
    ]
    assert found == expected

    # Strictly increasing, inside [repeatFrom, repeatTo], each the next of the previous.
    assert all(a < b for a, b in pairwise(found))
    for occurrence in found:
        assert occurrence.hour == schedule.run_time
        assert occurrence.minute == 0
        assert schedule.repeat_from <= occurrence.date()
        assert schedule.repeat_to is None or occurrence.date() <= schedule.repeat_to
        assert first_execution_time(schedule, occurrence) == occurrence
    for a, b in pairwise(found):
        assert next_execution_time(schedule, a) == b
        assert next_execution_time(schedule, b - timedelta(microseconds=1)) == b
    if found:
        assert next_execution_time(schedule, start) == found[0]
        assert first_execution_time(schedule, start + timedelta(microseconds=1)) == found[0]
