"""Zuora's words for a bill run's fields, and billcycle's values rendered in them: what
``bill_run_body`` echoes and what an update merges onto (so both say exactly what a
Zuora client sent)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from billcycle.billruns.schedule import BillRunSchedule, RepeatType
from billcycle.billruns.spec import BillCycleDay, BillRunFilter, CycleDays, OrganizationLabel
from billcycle.ids import to_zuora_id

ALL_BATCHES = "AllBatches"
ALL_BILL_CYCLE_DAYS = "AllBillCycleDays"
AS_RUN_DAY = "AsRunDay"
# Index = date.weekday(); the exact strings of the SDK's weeklyOnDay enum.
WEEKDAY_NAMES: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def batches_json(batches: Sequence[int] | None) -> list[str] | None:
    if batches is None:
        return None
    return [f"Batch{n}" for n in batches] if batches else [ALL_BATCHES]


def bill_cycle_day_json(value: BillCycleDay | None) -> str | None:
    if value is None:
        return None
    if value == CycleDays.ALL:
        return ALL_BILL_CYCLE_DAYS
    if value == CycleDays.AS_RUN_DAY:
        return AS_RUN_DAY
    return str(value)


def filters_json(filters: Sequence[BillRunFilter]) -> list[dict[str, str]] | None:
    if not filters:
        return None
    out: list[dict[str, str]] = []
    for f in filters:
        item = {"filterType": str(f.filter_type), "accountId": to_zuora_id(f.account_id)}
        if f.subscription_id is not None:
            item["subscriptionId"] = to_zuora_id(f.subscription_id)
        out.append(item)
    return out


def labels_json(labels: Sequence[OrganizationLabel]) -> list[dict[str, Any]] | None:
    if not labels:
        return None
    out: list[dict[str, Any]] = []
    for label in labels:
        item: dict[str, Any] = {}
        for key, value in (
            ("organizationId", label.organization_id),
            ("organizationName", label.organization_name),
            ("cascadingDown", label.cascading_down),
            ("excluded", label.excluded),
        ):
            if value is not None:
                item[key] = value
        out.append(item)
    return out


def schedule_json(schedule: BillRunSchedule | None) -> dict[str, Any] | None:
    """Zuora's ``schedule`` object (what the SDK's BillRunSchedule reads)."""
    if schedule is None:
        return None
    data: dict[str, Any] = {
        "repeatFrom": schedule.repeat_from.isoformat(),
        "repeatType": str(schedule.repeat_type),
        "runTime": schedule.run_time,
    }
    if schedule.repeat_to is not None:
        data["repeatTo"] = schedule.repeat_to.isoformat()
    if schedule.repeat_type == RepeatType.WEEKLY:
        data["weeklyOnDay"] = [WEEKDAY_NAMES[day] for day in schedule.weekly_on_day]
    if schedule.repeat_type == RepeatType.MONTHLY:
        data["monthlyOnEndOfMonth"] = schedule.monthly_on_end_of_month
    return data
