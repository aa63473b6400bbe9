"""A bill run in billcycle's own terms: what it bills, and when.

Pure values: a dialect's parser builds a ``BillRunSpec`` from its wire body (checking
the wire shape), ``rules.settle`` checks what depends on today, and ``columns`` stores
it. Nothing here knows how any dialect spells a field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from billcycle.billruns.schedule import BillRunSchedule, DateRule, DayOffset, apply_date_rule
from billcycle.rating.types import ChargeType


class BillRunType(StrEnum):
    REGULAR = "Regular"
    CATCH_UP = "CatchUp"


# The kinds of charge a run can leave out, in the order a run lists them.
EXCLUDABLE_CHARGE_TYPES: tuple[ChargeType, ...] = (
    ChargeType.OneTime,
    ChargeType.Recurring,
    ChargeType.Usage,
)


class FilterType(StrEnum):
    ACCOUNT = "Account"
    SUBSCRIPTION = "Subscription"


class CycleDays(StrEnum):
    """Bill cycle day selections other than one day of the month."""

    ALL = "All"
    AS_RUN_DAY = "AsRunDay"  # the run date's day (scheduled runs only)


BillCycleDay = int | CycleDays


class SpecDate(StrEnum):
    """The dates a request can set; only those it set are checked against today."""

    REPEAT_FROM = "repeat_from"
    INVOICE_DATE = "invoice_date"
    TARGET_DATE = "target_date"


ALL_DATES: frozenset[SpecDate] = frozenset(SpecDate)


@dataclass(frozen=True)
class BillRunFilter:
    filter_type: FilterType
    account_id: int
    subscription_id: int | None = None


@dataclass(frozen=True)
class OrganizationLabel:
    organization_id: str | None = None
    organization_name: str | None = None
    cascading_down: bool | None = None
    excluded: bool | None = None


@dataclass(frozen=True)
class FixedDate:
    """A fixed date asked for on a scheduled run: ``rules.settle`` turns it into the
    day offset from ``repeat_from`` that every occurrence applies (stored specs never
    hold one)."""

    value: date


@dataclass(frozen=True)
class BillRunSpec:
    """What a bill run bills, and when.

    Selection is either by batch (``batches``: batch numbers, ``()`` = all batches, plus
    ``bill_cycle_day``) or by ``filters`` (then ``batches`` and ``bill_cycle_day`` are
    None). Ad hoc runs have ``invoice_date``/``target_date`` (``invoice_date`` None:
    today) and no rules; scheduled runs have ``schedule`` and the two rules, and no
    fixed dates (an occurrence's dates come from ``run_dates``).
    """

    bill_run_type: BillRunType = BillRunType.REGULAR
    name: str | None = None
    batches: tuple[int, ...] | None = ()
    bill_cycle_day: BillCycleDay | None = CycleDays.ALL
    filters: tuple[BillRunFilter, ...] = ()
    charge_types_to_exclude: tuple[ChargeType, ...] = ()
    auto_post: bool = False
    auto_email: bool = False
    auto_renewal: bool = False
    no_email_for_zero_amount_invoice: bool = False
    include_subscriptions: bool = True
    include_order_line_items: bool = True
    invoice_date: date | None = None
    target_date: date | None = None
    invoice_date_rule: DateRule | FixedDate | None = None
    target_date_rule: DateRule | FixedDate | None = None
    schedule: BillRunSchedule | None = None
    organization_labels: tuple[OrganizationLabel, ...] = ()

    @property
    def is_scheduled(self) -> bool:
        return self.schedule is not None

    @property
    def filter_account_id(self) -> int | None:
        """The one account a filtered run bills (every filter names the same one)."""
        return self.filters[0].account_id if self.filters else None

    @property
    def subscription_ids(self) -> tuple[int, ...]:
        return tuple(f.subscription_id for f in self.filters if f.subscription_id is not None)

    def run_dates(self, run_date: date) -> tuple[date, date]:
        """(invoice date, target date) of a run executing on ``run_date``.

        Ad hoc runs carry fixed dates; scheduled ones derive them from the run date.
        """
        if self.schedule is None:
            if self.invoice_date is None or self.target_date is None:
                raise ValueError("an ad hoc bill run spec needs invoice_date and target_date")
            return self.invoice_date, self.target_date
        return _apply(self.invoice_date_rule, run_date), _apply(self.target_date_rule, run_date)


def _apply(rule: DateRule | FixedDate | None, run_date: date) -> date:
    if isinstance(rule, FixedDate):
        raise ValueError("a fixed date on a schedule must be settled into an offset first")
    return apply_date_rule(rule or DayOffset(0), run_date)


@dataclass(frozen=True)
class SpecChange:
    """A spec as a request leaves it, and which of its dates the request set: a stored
    series' start is in the past once it has run, and is not checked again."""

    spec: BillRunSpec
    new_dates: frozenset[SpecDate] = ALL_DATES


# How a dialect's update applies to the stored spec (it owns its merge semantics: which
# of its fields displace which); the service applies it under the run's row lock.
BillRunPatch = Callable[[BillRunSpec], SpecChange]
