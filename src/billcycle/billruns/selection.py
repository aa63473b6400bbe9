"""Which accounts a bill run bills, as data the repository turns into SQL."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from billcycle.billruns.schedule import as_run_day_values
from billcycle.billruns.spec import BillRunSpec, CycleDays


@dataclass(frozen=True, slots=True)
class Selection:
    batches: tuple[int, ...] | None  # None: all batches
    bill_cycle_days: tuple[int, ...] | None  # None: all bill cycle days
    account_ids: tuple[int, ...] | None  # from the filters
    subscription_ids: tuple[int, ...] | None  # from subscription filters
    # organizationLabels (multi-org): accounts of these organizations only (None: any),
    # never of the excluded ones.
    organization_ids: tuple[int, ...] | None = None
    excluded_organization_ids: tuple[int, ...] = ()


def with_organizations(
    selection: Selection, include: tuple[int, ...] | None, exclude: tuple[int, ...]
) -> Selection:
    return replace(selection, organization_ids=include, excluded_organization_ids=exclude)


def selection_of(spec: BillRunSpec, run_date: date) -> Selection:
    """What ``spec`` selects when it runs on ``run_date`` (AsRunDay depends on it)."""
    if spec.filters:
        return Selection(
            batches=None,
            bill_cycle_days=None,
            account_ids=tuple(sorted({f.account_id for f in spec.filters})),
            subscription_ids=tuple(sorted(set(spec.subscription_ids))) or None,
        )
    days: tuple[int, ...] | None = None
    if spec.bill_cycle_day == CycleDays.AS_RUN_DAY:
        days = as_run_day_values(run_date)
    elif isinstance(spec.bill_cycle_day, int):
        days = (spec.bill_cycle_day,)
    return Selection(spec.batches or None, days, None, None)
