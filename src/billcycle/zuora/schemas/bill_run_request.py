"""Zuora's bill-run request body, parsed and checked into billcycle's ``BillRunSpec``.

Everything about the wire shape lives here: camelCase keys, ``Batch7`` words, 32-hex
ids, ``AllBillCycleDays``/``AsRunDay``, Zuora's merge semantics for updates, and the
exact error messages. What depends on today (a schedule in the past, the 10-year
horizon, a fixed date's distance from ``repeatFrom``, the month-end rule) is the
domain's (``billruns.rules``); ``zuora_wording`` puts its errors in Zuora's words.
Unknown keys are ignored here: the route's request model rejects them first.

Decisions where Zuora is silent or ambiguous (documented so the API behaves the same
everywhere):

- JSON ``null`` means "not given", on create and on update (the SDK never sends nulls);
  so an update cannot turn a scheduled run back into an ad hoc one.
- Neither ``batches`` nor ``billRunFilters``: MissingField (no implicit AllBatches).
- Scheduled runs: the SDK documents ``invoiceDate``/``targetDate`` as defaulting to
  ``repeatFrom``, and Zuora's own monthly use cases send a fixed ``invoiceDate`` with a
  schedule. So a fixed date on a scheduled run is accepted and stored as a day offset
  from ``repeatFrom`` (what Zuora echoes as ``invoiceDateOffset``); no date at all means
  offset 0. ``invoiceDateOffset``/``targetDateOffset`` (response fields) are accepted
  too. Per date, the fixed date, the day offset and the month pair are mutually
  exclusive; the month pair needs both halves and a Monthly schedule.
- ``schedule.repeatFrom``, when given in the request, must not be before today;
  ``repeatFrom``/``invoiceDate``/``targetDate`` must not be more than 10 years after
  today (Zuora's published limit for scheduling), and no date before 1900-01-01.
  Day offsets are limited to +-3650 and month offsets to +-120.
- ``monthlyOnEndOfMonth`` defaults to false; true needs a Monthly schedule whose
  ``repeatFrom`` is a month end; false is accepted (and dropped) on other schedules.
- ``weeklyOnDay`` on a non-Weekly schedule, or a duplicate batch, weekday, charge type
  or subscription: InvalidValue. Filter types other than Account/Subscription
  (InvoiceSchedule, BillRunErrors, FilterCondition) are rejected as unsupported.
- Booleans must be JSON booleans and integers JSON integers (the SDK's Strict types);
  ``billCycleDay`` takes a string or an integer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from billcycle.billruns.rules import (
    HORIZON_YEARS,
    MAX_DAY_OFFSET,
    BillRunSpecError,
    SpecRule,
)
from billcycle.billruns.schedule import BillRunSchedule, DateRule, DayOffset, MonthDay, RepeatType
from billcycle.billruns.spec import (
    EXCLUDABLE_CHARGE_TYPES,
    BillCycleDay,
    BillRunFilter,
    BillRunPatch,
    BillRunSpec,
    BillRunType,
    CycleDays,
    FilterType,
    FixedDate,
    OrganizationLabel,
    SpecChange,
    SpecDate,
)
from billcycle.errors import InvalidValue, MissingField
from billcycle.ids import parse_zuora_id
from billcycle.rating.types import ChargeType
from billcycle.zuora.schemas.bill_run_fields import (
    ALL_BATCHES,
    ALL_BILL_CYCLE_DAYS,
    AS_RUN_DAY,
    WEEKDAY_NAMES,
    batches_json,
    bill_cycle_day_json,
    filters_json,
    labels_json,
    schedule_json,
)

RESOURCE = "bill_run"

MAX_NAME_LENGTH = 255
MAX_BATCH = 50
MAX_FILTERS = 50
MAX_CHARGE_TYPES_EXCLUDED = 2
MAX_MONTH_OFFSET = 120
MAX_LABEL_LENGTH = 255
EARLIEST_DATE = date(1900, 1, 1)


_BILL_RUN_TYPES: tuple[BillRunType, ...] = tuple(BillRunType)
_FILTER_TYPES: tuple[FilterType, ...] = tuple(FilterType)
_REPEAT_TYPES: tuple[RepeatType, ...] = tuple(RepeatType)

_BATCH = re.compile(r"Batch([1-9][0-9]?)")
_DAY = re.compile(r"[1-9][0-9]?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

_BOOLEANS: tuple[tuple[str, str, bool], ...] = (
    # (wire key, spec attribute, default)
    ("autoPost", "auto_post", False),
    ("autoEmail", "auto_email", False),
    ("autoRenewal", "auto_renewal", False),
    ("noEmailForZeroAmountInvoice", "no_email_for_zero_amount_invoice", False),
    ("includeSubscriptions", "include_subscriptions", True),
    ("includeOrderLineItems", "include_order_line_items", True),
)


# --- errors ------------------------------------------------------------------------


def _invalid(field: str, message: str) -> InvalidValue:
    return InvalidValue(message, resource=RESOURCE, field=field)


def _missing(field: str, message: str | None = None) -> MissingField:
    return MissingField(message or f"{field} is required.", resource=RESOURCE, field=field)


_WIRE_DATES = {
    SpecDate.REPEAT_FROM: "schedule.repeatFrom",
    SpecDate.INVOICE_DATE: "invoiceDate",
    SpecDate.TARGET_DATE: "targetDate",
}


def zuora_error(exc: BillRunSpecError) -> InvalidValue:
    """A domain spec error in Zuora's words (its field names and messages)."""
    field = None if exc.subject is None else _WIRE_DATES[exc.subject]
    message: str
    if exc.rule is SpecRule.IN_THE_PAST:
        message = f"{field} {exc.value} is in the past (today is {exc.bound})."
    elif exc.rule is SpecRule.BEYOND_HORIZON:
        message = (
            f"{field} {exc.value} is more than {HORIZON_YEARS} years ahead (after {exc.bound})."
        )
    elif exc.rule is SpecRule.FAR_FROM_REPEAT_FROM:
        message = f"{field} {exc.value} is more than {MAX_DAY_OFFSET} days from repeatFrom."
    elif exc.rule is SpecRule.NOT_MONTH_END:
        field = "schedule.monthlyOnEndOfMonth"
        message = (
            "schedule.monthlyOnEndOfMonth needs schedule.repeatFrom to be the last day"
            f" of a month ({exc.value} is not)."
        )
    elif exc.rule is SpecRule.UNKNOWN_ACCOUNT:
        message = "billRunFilters: account {account} does not exist."
    elif exc.rule is SpecRule.FOREIGN_SUBSCRIPTION:
        message = (
            "billRunFilters: subscription {subscription} does not belong to account {account}."
        )
    else:  # NO_OCCURRENCE_LEFT
        field = "schedule"
        message = (
            "The schedule has no occurrence left."
            if exc.updating
            else "The schedule has no occurrence left: check repeatFrom, repeatTo and runTime."
        )
    return InvalidValue(message, resource=RESOURCE, field=field, ids=exc.ids)


