"""A spec as ``BillRun`` columns, and back: billcycle's own representation.

``batches`` is a JSON list of batch numbers (``[]``: all batches), ``bill_cycle_day``
"All", "AsRunDay" or a day number as text, ``bill_run_filters`` a list of
``{"filter_type", "account_id", "subscription_id"}`` with integer ids, labels and the
schedule snake_case objects (weekdays as ``date.weekday()`` numbers). NULL means "not
this kind of selection" (batches and filters exclude each other). Dialects render
these columns in their own words; nothing here is any dialect's wire shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from billcycle.billruns.models import BillRun
from billcycle.billruns.schedule import BillRunSchedule, DateRule, DayOffset, MonthDay, RepeatType
from billcycle.billruns.spec import (
    EXCLUDABLE_CHARGE_TYPES,
    BillCycleDay,
    BillRunFilter,
    BillRunSpec,
    BillRunType,
    CycleDays,
    FilterType,
    FixedDate,
    OrganizationLabel,
)
from billcycle.rating.types import ChargeType

# --- each JSON column ----------------------------------------------------------------


def batches_column(batches: tuple[int, ...] | None) -> list[int] | None:
    return None if batches is None else list(batches)


def batches_of(value: Sequence[int] | None) -> tuple[int, ...] | None:
    return None if value is None else tuple(sorted(int(n) for n in value))


def bill_cycle_day_column(value: BillCycleDay | None) -> str | None:
    return None if value is None else str(value)


def bill_cycle_day_of(value: str | None) -> BillCycleDay | None:
    if value is None:
        return None
    try:
        return CycleDays(value)
    except ValueError:
        return int(value)


def filters_column(filters: tuple[BillRunFilter, ...]) -> list[dict[str, Any]] | None:
    if not filters:
        return None
    out: list[dict[str, Any]] = []
    for f in filters:
        item: dict[str, Any] = {"filter_type": str(f.filter_type), "account_id": f.account_id}
        if f.subscription_id is not None:
            item["subscription_id"] = f.subscription_id
        out.append(item)
    return out


def filters_of(value: Sequence[Mapping[str, Any]] | None) -> tuple[BillRunFilter, ...]:
    return tuple(
        BillRunFilter(
            filter_type=FilterType(item["filter_type"]),
            account_id=int(item["account_id"]),
            subscription_id=None
            if item.get("subscription_id") is None
            else int(item["subscription_id"]),
        )
        for item in value or ()
    )


_LABEL_KEYS = ("organization_id", "organization_name", "cascading_down", "excluded")


def labels_column(labels: tuple[OrganizationLabel, ...]) -> list[dict[str, Any]] | None:
    if not labels:
        return None
    return [
        {key: getattr(label, key) for key in _LABEL_KEYS if getattr(label, key) is not None}
        for label in labels
    ]


def labels_of(value: Sequence[Mapping[str, Any]] | None) -> tuple[OrganizationLabel, ...]:
    return tuple(
        OrganizationLabel(
            organization_id=item.get("organization_id"),
            organization_name=item.get("organization_name"),
            cascading_down=item.get("cascading_down"),
            excluded=item.get("excluded"),
        )
        for item in value or ()
    )


def charge_types_of(value: Sequence[str] | None) -> tuple[ChargeType, ...]:
    return tuple(t for t in EXCLUDABLE_CHARGE_TYPES if t in (value or ()))


def schedule_column(schedule: BillRunSchedule | None) -> dict[str, Any] | None:
    if schedule is None:
        return None
    return {
        "repeat_from": schedule.repeat_from.isoformat(),
        "repeat_type": str(schedule.repeat_type),
        "run_time": schedule.run_time,
        "repeat_to": None if schedule.repeat_to is None else schedule.repeat_to.isoformat(),
        "weekly_on_day": list(schedule.weekly_on_day),
        "monthly_on_end_of_month": schedule.monthly_on_end_of_month,
    }


def schedule_of(value: Mapping[str, Any] | None) -> BillRunSchedule | None:
    if value is None:
        return None
    repeat_to = value.get("repeat_to")
    return BillRunSchedule(
        repeat_from=date.fromisoformat(value["repeat_from"]),
        repeat_type=RepeatType(value["repeat_type"]),
        run_time=int(value["run_time"]),
        repeat_to=None if repeat_to is None else date.fromisoformat(repeat_to),
        weekly_on_day=tuple(int(day) for day in value.get("weekly_on_day") or ()),
        monthly_on_end_of_month=bool(value.get("monthly_on_end_of_month", False)),
    )


# --- the whole spec ----------------------------------------------------------------


def _rule_columns(prefix: str, rule: DateRule | FixedDate | None) -> dict[str, int | None]:
    if isinstance(rule, FixedDate):
        raise ValueError("a fixed date on a schedule must be settled into an offset first")
    return {
        f"{prefix}_offset": rule.days if isinstance(rule, DayOffset) else None,
        f"{prefix}_month_offset": rule.month_offset if isinstance(rule, MonthDay) else None,
        f"{prefix}_day_of_month": rule.day_of_month if isinstance(rule, MonthDay) else None,
    }


def to_columns(spec: BillRunSpec, *, run_date: date | None = None) -> dict[str, Any]:
    """``BillRun`` column values for a settled ``spec``. For a scheduled spec, pass the
    occurrence's ``run_date`` to fill ``invoice_date``/``target_date``; without it they
    are None."""
    invoice_date, target_date = spec.invoice_date, spec.target_date
    if spec.schedule is not None and run_date is not None:
        invoice_date, target_date = spec.run_dates(run_date)
    return {
        "name": spec.name,
        "bill_run_type": str(spec.bill_run_type),
        "batches": batches_column(spec.batches),
        "bill_cycle_day": bill_cycle_day_column(spec.bill_cycle_day),
        "bill_run_filters": filters_column(spec.filters),
        "charge_type_to_exclude": [str(t) for t in spec.charge_types_to_exclude],
        "auto_post": spec.auto_post,
        "auto_email": spec.auto_email,
        "auto_renewal": spec.auto_renewal,
        "no_email_for_zero_amount_invoice": spec.no_email_for_zero_amount_invoice,
        "include_subscriptions": spec.include_subscriptions,
        "include_order_line_items": spec.include_order_line_items,
        "invoice_date": invoice_date,
        "target_date": target_date,
        **_rule_columns("invoice_date", spec.invoice_date_rule),
        **_rule_columns("target_date", spec.target_date_rule),
        "organization_labels": labels_column(spec.organization_labels),
        "schedule": schedule_column(spec.schedule),
    }


def _rule_from_row(offset: int | None, month_offset: int | None, day: int | None) -> DateRule:
    if month_offset is not None and day is not None:
        return MonthDay(month_offset, day)
    return DayOffset(offset or 0)


def from_row(run: BillRun) -> BillRunSpec:
    """The spec a stored run was created from (rows hold settled values).

    For a scheduled run the row's ``invoice_date``/``target_date`` belong to that
    occurrence and are not part of the spec; the rules rebuild them for any run date.
    """
    schedule = schedule_of(run.schedule)
    scheduled = schedule is not None
    return BillRunSpec(
        bill_run_type=BillRunType(run.bill_run_type),
        name=run.name,
        batches=batches_of(run.batches),
        bill_cycle_day=bill_cycle_day_of(run.bill_cycle_day),
        filters=filters_of(run.bill_run_filters),
        charge_types_to_exclude=charge_types_of(run.charge_type_to_exclude),
        auto_post=run.auto_post,
        auto_email=run.auto_email,
        auto_renewal=run.auto_renewal,
        no_email_for_zero_amount_invoice=run.no_email_for_zero_amount_invoice,
        include_subscriptions=run.include_subscriptions,
        include_order_line_items=run.include_order_line_items,
        invoice_date=None if scheduled else run.invoice_date,
        target_date=None if scheduled else run.target_date,
        invoice_date_rule=_rule_from_row(
            run.invoice_date_offset, run.invoice_date_month_offset, run.invoice_date_day_of_month
        )
        if scheduled
        else None,
        target_date_rule=_rule_from_row(
            run.target_date_offset, run.target_date_month_offset, run.target_date_day_of_month
        )
        if scheduled
        else None,
        schedule=schedule,
        organization_labels=labels_of(run.organization_labels),
    )
