"""The domain's rules for a bill-run spec (what depends on today), in billcycle's own
words, and how the Zuora dialect words the same errors."""

from __future__ import annotations

from datetime import date

import pytest

from billcycle.billruns.rules import BillRunSpecError, SpecRule, settle
from billcycle.billruns.schedule import BillRunSchedule, DayOffset, RepeatType
from billcycle.billruns.spec import BillRunSpec, FixedDate, SpecChange, SpecDate
from billcycle.zuora.schemas.bill_run_request import zuora_error

TODAY = date(2026, 1, 10)
MONTHLY = BillRunSchedule(date(2026, 2, 1), RepeatType.MONTHLY, 6)


def broken(change: SpecChange, today: date = TODAY) -> BillRunSpecError:
    with pytest.raises(BillRunSpecError) as caught:
        settle(change, today=today)
    assert caught.value.resource == "bill_run"
    return caught.value


def test_an_ad_hoc_run_without_invoice_date_invoices_today() -> None:
    spec = settle(SpecChange(BillRunSpec(target_date=date(2026, 1, 31))), today=TODAY)
    assert spec.invoice_date == TODAY


def test_a_past_schedule_start_is_refused_only_when_the_request_sets_it() -> None:
    spec = BillRunSpec(schedule=MONTHLY)
    later = date(2026, 6, 1)
    error = broken(SpecChange(spec), today=later)
    assert (error.rule, error.subject, error.value, error.bound) == (
        SpecRule.IN_THE_PAST,
        SpecDate.REPEAT_FROM,
        date(2026, 2, 1),
        later,
    )
    assert error.message == "the schedule's start 2026-02-01 is in the past (today is 2026-06-01)."
    kept = settle(SpecChange(spec, new_dates=frozenset()), today=later)
    assert kept.schedule == MONTHLY
    assert kept.target_date_rule == DayOffset(0)
    wire = zuora_error(error)
    assert wire.message == "schedule.repeatFrom 2026-02-01 is in the past (today is 2026-06-01)."
    assert wire.field == "schedule.repeatFrom"


def test_the_ten_year_horizon() -> None:
    error = broken(SpecChange(BillRunSpec(target_date=date(2036, 1, 11))))
    assert (error.rule, error.subject, error.bound) == (
        SpecRule.BEYOND_HORIZON,
        SpecDate.TARGET_DATE,
        date(2036, 1, 10),
    )
    assert "targetDate" not in error.message
    assert zuora_error(error).message == (
        "targetDate 2036-01-11 is more than 10 years ahead (after 2036-01-10)."
    )
    # Dates the request did not set (stored ones) are not checked again.
    stored = BillRunSpec(target_date=date(2036, 1, 11), invoice_date=TODAY)
    assert settle(SpecChange(stored, frozenset()), today=TODAY) == stored
    # Feb 29 + 10 years is Feb 28.
    leap = broken(SpecChange(BillRunSpec(target_date=date(2034, 3, 1))), today=date(2024, 2, 29))
    assert leap.bound == date(2034, 2, 28)


def test_a_fixed_date_on_a_schedule_becomes_an_offset_within_3650_days() -> None:
    spec = BillRunSpec(schedule=MONTHLY, invoice_date_rule=FixedDate(date(2026, 1, 29)))
    assert settle(SpecChange(spec), today=TODAY).invoice_date_rule == DayOffset(-3)
    far = BillRunSpec(schedule=MONTHLY, target_date_rule=FixedDate(date(2016, 1, 31)))
    error = broken(SpecChange(far))
    assert (error.rule, error.subject) == (SpecRule.FAR_FROM_REPEAT_FROM, SpecDate.TARGET_DATE)
    assert zuora_error(error).message == (
        "targetDate 2016-01-31 is more than 3650 days from repeatFrom."
    )
    assert zuora_error(error).field == "targetDate"


def test_end_of_month_runs_need_a_month_end_start() -> None:
    schedule = BillRunSchedule(date(2026, 4, 29), RepeatType.MONTHLY, 0, None, (), True)
    error = broken(SpecChange(BillRunSpec(schedule=schedule)))
    assert error.rule is SpecRule.NOT_MONTH_END
    assert zuora_error(error).message == (
        "schedule.monthlyOnEndOfMonth needs schedule.repeatFrom to be the last day of a month"
        " (2026-04-29 is not)."
    )
    month_end = BillRunSchedule(date(2026, 4, 30), RepeatType.MONTHLY, 0, None, (), True)
    assert settle(SpecChange(BillRunSpec(schedule=month_end)), today=TODAY).schedule == month_end


def test_filter_errors_name_ids_for_the_dialect_to_render() -> None:
    error = BillRunSpecError(
        SpecRule.FOREIGN_SUBSCRIPTION,
        "Filter: subscription {subscription} does not belong to account {account}.",
        ids={"subscription": 257, "account": 42},
    )
    assert str(error) == "Filter: subscription 257 does not belong to account 42."
    assert zuora_error(error).render(lambda n: f"{n:032x}") == (
        "billRunFilters: subscription 00000000000000000000000000000101 does not belong to"
        " account 0000000000000000000000000000002a."
    )
