"""Bill runs store billcycle's own representation, not Zuora's wire JSON

Until now a bill run's request columns held Zuora's spellings (``["Batch1"]``,
``"AllBillCycleDays"``, filters with 32-hex ids, a camelCase schedule and labels),
which the domain parsed again. From here they hold billcycle's own: batches as a list of
numbers (``[]`` = all), ``bill_cycle_day`` "All"/"AsRunDay"/"7", filters and labels
snake_case with integer ids, the schedule snake_case with weekdays as
``date.weekday()`` numbers. Every row is carried over, scheduled occurrences included;
the downgrade writes Zuora's shapes back. The converters are written out here (not
imported) so the migration keeps meaning what it meant when the code moves on.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PAGE = 1000

_runs = sa.table(
    "bill_runs",
    sa.column("id", sa.BigInteger()),
    sa.column("batches", sa.JSON()),
    sa.column("bill_cycle_day", sa.String()),
    sa.column("bill_run_filters", sa.JSON()),
    sa.column("organization_labels", sa.JSON()),
    sa.column("schedule", sa.JSON()),
)
_COLUMNS = ("batches", "bill_cycle_day", "bill_run_filters", "organization_labels", "schedule")

_LABEL_KEYS = (
    ("organizationId", "organization_id"),
    ("organizationName", "organization_name"),
    ("cascadingDown", "cascading_down"),
    ("excluded", "excluded"),
)


# --- Zuora's shapes -> billcycle's -----------------------------------------------------


def _batches_up(value: list[Any] | None) -> list[int] | None:
    if value is None:
        return None
    numbers = {
        int(str(b).removeprefix("Batch")) for b in value if b != "AllBatches" and b is not None
    }
    return sorted(numbers)


def _day_up(value: str | None) -> str | None:
    return "All" if value == "AllBillCycleDays" else value


def _id_up(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, int) else int(str(value), 16)


def _filters_up(value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not value:
        return None
    out = []
    for item in value:
        new: dict[str, Any] = {
            "filter_type": item.get("filterType", item.get("filter_type")),
            "account_id": _id_up(item.get("accountId", item.get("account_id"))),
        }
        subscription = _id_up(item.get("subscriptionId", item.get("subscription_id")))
        if subscription is not None:
            new["subscription_id"] = subscription
        out.append(new)
    return out


def _labels_up(value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not value:
        return None
    return [
        {
            snake: item.get(camel, item.get(snake))
            for camel, snake in _LABEL_KEYS
            if item.get(camel, item.get(snake)) is not None
        }
        for item in value
    ]


def _weekday_up(value: Any) -> int:
    return value if isinstance(value, int) else WEEKDAYS.index(value)


def _schedule_up(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None or "repeat_from" in value:
        return value
    repeat_type = value["repeatType"]
    return {
        "repeat_from": value["repeatFrom"],
        "repeat_type": repeat_type,
        "run_time": int(value["runTime"]),
        "repeat_to": value.get("repeatTo"),
        "weekly_on_day": sorted(_weekday_up(d) for d in value.get("weeklyOnDay") or ())
        if repeat_type == "Weekly"
        else [],
        "monthly_on_end_of_month": bool(value.get("monthlyOnEndOfMonth", False))
        and repeat_type == "Monthly",
    }


# --- billcycle's shapes -> Zuora's ---------------------------------------------------


def _batches_down(value: list[Any] | None) -> list[str] | None:
    if value is None:
        return None
    if any(isinstance(b, str) for b in value):
        return value  # already Zuora's
    return [f"Batch{n}" for n in sorted(value)] if value else ["AllBatches"]


def _day_down(value: str | None) -> str | None:
    return "AllBillCycleDays" if value == "All" else value


def _id_down(value: Any) -> str | None:
    if value is None:
        return None
    return f"{value:032x}" if isinstance(value, int) else str(value)


def _filters_down(value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not value:
        return None
    out = []
    for item in value:
        new: dict[str, Any] = {
            "filterType": item.get("filter_type", item.get("filterType")),
            "accountId": _id_down(item.get("account_id", item.get("accountId"))),
        }
        subscription = _id_down(item.get("subscription_id", item.get("subscriptionId")))
        if subscription is not None:
            new["subscriptionId"] = subscription
        out.append(new)
    return out


def _labels_down(value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not value:
        return None
    return [
        {
            camel: item.get(snake, item.get(camel))
            for camel, snake in _LABEL_KEYS
            if item.get(snake, item.get(camel)) is not None
        }
        for item in value
    ]


def _schedule_down(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None or "repeatFrom" in value:
        return value
    repeat_type = value["repeat_type"]
    data: dict[str, Any] = {
        "repeatFrom": value["repeat_from"],
        "repeatType": repeat_type,
        "runTime": int(value["run_time"]),
    }
    if value.get("repeat_to") is not None:
        data["repeatTo"] = value["repeat_to"]
    if repeat_type == "Weekly":
        data["weeklyOnDay"] = [WEEKDAYS[int(d)] for d in value.get("weekly_on_day") or ()]
    if repeat_type == "Monthly":
        data["monthlyOnEndOfMonth"] = bool(value.get("monthly_on_end_of_month", False))
    return data


_UP: dict[str, Callable[[Any], Any]] = {
    "batches": _batches_up,
    "bill_cycle_day": _day_up,
    "bill_run_filters": _filters_up,
    "organization_labels": _labels_up,
    "schedule": _schedule_up,
}
_DOWN: dict[str, Callable[[Any], Any]] = {
    "batches": _batches_down,
    "bill_cycle_day": _day_down,
    "bill_run_filters": _filters_down,
    "organization_labels": _labels_down,
    "schedule": _schedule_down,
}


def _convert(converters: dict[str, Callable[[Any], Any]]) -> None:
    """Rewrite every run's request columns, a page of runs at a time."""
    bind = op.get_bind()
    last_id = -1
    while True:
        rows = bind.execute(
            sa.select(_runs.c.id, *(_runs.c[name] for name in _COLUMNS))
            .where(_runs.c.id > last_id)
            .order_by(_runs.c.id)
            .limit(PAGE)
        ).all()
        if not rows:
            return
        for row in rows:
            changed: dict[str, Any] = {}
            for name in _COLUMNS:
                old = getattr(row, name)
                new = converters[name](old)
                if new != old:
                    changed[name] = sa.null() if new is None else new
            if changed:
                bind.execute(sa.update(_runs).where(_runs.c.id == row.id).values(**changed))
        last_id = rows[-1].id


def upgrade() -> None:
    _convert(_UP)


def downgrade() -> None:
    _convert(_DOWN)
