"""A bill-run request in domain terms, and the validation of Zuora's request body.

Pure: the caller passes ``today``; nothing here reads a clock or the database (ids in
``billRunFilters`` are checked for shape only; whether they exist is the service's job).
Unknown keys are ignored here: the Zuora dialect rejects them before we are called.

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
- ``schedule.repeatFrom``, when given in the request, must not be before ``today``;
  ``repeatFrom``/``invoiceDate``/``targetDate`` must not be more than 10 years after
  ``today`` (Zuora's published limit for scheduling), and no date before 1900-01-01.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypeVar

from billcycle.billruns.models import BillRun
from billcycle.billruns.schedule import (
    REPEAT_TYPES,
    WEEKDAY_NAMES,
    BillRunSchedule,
    DateRule,
    DayOffset,
    MonthDay,
    RepeatType,
    is_month_end,
    run_dates,
)
from billcycle.errors import InvalidValue, MissingField
from billcycle.ids import parse_zuora_id, to_zuora_id

RESOURCE = "bill_run"

BillRunType = Literal["Regular", "CatchUp"]
BillCycleDay = int | Literal["All", "AsRunDay"]
ChargeType = Literal["OneTime", "Recurring", "Usage"]
FilterType = Literal["Account", "Subscription"]

BILL_RUN_TYPES: tuple[BillRunType, ...] = ("Regular", "CatchUp")
CHARGE_TYPES: tuple[ChargeType, ...] = ("OneTime", "Recurring", "Usage")
FILTER_TYPES: tuple[FilterType, ...] = ("Account", "Subscription")

MAX_NAME_LENGTH = 255
MAX_BATCH = 50
MAX_FILTERS = 50
MAX_CHARGE_TYPES_EXCLUDED = 2
MAX_DAY_OFFSET = 3650
MAX_MONTH_OFFSET = 120
MAX_LABEL_LENGTH = 255
HORIZON_YEARS = 10
EARLIEST_DATE = date(1900, 1, 1)

ALL_BATCHES = "AllBatches"
ALL_BILL_CYCLE_DAYS = "AllBillCycleDays"
AS_RUN_DAY = "AsRunDay"

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
class BillRunSpec:
    """What a bill run bills, and when.

    Selection is either by batch (``batches``: batch numbers, ``()`` = all batches, plus
    ``bill_cycle_day``) or by ``filters`` (then ``batches`` and ``bill_cycle_day`` are
    None). Ad hoc runs have ``invoice_date``/``target_date`` and no rules; scheduled
    runs have ``schedule`` and the two rules, and no fixed dates (an occurrence's dates
    come from ``schedule.run_dates``).
    """

    bill_run_type: BillRunType = "Regular"
    name: str | None = None
    batches: tuple[int, ...] | None = ()
    bill_cycle_day: BillCycleDay | None = "All"
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
    invoice_date_rule: DateRule | None = None
    target_date_rule: DateRule | None = None
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


# --- errors ------------------------------------------------------------------------


def _invalid(field: str, message: str) -> InvalidValue:
    return InvalidValue(message, resource=RESOURCE, field=field)


def _missing(field: str, message: str | None = None) -> MissingField:
    return MissingField(message or f"{field} is required.", resource=RESOURCE, field=field)


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


def _horizon(today: date) -> date:
    try:
        return today.replace(year=today.year + HORIZON_YEARS)
    except ValueError:  # Feb 29
        return today.replace(year=today.year + HORIZON_YEARS, day=28)


def _within_horizon(value: date, field: str, today: date) -> date:
    limit = _horizon(today)
    if value > limit:
        raise _invalid(
            field, f"{field} {value} is more than {HORIZON_YEARS} years ahead (after {limit})."
        )
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
        return "All"
    if value == AS_RUN_DAY:
        if not scheduled:
            raise _invalid(
                field, f"billCycleDay {AS_RUN_DAY} is only valid for scheduled bill runs."
            )
        return "AsRunDay"
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
        filter_type = _choice(item["filterType"], f"{path}.filterType", FILTER_TYPES)
        if item.get("accountId") is None:
            raise _missing(f"{path}.accountId")
        account_id = _hex_id(item["accountId"], f"{path}.accountId")
        subscription_id: int | None = None
        if filter_type == "Subscription":
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
    if kinds == {"Account"} and len(filters) > 1:
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
                raise _invalid(
                    f"billRunFilters[{index}].subscriptionId",
                    f"Subscription {to_zuora_id(f.subscription_id)} is listed more than once.",
                )
            seen.add(f.subscription_id)
    return tuple(filters)


def _charge_types(value: object) -> tuple[ChargeType, ...]:
    field = "chargeTypeToExclude"
    items = _list(value, field)
    chosen: list[ChargeType] = []
    for item in items:
        charge_type = _choice(item, field, CHARGE_TYPES)
        if charge_type in chosen:
            raise _invalid(field, f"{field} lists {charge_type} more than once.")
        chosen.append(charge_type)
    if len(chosen) > MAX_CHARGE_TYPES_EXCLUDED:
        raise _invalid(
            field, f"{field} can exclude at most {MAX_CHARGE_TYPES_EXCLUDED} charge types."
        )
    return tuple(sorted(chosen, key=CHARGE_TYPES.index))


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


def _schedule(raw: object, fresh: set[str], today: date) -> BillRunSchedule:
    data = {k: v for k, v in _object(raw, "schedule").items() if v is not None}
    for key in ("repeatFrom", "repeatType", "runTime"):
        if key not in data:
            raise _missing(f"schedule.{key}")
    repeat_from = _date(data["repeatFrom"], "schedule.repeatFrom")
    if "repeatFrom" in fresh:
        if repeat_from < today:
            raise _invalid(
                "schedule.repeatFrom",
                f"schedule.repeatFrom {repeat_from} is in the past (today is {today}).",
            )
        _within_horizon(repeat_from, "schedule.repeatFrom", today)
    repeat_to: date | None = None
    if "repeatTo" in data:
        repeat_to = _date(data["repeatTo"], "schedule.repeatTo")
        if repeat_to < repeat_from:
            raise _invalid(
                "schedule.repeatTo",
                f"schedule.repeatTo {repeat_to} is before schedule.repeatFrom {repeat_from}.",
            )
    repeat_type: RepeatType = _choice(data["repeatType"], "schedule.repeatType", REPEAT_TYPES)
    run_time = _int(data["runTime"], "schedule.runTime", 0, 23)

    weekly: tuple[int, ...] = ()
    if repeat_type == "Weekly":
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
        if end_of_month and repeat_type != "Monthly":
            raise _invalid(
                "schedule.monthlyOnEndOfMonth",
                "schedule.monthlyOnEndOfMonth is only valid for a Monthly schedule.",
            )
        if end_of_month and not is_month_end(repeat_from):
            raise _invalid(
                "schedule.monthlyOnEndOfMonth",
                "schedule.monthlyOnEndOfMonth needs schedule.repeatFrom to be the last day"
                f" of a month ({repeat_from} is not).",
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
    prefix: str,
    data: Mapping[str, Any],
    schedule: BillRunSchedule,
    fresh: set[str],
    today: date,
) -> DateRule:
    fixed, offset, month_offset, day_of_month = _date_keys(prefix)
    forms = [key for key in (fixed, offset) if key in data]
    if month_offset in data or day_of_month in data:
        forms.append(f"{month_offset}/{day_of_month}")
    if len(forms) > 1:
        raise _invalid(forms[1], f"{forms[0]} and {forms[1]} are mutually exclusive.")
    if month_offset in data or day_of_month in data:
        if schedule.repeat_type != "Monthly":
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
        value = _date(data[fixed], fixed)
        if fixed in fresh:
            _within_horizon(value, fixed, today)
        days = (value - schedule.repeat_from).days
        if not -MAX_DAY_OFFSET <= days <= MAX_DAY_OFFSET:
            raise _invalid(
                fixed, f"{fixed} {value} is more than {MAX_DAY_OFFSET} days from repeatFrom."
            )
        return DayOffset(days)
    return DayOffset(0)  # the SDK: defaults to schedule.repeatFrom


# --- the request ---------------------------------------------------------------------


def parse_bill_run_request(
    data: Mapping[str, Any], *, today: date, existing: BillRunSpec | None = None
) -> BillRunSpec:
    """Validate a Zuora create body, or with ``existing`` an update body (only the
    fields given change; choosing ``batches`` drops existing filters and vice versa,
    and giving one form of a date replaces the other forms)."""
    if not isinstance(data, Mapping):
        raise InvalidValue("The request body must be a JSON object.", resource=RESOURCE)
    given = {key: value for key, value in data.items() if value is not None}
    fresh = set(given)
    schedule_fresh: set[str] = set()
    if "schedule" in given:
        schedule_fresh = {
            k for k, v in _object(given["schedule"], "schedule").items() if v is not None
        }
    merged = given if existing is None else _merge(_as_request(existing), given)
    return _build(merged, fresh, schedule_fresh, today)


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


def _build(
    data: Mapping[str, Any], fresh: set[str], schedule_fresh: set[str], today: date
) -> BillRunSpec:
    name = None if "name" not in data else _text(data["name"], "name", MAX_NAME_LENGTH)
    bill_run_type: BillRunType = (
        _choice(data["billRunType"], "billRunType", BILL_RUN_TYPES)
        if "billRunType" in data
        else "Regular"
    )
    schedule = _schedule(data["schedule"], schedule_fresh, today) if "schedule" in data else None

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
            else "All"
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
    invoice_rule: DateRule | None = None
    target_rule: DateRule | None = None
    if schedule is None:
        for prefix in ("invoiceDate", "targetDate"):
            for key in _date_keys(prefix)[1:]:
                if key in data:
                    raise _invalid(key, f"{key} is only valid for scheduled bill runs.")
        if "targetDate" not in data:
            raise _missing("targetDate", "targetDate is required for an ad hoc bill run.")
        target_date = _date(data["targetDate"], "targetDate")
        invoice_date = _date(data["invoiceDate"], "invoiceDate") if "invoiceDate" in data else today
        for key, value in (("targetDate", target_date), ("invoiceDate", invoice_date)):
            if key in fresh:
                _within_horizon(value, key, today)
    else:
        invoice_rule = _date_rule("invoiceDate", data, schedule, fresh, today)
        target_rule = _date_rule("targetDate", data, schedule, fresh, today)

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


# --- wire / column shapes ------------------------------------------------------------


def batches_json(batches: tuple[int, ...] | None) -> list[str] | None:
    if batches is None:
        return None
    return [f"Batch{n}" for n in batches] if batches else [ALL_BATCHES]


def bill_cycle_day_json(value: BillCycleDay | None) -> str | None:
    if value is None:
        return None
    if value == "All":
        return ALL_BILL_CYCLE_DAYS
    if value == "AsRunDay":
        return AS_RUN_DAY
    return str(value)


def filters_json(filters: tuple[BillRunFilter, ...]) -> list[dict[str, str]] | None:
    if not filters:
        return None
    out: list[dict[str, str]] = []
    for f in filters:
        item = {"filterType": f.filter_type, "accountId": to_zuora_id(f.account_id)}
        if f.subscription_id is not None:
            item["subscriptionId"] = to_zuora_id(f.subscription_id)
        out.append(item)
    return out


def labels_json(labels: tuple[OrganizationLabel, ...]) -> list[dict[str, Any]] | None:
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


def _rule_columns(prefix: str, rule: DateRule | None) -> dict[str, int | None]:
    return {
        f"{prefix}_offset": rule.days if isinstance(rule, DayOffset) else None,
        f"{prefix}_month_offset": rule.month_offset if isinstance(rule, MonthDay) else None,
        f"{prefix}_day_of_month": rule.day_of_month if isinstance(rule, MonthDay) else None,
    }


def to_columns(spec: BillRunSpec, *, run_date: date | None = None) -> dict[str, Any]:
    """``BillRun`` column values for ``spec`` (JSON columns hold Zuora's wire shapes, so
    they can be echoed as is). For a scheduled spec, pass the occurrence's ``run_date``
    to fill ``invoice_date``/``target_date``; without it they are None."""
    invoice_date, target_date = spec.invoice_date, spec.target_date
    if spec.schedule is not None and run_date is not None:
        invoice_date, target_date = run_dates(spec, run_date)
    return {
        "name": spec.name,
        "bill_run_type": spec.bill_run_type,
        "batches": batches_json(spec.batches),
        "bill_cycle_day": bill_cycle_day_json(spec.bill_cycle_day),
        "bill_run_filters": filters_json(spec.filters),
        "charge_type_to_exclude": list(spec.charge_types_to_exclude),
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
        "organization_labels": labels_json(spec.organization_labels),
        "schedule": None if spec.schedule is None else spec.schedule.to_json(),
    }


def _rule_from_row(offset: int | None, month_offset: int | None, day: int | None) -> DateRule:
    if month_offset is not None and day is not None:
        return MonthDay(month_offset, day)
    return DayOffset(offset or 0)


def _optional_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def from_row(run: BillRun) -> BillRunSpec:
    """The spec a stored run was created from (rows hold validated values).

    For a scheduled run the row's ``invoice_date``/``target_date`` belong to that
    occurrence and are not part of the spec; the rules rebuild them for any run date.
    """
    schedule = None if run.schedule is None else BillRunSchedule.from_json(run.schedule)
    batches: tuple[int, ...] | None = None
    if run.batches is not None:
        batches = tuple(
            sorted(int(b.removeprefix("Batch")) for b in run.batches if b != ALL_BATCHES)
        )
    bill_cycle_day: BillCycleDay | None = None
    if run.bill_cycle_day == ALL_BILL_CYCLE_DAYS:
        bill_cycle_day = "All"
    elif run.bill_cycle_day == AS_RUN_DAY:
        bill_cycle_day = "AsRunDay"
    elif run.bill_cycle_day is not None:
        bill_cycle_day = int(run.bill_cycle_day)
    filters = tuple(
        BillRunFilter(
            filter_type="Subscription" if item["filterType"] == "Subscription" else "Account",
            account_id=int(item["accountId"], 16),
            subscription_id=int(item["subscriptionId"], 16) if item.get("subscriptionId") else None,
        )
        for item in run.bill_run_filters or ()
    )
    labels = tuple(
        OrganizationLabel(
            organization_id=item.get("organizationId"),
            organization_name=item.get("organizationName"),
            cascading_down=_optional_bool(item.get("cascadingDown")),
            excluded=_optional_bool(item.get("excluded")),
        )
        for item in run.organization_labels or ()
    )
    scheduled = schedule is not None
    return BillRunSpec(
        bill_run_type="CatchUp" if run.bill_run_type == "CatchUp" else "Regular",
        name=run.name,
        batches=batches,
        bill_cycle_day=bill_cycle_day,
        filters=filters,
        charge_types_to_exclude=tuple(t for t in CHARGE_TYPES if t in run.charge_type_to_exclude),
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
        organization_labels=labels,
    )


def _as_request(spec: BillRunSpec) -> dict[str, Any]:
    """``spec`` as a request body that parses back to ``spec`` (the base of updates)."""
    body: dict[str, Any] = {"billRunType": spec.bill_run_type}
    if spec.name is not None:
        body["name"] = spec.name
    if spec.batches is not None:
        body["batches"] = batches_json(spec.batches)
        body["billCycleDay"] = bill_cycle_day_json(spec.bill_cycle_day)
    else:
        body["billRunFilters"] = filters_json(spec.filters)
    if spec.charge_types_to_exclude:
        body["chargeTypeToExclude"] = list(spec.charge_types_to_exclude)
    for key, attr, _default in _BOOLEANS:
        body[key] = getattr(spec, attr)
    if spec.schedule is None:
        if spec.invoice_date is not None:
            body["invoiceDate"] = spec.invoice_date.isoformat()
        if spec.target_date is not None:
            body["targetDate"] = spec.target_date.isoformat()
    else:
        body["schedule"] = spec.schedule.to_json()
        for prefix, rule in (
            ("invoiceDate", spec.invoice_date_rule),
            ("targetDate", spec.target_date_rule),
        ):
            _fixed, offset, month_offset, day_of_month = _date_keys(prefix)
            if isinstance(rule, MonthDay):
                body[month_offset] = rule.month_offset
                body[day_of_month] = rule.day_of_month
            elif isinstance(rule, DayOffset):
                body[offset] = rule.days
    labels = labels_json(spec.organization_labels)
    if labels:
        body["organizationLabels"] = labels
    return body
