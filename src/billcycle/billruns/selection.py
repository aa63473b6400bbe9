"""Which accounts a bill run bills, as data the repository turns into SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from billcycle.billruns.schedule import as_run_day_values
from billcycle.ids import parse_zuora_id


@dataclass(frozen=True, slots=True)
class Selection:
    batches: tuple[int, ...] | None  # None: all batches
    bill_cycle_days: tuple[int, ...] | None  # None: all bill cycle days
    account_ids: tuple[int, ...] | None  # from billRunFilters
    subscription_ids: tuple[int, ...] | None  # from subscription filters


def selection_of(
    batches: list[str] | None,
    bill_cycle_day: str | None,
    filters: list[dict[str, Any]] | None,
    run_date: date,
) -> Selection:
    """From the run's stored request fields (Zuora's own spellings)."""
    if filters:
        accounts: list[int] = []
        subscriptions: list[int] = []
        for item in filters:
            account = parse_zuora_id(str(item.get("accountId", "")))
            if account is not None:
                accounts.append(account)
            subscription = parse_zuora_id(str(item.get("subscriptionId") or ""))
            if item.get("filterType") == "Subscription" and subscription is not None:
                subscriptions.append(subscription)
        return Selection(
            batches=None,
            bill_cycle_days=None,
            account_ids=tuple(sorted(set(accounts))),
            subscription_ids=tuple(sorted(set(subscriptions))) or None,
        )
    batch_numbers: tuple[int, ...] | None = None
    if batches and "AllBatches" not in batches:
        batch_numbers = tuple(sorted(int(b.removeprefix("Batch")) for b in batches))
    days: tuple[int, ...] | None = None
    if bill_cycle_day == "AsRunDay":
        days = as_run_day_values(run_date)
    elif bill_cycle_day and bill_cycle_day != "AllBillCycleDays":
        days = (int(bill_cycle_day),)
    return Selection(batch_numbers, days, None, None)
