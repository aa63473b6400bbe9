"""The business rules of a bill-run spec that depend on today, and the spec errors the
domain raises.

A dialect has already checked its wire shape (types, words, combinations of fields);
what is left is what only the business clock can tell: a schedule cannot start in the
past, nothing is scheduled more than ``HORIZON_YEARS`` ahead (Zuora's published limit),
an ad hoc run without an invoice date invoices today, and a fixed date asked for on a
schedule becomes a day offset from its start.

Each ``BillRunSpecError`` carries its rule, subject and values so a dialect can phrase
it in its own field names; its message is billcycle's own wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from enum import StrEnum

from billcycle.billruns.schedule import BillRunSchedule, DateRule, DayOffset, is_month_end
from billcycle.billruns.spec import BillRunSpec, FixedDate, SpecChange, SpecDate
from billcycle.errors import InvalidValue

RESOURCE = "bill_run"
HORIZON_YEARS = 10
MAX_DAY_OFFSET = 3650


class SpecRule(StrEnum):
    IN_THE_PAST = "in_the_past"
    BEYOND_HORIZON = "beyond_horizon"
    FAR_FROM_REPEAT_FROM = "far_from_repeat_from"
    NOT_MONTH_END = "not_month_end"
    UNKNOWN_ACCOUNT = "unknown_account"
    FOREIGN_SUBSCRIPTION = "foreign_subscription"
    NO_OCCURRENCE_LEFT = "no_occurrence_left"


class BillRunSpecError(InvalidValue):
    """A spec broke a business rule. ``subject`` is the date concerned (if any),
    ``value`` its value and ``bound`` the limit it crossed."""

    def __init__(
        self,
        rule: SpecRule,
        message: str,
        *,
        subject: SpecDate | None = None,
        value: date | None = None,
        bound: date | None = None,
        updating: bool = False,
        ids: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message, resource=RESOURCE, field=subject, ids=ids)
        self.rule = rule
        self.subject = subject
        self.value = value
        self.bound = bound
        self.updating = updating


_NAMES = {
    SpecDate.REPEAT_FROM: "the schedule's start",
    SpecDate.INVOICE_DATE: "the invoice date",
    SpecDate.TARGET_DATE: "the target date",
}


def horizon(today: date) -> date:
    try:
        return today.replace(year=today.year + HORIZON_YEARS)
    except ValueError:  # Feb 29
        return today.replace(year=today.year + HORIZON_YEARS, day=28)


def _within_horizon(subject: SpecDate, value: date, today: date) -> None:
    limit = horizon(today)
    if value > limit:
        raise BillRunSpecError(
            SpecRule.BEYOND_HORIZON,
            f"{_NAMES[subject]} {value} is more than {HORIZON_YEARS} years ahead (after {limit}).",
            subject=subject,
            value=value,
            bound=limit,
        )


def _check_schedule(schedule: BillRunSchedule, new: frozenset[SpecDate], today: date) -> None:
    start = schedule.repeat_from
    if SpecDate.REPEAT_FROM in new:
        if start < today:
            raise BillRunSpecError(
                SpecRule.IN_THE_PAST,
                f"the schedule's start {start} is in the past (today is {today}).",
                subject=SpecDate.REPEAT_FROM,
                value=start,
                bound=today,
            )
        _within_horizon(SpecDate.REPEAT_FROM, start, today)
    if schedule.monthly_on_end_of_month and not is_month_end(start):
        raise BillRunSpecError(
            SpecRule.NOT_MONTH_END,
            f"runs on the end of each month need a schedule starting on a month's last day"
            f" ({start} is not).",
            subject=SpecDate.REPEAT_FROM,
            value=start,
        )


def _settle_rule(
    subject: SpecDate,
    rule: DateRule | FixedDate | None,
    schedule: BillRunSchedule,
    new: frozenset[SpecDate],
    today: date,
) -> DateRule:
    if rule is None:
        return DayOffset(0)  # the run date itself
    if not isinstance(rule, FixedDate):
        return rule
    if subject in new:
        _within_horizon(subject, rule.value, today)
    days = (rule.value - schedule.repeat_from).days
    if not -MAX_DAY_OFFSET <= days <= MAX_DAY_OFFSET:
        raise BillRunSpecError(
            SpecRule.FAR_FROM_REPEAT_FROM,
            f"{_NAMES[subject]} {rule.value} is more than {MAX_DAY_OFFSET} days from the"
            " schedule's start.",
            subject=subject,
            value=rule.value,
        )
    return DayOffset(days)


def settle(change: SpecChange, *, today: date) -> BillRunSpec:
    """The spec to store: checked against ``today``, an ad hoc run's missing invoice
    date set to today, and a scheduled run's fixed dates turned into offsets."""
    spec, new = change.spec, change.new_dates
    schedule = spec.schedule
    if schedule is None:
        invoice_date = spec.invoice_date or today
        if spec.target_date is not None and SpecDate.TARGET_DATE in new:
            _within_horizon(SpecDate.TARGET_DATE, spec.target_date, today)
        if SpecDate.INVOICE_DATE in new:
            _within_horizon(SpecDate.INVOICE_DATE, invoice_date, today)
        return replace(spec, invoice_date=invoice_date)
    _check_schedule(schedule, new, today)
    return replace(
        spec,
        invoice_date=None,
        target_date=None,
        invoice_date_rule=_settle_rule(
            SpecDate.INVOICE_DATE, spec.invoice_date_rule, schedule, new, today
        ),
        target_date_rule=_settle_rule(
            SpecDate.TARGET_DATE, spec.target_date_rule, schedule, new, today
        ),
    )