@contextmanager
def zuora_wording() -> Iterator[None]:
    """Around a bill-run service call: its spec errors come out in Zuora's words."""
    try:
        yield
    except BillRunSpecError as exc:
        raise zuora_error(exc) from exc


# --- scalar readers ----------------------------------------------------------------

_T = TypeVar("_T", bound=str)


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise _invalid(field, f"{field} must be a boolean (true or false), got {value!r}.")
    return value


def _int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, f"{field} must be an integer, got {value!r}.")
    if not low <= value <= high:
        raise _invalid(field, f"{field} must be between {low} and {high}, got {value}.")
    return value


def _text(value: object, field: str, max_len: int) -> str | None:
    if not isinstance(value, str):
        raise _invalid(field, f"{field} must be a string, got {value!r}.")
    text = value.strip()
    if len(text) > max_len:
        raise _invalid(field, f"{field} is longer than {max_len} characters.")
    return text or None


def _choice(value: object, field: str, allowed: Sequence[_T]) -> _T:
    for option in allowed:
        if value == option and isinstance(value, str):
            return option
    raise _invalid(field, f"Invalid value for {field}: {value!r}. Allowed: {', '.join(allowed)}.")


def _date(value: object, field: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            raise _invalid(field, f"{field} '{value}' is not a valid date.") from None
    else:
        raise _invalid(field, f"{field} must be a date in yyyy-mm-dd format, got {value!r}.")
    if parsed < EARLIEST_DATE:
        raise _invalid(field, f"{field} {parsed} is before {EARLIEST_DATE}.")
    return parsed


def _list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise _invalid(field, f"{field} must be a list, got {value!r}.")
    return value


def _object(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(field, f"{field} must be an object, got {value!r}.")
    return value


# --- field groups ------------------------------------------------------------------


def _batches(value: object) -> tuple[int, ...]:
    items = _list(value, "batches")
    if not items:
        raise _invalid("batches", "batches must not be empty.")
    numbers: list[int] = []
    has_all = False
    for item in items:
        if item == ALL_BATCHES:
            if has_all:
                raise _invalid("batches", f"batches lists {ALL_BATCHES} more than once.")
            has_all = True
            continue
        match = _BATCH.fullmatch(item) if isinstance(item, str) else None
        if match is None or not 1 <= int(match.group(1)) <= MAX_BATCH:
            raise _invalid(
                "batches",
                f"Invalid batch {item!r}: use {ALL_BATCHES} or Batch1 to Batch{MAX_BATCH}.",
            )
        number = int(match.group(1))
        if number in numbers:
            raise _invalid("batches", f"batches lists {item} more than once.")
        numbers.append(number)
    if has_all and numbers:
        raise _invalid("batches", f"batches cannot combine {ALL_BATCHES} with BatchN values.")
    return tuple(sorted(numbers))


def _bill_cycle_day(value: object, scheduled: bool) -> BillCycleDay:
    field = "billCycleDay"
    if value == ALL_BILL_CYCLE_DAYS:
        return CycleDays.ALL
    if value == AS_RUN_DAY:
        if not scheduled:
            raise _invalid(
                field, f"billCycleDay {AS_RUN_DAY} is only valid for scheduled bill runs."
            )
        return CycleDays.AS_RUN_DAY
    day: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        day = value
    elif isinstance(value, str) and _DAY.fullmatch(value):
        day = int(value)
    if day is None or not 1 <= day <= 31:
        raise _invalid(
            field,
            f"Invalid value for billCycleDay: {value!r}. Use {ALL_BILL_CYCLE_DAYS}, 1 to 31"
            f" or {AS_RUN_DAY} (scheduled runs only).",
        )
    return day


def _hex_id(value: object, field: str) -> int:
    parsed = parse_zuora_id(value) if isinstance(value, str) else None
    if parsed is None:
        raise _invalid(field, f"{field} must be a 32-character hexadecimal id, got {value!r}.")
    return parsed


def _filters(value: object) -> tuple[BillRunFilter, ...]:
    items = _list(value, "billRunFilters")
    if not items:
        raise _invalid("billRunFilters", "billRunFilters must not be empty.")
    if len(items) > MAX_FILTERS:
        raise _invalid(
            "billRunFilters", f"billRunFilters has {len(items)} filters; at most {MAX_FILTERS}."
        )
    filters: list[BillRunFilter] = []
    for index, raw in enumerate(items):
        path = f"billRunFilters[{index}]"
        item = _object(raw, path)
        if item.get("filterType") is None:
            raise _missing(f"{path}.filterType")
        filter_type = _choice(item["filterType"], f"{path}.filterType", _FILTER_TYPES)
        if item.get("accountId") is None:
            raise _missing(f"{path}.accountId")
        account_id = _hex_id(item["accountId"], f"{path}.accountId")
        subscription_id: int | None = None
        if filter_type == FilterType.SUBSCRIPTION:
            if item.get("subscriptionId") is None:
                raise _missing(
                    f"{path}.subscriptionId",
                    f"{path}.subscriptionId is required when filterType is Subscription.",
                )
            subscription_id = _hex_id(item["subscriptionId"], f"{path}.subscriptionId")
        elif item.get("subscriptionId") is not None:
            raise _invalid(
                f"{path}.subscriptionId",
                f"{path}.subscriptionId is only valid when filterType is Subscription.",
            )
        filters.append(BillRunFilter(filter_type, account_id, subscription_id))

    kinds = {f.filter_type for f in filters}
    if len(kinds) > 1:
        raise _invalid(
            "billRunFilters", "billRunFilters cannot mix Account and Subscription filters."
        )
    if kinds == {FilterType.ACCOUNT} and len(filters) > 1:
        raise _invalid("billRunFilters", "A bill run by account takes exactly one Account filter.")
    if len({f.account_id for f in filters}) > 1:
        raise _invalid(
            "billRunFilters",
            "All subscriptions of a bill run by subscription must belong to one account.",
        )
    seen: set[int] = set()
    for index, f in enumerate(filters):
        if f.subscription_id is not None:
            if f.subscription_id in seen:
                raise InvalidValue(
                    "Subscription {subscription} is listed more than once.",
                    resource=RESOURCE,
                    field=f"billRunFilters[{index}].subscriptionId",
                    ids={"subscription": f.subscription_id},
                )
            seen.add(f.subscription_id)
    return tuple(filters)


def _charge_types(value: object) -> tuple[ChargeType, ...]:
    field = "chargeTypeToExclude"
    items = _list(value, field)
    chosen: list[ChargeType] = []
    for item in items:
        charge_type = _choice(item, field, EXCLUDABLE_CHARGE_TYPES)
        if charge_type in chosen:
            raise _invalid(field, f"{field} lists {charge_type} more than once.")
        chosen.append(charge_type)
    if len(chosen) > MAX_CHARGE_TYPES_EXCLUDED:
        raise _invalid(
            field, f"{field} can exclude at most {MAX_CHARGE_TYPES_EXCLUDED} charge types."
        )
    return tuple(sorted(chosen, key=EXCLUDABLE_CHARGE_TYPES.index))


def _labels(value: object) -> tuple[OrganizationLabel, ...]:
    labels: list[OrganizationLabel] = []
    for index, raw in enumerate(_list(value, "organizationLabels")):
        path = f"organizationLabels[{index}]"
        item = _object(raw, path)
        org_id = item.get("organizationId")
        org_name = item.get("organizationName")
        label = OrganizationLabel(
            organization_id=None
            if org_id is None
            else _text(org_id, f"{path}.organizationId", MAX_LABEL_LENGTH),
            organization_name=None
            if org_name is None
            else _text(org_name, f"{path}.organizationName", MAX_LABEL_LENGTH),
            cascading_down=None
            if item.get("cascadingDown") is None
            else _bool(item["cascadingDown"], f"{path}.cascadingDown"),
            excluded=None
            if item.get("excluded") is None
            else _bool(item["excluded"], f"{path}.excluded"),
        )
        if label.organization_id is None and label.organization_name is None:
            raise _missing(
                f"{path}.organizationId", f"{path} needs organizationId or organizationName."
            )
        labels.append(label)
    return tuple(labels)


def _schedule(raw: object) -> BillRunSchedule:
    data = {k: v for k, v in _object(raw, "schedule").items() if v is not None}
    for key in ("repeatFrom", "repeatType", "runTime"):
        if key not in data:
            raise _missing(f"schedule.{key}")
    repeat_from = _date(data["repeatFrom"], "schedule.repeatFrom")
    repeat_to: date | None = None
    if "repeatTo" in data:
        repeat_to = _date(data["repeatTo"], "schedule.repeatTo")
        if repeat_to < repeat_from:
            raise _invalid(
                "schedule.repeatTo",
                f"schedule.repeatTo {repeat_to} is before schedule.repeatFrom {repeat_from}.",
            )
    repeat_type = _choice(data["repeatType"], "schedule.repeatType", _REPEAT_TYPES)
    run_time = _int(data["runTime"], "schedule.runTime", 0, 23)

    weekly: tuple[int, ...] = ()
    if repeat_type == RepeatType.WEEKLY:
        if "weeklyOnDay" not in data:
            raise _missing(
                "schedule.weeklyOnDay", "schedule.weeklyOnDay is required for a Weekly schedule."
            )
        days: list[int] = []
        for name in _list(data["weeklyOnDay"], "schedule.weeklyOnDay"):
            day = WEEKDAY_NAMES.index(_choice(name, "schedule.weeklyOnDay", WEEKDAY_NAMES))
            if day in days:
                raise _invalid(
                    "schedule.weeklyOnDay", f"schedule.weeklyOnDay lists {name} more than once."
                )
            days.append(day)
        if not days:
            raise _invalid("schedule.weeklyOnDay", "schedule.weeklyOnDay must not be empty.")
        weekly = tuple(sorted(days))
    elif "weeklyOnDay" in data:
        raise _invalid(
            "schedule.weeklyOnDay", "schedule.weeklyOnDay is only valid for a Weekly schedule."
        )

    end_of_month = False
    if "monthlyOnEndOfMonth" in data:
        end_of_month = _bool(data["monthlyOnEndOfMonth"], "schedule.monthlyOnEndOfMonth")
        if end_of_month and repeat_type != RepeatType.MONTHLY:
            raise _invalid(
                "schedule.monthlyOnEndOfMonth",
                "schedule.monthlyOnEndOfMonth is only valid for a Monthly schedule.",
            )
    return BillRunSchedule(
        repeat_from=repeat_from,
        repeat_type=repeat_type,
        run_time=run_time,
        repeat_to=repeat_to,
        weekly_on_day=weekly,
        monthly_on_end_of_month=end_of_month,
    )


def _date_keys(prefix: str) -> tuple[str, str, str, str]:
    """(fixed date, day offset, month offset, day of month) keys of one date."""
    return prefix, f"{prefix}Offset", f"{prefix}MonthOffset", f"{prefix}DayOfMonth"


def _date_rule(
    prefix: str, data: Mapping[str, Any], schedule: BillRunSchedule
) -> DateRule | FixedDate:
    fixed, offset, month_offset, day_of_month = _date_keys(prefix)
    forms = [key for key in (fixed, offset) if key in data]
    if month_offset in data or day_of_month in data:
        forms.append(f"{month_offset}/{day_of_month}")
    if len(forms) > 1:
        raise _invalid(forms[1], f"{forms[0]} and {forms[1]} are mutually exclusive.")
    if month_offset in data or day_of_month in data:
        if schedule.repeat_type != RepeatType.MONTHLY:
            raise _invalid(
                month_offset if month_offset in data else day_of_month,
                f"{month_offset}/{day_of_month} are only valid for a Monthly schedule.",
            )
        for key in (month_offset, day_of_month):
            if key not in data:
                raise _missing(
                    key, f"{key} is required with {month_offset}/{day_of_month} (set both)."
                )
        return MonthDay(
            month_offset=_int(
                data[month_offset], month_offset, -MAX_MONTH_OFFSET, MAX_MONTH_OFFSET
            ),
            day_of_month=_int(data[day_of_month], day_of_month, 1, 31),
        )
    if offset in data:
        return DayOffset(_int(data[offset], offset, -MAX_DAY_OFFSET, MAX_DAY_OFFSET))
    if fixed in data:
        return FixedDate(_date(data[fixed], fixed))  # the domain makes it an offset
    return DayOffset(0)  # the SDK: defaults to schedule.repeatFrom


# --- the request ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Body:
    """A request body with its nulls dropped, and which keys it (and its schedule) set."""

    given: dict[str, Any]
    schedule_given: frozenset[str]

    @classmethod
    def of(cls, data: object) -> _Body:
        if not isinstance(data, Mapping):
            raise InvalidValue("The request body must be a JSON object.", resource=RESOURCE)
        given = {key: value for key, value in data.items() if value is not None}
        schedule_given: frozenset[str] = frozenset()
        if "schedule" in given:
            schedule_given = frozenset(
                k for k, v in _object(given["schedule"], "schedule").items() if v is not None
            )
        return cls(given, schedule_given)

    @property
    def new_dates(self) -> frozenset[SpecDate]:
        new = {SpecDate.REPEAT_FROM} if "repeatFrom" in self.schedule_given else set()
        new |= {d for d, key in _WIRE_DATES.items() if key in self.given}
        return frozenset(new)


def parse_bill_run_request(data: Mapping[str, Any]) -> BillRunSpec:
    """Check a Zuora create body and build its spec (the domain settles the dates)."""
    return _build(_Body.of(data).given)


def bill_run_patch(data: Mapping[str, Any]) -> BillRunPatch:
    """A Zuora update body as a patch of the stored spec: only the fields given change;
    choosing ``batches`` drops existing filters and vice versa, and giving one form of
    a date replaces the other forms. The body's shape is checked when the patch is
    applied (under the run's lock, after the run's status)."""

    def apply(existing: BillRunSpec) -> SpecChange:
        body = _Body.of(data)
        return SpecChange(_build(_merge(as_request(existing), body.given)), body.new_dates)

    return apply


def _merge(base: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    if "billRunFilters" in given:
        merged.pop("batches", None)
        merged.pop("billCycleDay", None)
    if "batches" in given:
        merged.pop("billRunFilters", None)
    for prefix in ("invoiceDate", "targetDate"):
        fixed, offset, month_offset, day_of_month = _date_keys(prefix)
        if fixed in given or offset in given:
            for key in (fixed, offset, month_offset, day_of_month):
                merged.pop(key, None)
        elif month_offset in given or day_of_month in given:
            merged.pop(fixed, None)
            merged.pop(offset, None)
    for key, value in given.items():
        if key == "schedule" and isinstance(base.get("schedule"), Mapping):
            old: dict[str, Any] = dict(base["schedule"])
            new = {k: v for k, v in _object(value, "schedule").items() if v is not None}
            if "repeatType" in new and new["repeatType"] != old.get("repeatType"):
                old.pop("weeklyOnDay", None)
                old.pop("monthlyOnEndOfMonth", None)
            merged["schedule"] = {**old, **new}
        else:
            merged[key] = value
    return merged


def _build(data: Mapping[str, Any]) -> BillRunSpec:
    name = None if "name" not in data else _text(data["name"], "name", MAX_NAME_LENGTH)
    bill_run_type = (
        _choice(data["billRunType"], "billRunType", _BILL_RUN_TYPES)
        if "billRunType" in data
        else BillRunType.REGULAR
    )
    schedule = _schedule(data["schedule"]) if "schedule" in data else None

    # Selection: batches (+ billCycleDay) xor billRunFilters.
    batches: tuple[int, ...] | None = None
    bill_cycle_day: BillCycleDay | None = None
    filters: tuple[BillRunFilter, ...] = ()
    if "batches" in data and "billRunFilters" in data:
        raise _invalid("billRunFilters", "Specify either batches or billRunFilters, not both.")
    if "batches" in data:
        batches = _batches(data["batches"])
        bill_cycle_day = (
            _bill_cycle_day(data["billCycleDay"], schedule is not None)
            if "billCycleDay" in data
            else CycleDays.ALL
        )
    elif "billRunFilters" in data:
        if "billCycleDay" in data:
            raise _invalid("billCycleDay", "billCycleDay is only valid together with batches.")
        filters = _filters(data["billRunFilters"])
    else:
        raise _missing("batches", "Either batches or billRunFilters is required.")

    charge_types = (
        _charge_types(data["chargeTypeToExclude"]) if "chargeTypeToExclude" in data else ()
    )
    flags = {
        attr: _bool(data[key], key) if key in data else default for key, attr, default in _BOOLEANS
    }

    invoice_date: date | None = None
    target_date: date | None = None
    invoice_rule: DateRule | FixedDate | None = None
    target_rule: DateRule | FixedDate | None = None
    if schedule is None:
        for prefix in ("invoiceDate", "targetDate"):
            for key in _date_keys(prefix)[1:]:
                if key in data:
                    raise _invalid(key, f"{key} is only valid for scheduled bill runs.")
        if "targetDate" not in data:
            raise _missing("targetDate", "targetDate is required for an ad hoc bill run.")
        target_date = _date(data["targetDate"], "targetDate")
        if "invoiceDate" in data:  # else today, which only the domain knows
            invoice_date = _date(data["invoiceDate"], "invoiceDate")
    else:
        invoice_rule = _date_rule("invoiceDate", data, schedule)
        target_rule = _date_rule("targetDate", data, schedule)

    labels = _labels(data["organizationLabels"]) if "organizationLabels" in data else ()
    return BillRunSpec(
        bill_run_type=bill_run_type,
        name=name,
        batches=batches,
        bill_cycle_day=bill_cycle_day,
        filters=filters,
        charge_types_to_exclude=charge_types,
        invoice_date=invoice_date,
        target_date=target_date,
        invoice_date_rule=invoice_rule,
        target_date_rule=target_rule,
        schedule=schedule,
        organization_labels=labels,
        auto_post=flags["auto_post"],
        auto_email=flags["auto_email"],
        auto_renewal=flags["auto_renewal"],
        no_email_for_zero_amount_invoice=flags["no_email_for_zero_amount_invoice"],
        include_subscriptions=flags["include_subscriptions"],
        include_order_line_items=flags["include_order_line_items"],
    )


# --- the stored spec as a request (the base of updates) -------------------------------


def as_request(spec: BillRunSpec) -> dict[str, Any]:
    """``spec`` as a request body that parses back to ``spec`` (the base of updates)."""
    body: dict[str, Any] = {"billRunType": str(spec.bill_run_type)}
    if spec.name is not None:
        body["name"] = spec.name
    if spec.batches is not None:
        body["batches"] = batches_json(spec.batches)
        body["billCycleDay"] = bill_cycle_day_json(spec.bill_cycle_day)
    else:
        body["billRunFilters"] = filters_json(spec.filters)
    if spec.charge_types_to_exclude:
        body["chargeTypeToExclude"] = [str(t) for t in spec.charge_types_to_exclude]
    for key, attr, _default in _BOOLEANS:
        body[key] = getattr(spec, attr)
    if spec.schedule is None:
        if spec.invoice_date is not None:
            body["invoiceDate"] = spec.invoice_date.isoformat()
        if spec.target_date is not None:
            body["targetDate"] = spec.target_date.isoformat()
    else:
        body["schedule"] = schedule_json(spec.schedule)
        for prefix, rule in (
            ("invoiceDate", spec.invoice_date_rule),
            ("targetDate", spec.target_date_rule),
        ):
            fixed, offset, month_offset, day_of_month = _date_keys(prefix)
            if isinstance(rule, MonthDay):
                body[month_offset] = rule.month_offset
                body[day_of_month] = rule.day_of_month
            elif isinstance(rule, DayOffset):
                body[offset] = rule.days
            elif isinstance(rule, FixedDate):
                body[fixed] = rule.value.isoformat()
    labels = labels_json(spec.organization_labels)
    if labels:
        body["organizationLabels"] = labels
    return body
