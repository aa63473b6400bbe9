"""Zuora bill-run request bodies parsed into a BillRunSpec by the Zuora dialect, then
settled by the domain's rules against today: wire validation, update semantics, and the
business rules in Zuora's words."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billcycle.billruns.columns import from_row, to_columns
from billcycle.billruns.models import BillRun
from billcycle.billruns.rules import settle
from billcycle.billruns.schedule import BillRunSchedule, DayOffset, MonthDay
from billcycle.billruns.spec import BillRunFilter, BillRunSpec, OrganizationLabel, SpecChange
from billcycle.errors import DomainError, InvalidValue, MissingField
from billcycle.zuora.schemas.bill_run_request import (
    bill_run_patch,
    parse_bill_run_request,
    zuora_wording,
)

TODAY = date(2026, 1, 10)
ACCOUNT = "0000000000000000000000000000002a"
OTHER_ACCOUNT = "0000000000000000000000000000002b"
SUB_1 = "00000000000000000000000000000101"
SUB_2 = "00000000000000000000000000000102"


def parse(
    data: dict[str, Any], existing: BillRunSpec | None = None, *, today: date = TODAY
) -> BillRunSpec:
    """What the routes do: the dialect parses (a create body, or an update as a patch of
    ``existing``), the domain settles it against today, errors come out in Zuora's words."""
    with zuora_wording():
        if existing is None:
            change = SpecChange(parse_bill_run_request(data))
        else:
            change = bill_run_patch(data)(existing)
        return settle(change, today=today)


def ad_hoc(**extra: Any) -> dict[str, Any]:
    return {"batches": ["AllBatches"], "targetDate": "2026-01-31", **extra}


def scheduled(schedule: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "batches": ["AllBatches"],
        "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Daily", "runTime": 6}
        | (schedule or {}),
        **extra,
    }


def rejects(
    data: dict[str, Any],
    kind: type[DomainError],
    field: str,
    match: str,
    existing: BillRunSpec | None = None,
) -> None:
    with pytest.raises(kind, match=match) as caught:
        parse(data, existing)
    assert type(caught.value) is kind
    assert caught.value.resource == "bill_run"
    assert caught.value.field == field


# --- defaults ------------------------------------------------------------------------


def test_minimal_ad_hoc_run_gets_zuora_defaults() -> None:
    spec = parse(ad_hoc())
    assert spec == BillRunSpec(
        bill_run_type="Regular",
        name=None,
        batches=(),
        bill_cycle_day="All",
        filters=(),
        charge_types_to_exclude=(),
        auto_post=False,
        auto_email=False,
        auto_renewal=False,
        no_email_for_zero_amount_invoice=False,
        include_subscriptions=True,
        include_order_line_items=True,
        invoice_date=TODAY,
        target_date=date(2026, 1, 31),
        schedule=None,
    )
    assert not spec.is_scheduled


def test_full_ad_hoc_body() -> None:
    spec = parse(
        {
            "name": "  January  ",
            "billRunType": "CatchUp",
            "batches": ["Batch7", "Batch2"],
            "billCycleDay": "15",
            "chargeTypeToExclude": ["Usage", "OneTime"],
            "autoPost": True,
            "autoEmail": True,
            "autoRenewal": True,
            "noEmailForZeroAmountInvoice": True,
            "includeSubscriptions": False,
            "includeOrderLineItems": False,
            "invoiceDate": "2026-02-01",
            "targetDate": "2026-02-28",
            "organizationLabels": [{"organizationId": "org-1"}, {"organizationName": "EU"}],
            "someFutureField": 1,  # unknown fields are the dialect's business
            "repeatFrom": None,
        }
    )
    assert spec.name == "January"
    assert spec.bill_run_type == "CatchUp"
    assert spec.batches == (2, 7)
    assert spec.bill_cycle_day == 15
    assert spec.charge_types_to_exclude == ("OneTime", "Usage")
    assert spec.auto_post
    assert spec.auto_email
    assert spec.auto_renewal
    assert spec.no_email_for_zero_amount_invoice
    assert not spec.include_subscriptions
    assert not spec.include_order_line_items
    assert (spec.invoice_date, spec.target_date) == (date(2026, 2, 1), date(2026, 2, 28))
    assert spec.organization_labels == (
        OrganizationLabel(organization_id="org-1"),
        OrganizationLabel(organization_name="EU"),
    )


def test_nulls_mean_not_given() -> None:
    spec = parse(ad_hoc(name=None, autoPost=None, billCycleDay=None, invoiceDate=None))
    assert spec.name is None
    assert spec.auto_post is False
    assert spec.bill_cycle_day == "All"
    assert spec.invoice_date == TODAY


def test_body_must_be_an_object() -> None:
    with pytest.raises(InvalidValue, match="JSON object"):
        parse_bill_run_request([])  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="JSON object"):
        bill_run_patch([])(parse(ad_hoc()))  # type: ignore[arg-type]


# --- scalar fields -------------------------------------------------------------------


def test_name_rules() -> None:
    assert parse(ad_hoc(name="x" * 255)).name == "x" * 255
    rejects(ad_hoc(name="x" * 256), InvalidValue, "name", "longer than 255")
    rejects(ad_hoc(name=5), InvalidValue, "name", "must be a string")


def test_bill_run_type_enum() -> None:
    rejects(ad_hoc(billRunType="Adhoc"), InvalidValue, "billRunType", "Regular, CatchUp")
    rejects(ad_hoc(billRunType="regular"), InvalidValue, "billRunType", "Allowed")


@pytest.mark.parametrize(
    "key",
    [
        "autoPost",
        "autoEmail",
        "autoRenewal",
        "noEmailForZeroAmountInvoice",
        "includeSubscriptions",
        "includeOrderLineItems",
    ],
)
@pytest.mark.parametrize("value", ["true", 1, 0, "false", []])
def test_booleans_must_be_json_booleans(key: str, value: object) -> None:
    rejects(ad_hoc(**{key: value}), InvalidValue, key, "must be a boolean")


# --- selection ---------------------------------------------------------------------


def test_selection_is_required_and_exclusive() -> None:
    rejects({"targetDate": "2026-01-31"}, MissingField, "batches", "batches or billRunFilters")
    rejects(
        ad_hoc(billRunFilters=[{"filterType": "Account", "accountId": ACCOUNT}]),
        InvalidValue,
        "billRunFilters",
        "either batches or billRunFilters",
    )


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        (["AllBatches"], ()),
        (["Batch1"], (1,)),
        (["Batch50", "Batch3", "Batch10"], (3, 10, 50)),
    ],
)
def test_batches_accepted(batches: list[str], expected: tuple[int, ...]) -> None:
    assert parse(ad_hoc(batches=batches)).batches == expected


@pytest.mark.parametrize(
    ("batches", "match"),
    [
        ([], "must not be empty"),
        ("AllBatches", "must be a list"),
        (["AllBatches", "Batch3"], "cannot combine AllBatches"),
        (["Batch3", "Batch3"], "Batch3 more than once"),
        (["AllBatches", "AllBatches"], "more than once"),
        (["Batch0"], "Invalid batch 'Batch0'"),
        (["Batch51"], "Batch1 to Batch50"),
        (["Batch01"], "Invalid batch"),
        (["batch1"], "Invalid batch"),
        (["Batch"], "Invalid batch"),
        ([1], "Invalid batch 1"),
    ],
)
def test_batches_rejected(batches: object, match: str) -> None:
    rejects(ad_hoc(batches=batches), InvalidValue, "batches", match)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("AllBillCycleDays", "All"), ("1", 1), ("31", 31), (15, 15)],
)
def test_bill_cycle_day_accepted(value: object, expected: object) -> None:
    assert parse(ad_hoc(billCycleDay=value)).bill_cycle_day == expected


@pytest.mark.parametrize("value", ["0", "32", 0, 32, "01", "15 ", "all", True, 1.5, "AsRunday"])
def test_bill_cycle_day_rejected(value: object) -> None:
    rejects(ad_hoc(billCycleDay=value), InvalidValue, "billCycleDay", "billCycleDay")


def test_as_run_day_only_for_scheduled_runs() -> None:
    rejects(
        ad_hoc(billCycleDay="AsRunDay"), InvalidValue, "billCycleDay", "only valid for scheduled"
    )
    assert parse(scheduled(billCycleDay="AsRunDay")).bill_cycle_day == "AsRunDay"


def test_account_filter() -> None:
    spec = parse(
        {
            "billRunFilters": [{"filterType": "Account", "accountId": ACCOUNT.upper()}],
            "targetDate": "2026-01-31",
        }
    )
    assert spec.batches is None
    assert spec.bill_cycle_day is None
    assert spec.filters == (BillRunFilter("Account", 42),)
    assert spec.filter_account_id == 42
    assert spec.subscription_ids == ()


def test_subscription_filters() -> None:
    spec = parse(
        {
            "billRunFilters": [
                {"filterType": "Subscription", "accountId": ACCOUNT, "subscriptionId": SUB_1},
                {"filterType": "Subscription", "accountId": ACCOUNT, "subscriptionId": SUB_2},
            ],
            "targetDate": "2026-01-31",
        }
    )
    assert spec.filter_account_id == 42
    assert spec.subscription_ids == (0x101, 0x102)


def sub_filter(n: int, account: str = ACCOUNT) -> dict[str, str]:
    return {"filterType": "Subscription", "accountId": account, "subscriptionId": f"{n:032x}"}


@pytest.mark.parametrize(
    ("filters", "kind", "field", "match"),
    [
        ([], InvalidValue, "billRunFilters", "must not be empty"),
        ({"filterType": "Account"}, InvalidValue, "billRunFilters", "must be a list"),
        (["x"], InvalidValue, "billRunFilters[0]", "must be an object"),
        ([{"accountId": ACCOUNT}], MissingField, "billRunFilters[0].filterType", "required"),
        (
            [{"filterType": "InvoiceSchedule", "accountId": ACCOUNT}],
            InvalidValue,
            "billRunFilters[0].filterType",
            "Allowed: Account, Subscription",
        ),
        ([{"filterType": "Account"}], MissingField, "billRunFilters[0].accountId", "required"),
        (
            [{"filterType": "Account", "accountId": "A00000001"}],
            InvalidValue,
            "billRunFilters[0].accountId",
            "32-character hexadecimal",
        ),
        (
            [{"filterType": "Account", "accountId": "f" * 32}],  # beyond a BIGINT
            InvalidValue,
            "billRunFilters[0].accountId",
            "hexadecimal",
        ),
        (
            [{"filterType": "Subscription", "accountId": ACCOUNT}],
            MissingField,
            "billRunFilters[0].subscriptionId",
            "required when filterType is Subscription",
        ),
        (
            [{"filterType": "Account", "accountId": ACCOUNT, "subscriptionId": SUB_1}],
            InvalidValue,
            "billRunFilters[0].subscriptionId",
            "only valid when filterType is Subscription",
        ),
        (
            [
                sub_filter(1),
                {"filterType": "Subscription", "accountId": ACCOUNT, "subscriptionId": "xyz"},
            ],
            InvalidValue,
            "billRunFilters[1].subscriptionId",
            "hexadecimal",
        ),
        (
            [{"filterType": "Account", "accountId": ACCOUNT}, sub_filter(1)],
            InvalidValue,
            "billRunFilters",
            "cannot mix",
        ),
        (
            [
                {"filterType": "Account", "accountId": ACCOUNT},
                {"filterType": "Account", "accountId": OTHER_ACCOUNT},
            ],
            InvalidValue,
            "billRunFilters",
            "exactly one Account filter",
        ),
        (
            [sub_filter(1), sub_filter(2, OTHER_ACCOUNT)],
            InvalidValue,
            "billRunFilters",
            "must belong to one account",
        ),
        (
            [sub_filter(1), sub_filter(1)],
            InvalidValue,
            "billRunFilters[1].subscriptionId",
            "more than once",
        ),
        (
            [sub_filter(n) for n in range(1, 52)],
            InvalidValue,
            "billRunFilters",
            "51 filters; at most 50",
        ),
    ],
)
def test_filters_rejected(filters: object, kind: type[DomainError], field: str, match: str) -> None:
    rejects({"billRunFilters": filters, "targetDate": "2026-01-31"}, kind, field, match)


def test_fifty_subscription_filters_are_allowed() -> None:
    spec = parse(
        {"billRunFilters": [sub_filter(n) for n in range(1, 51)], "targetDate": "2026-01-31"}
    )
    assert len(spec.subscription_ids) == 50


def test_bill_cycle_day_needs_batches() -> None:
    rejects(
        {
            "billRunFilters": [{"filterType": "Account", "accountId": ACCOUNT}],
            "billCycleDay": "1",
            "targetDate": "2026-01-31",
        },
        InvalidValue,
        "billCycleDay",
        "only valid together with batches",
    )


# --- charge types / labels ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (["OneTime", "Recurring", "Usage"], "at most 2"),
        (["Usage", "Usage"], "Usage more than once"),
        (["usage"], "Allowed: OneTime, Recurring, Usage"),
        ("Usage", "must be a list"),
    ],
)
def test_charge_type_to_exclude_rejected(value: object, match: str) -> None:
    rejects(ad_hoc(chargeTypeToExclude=value), InvalidValue, "chargeTypeToExclude", match)


def test_charge_type_to_exclude_empty_list_is_fine() -> None:
    assert parse(ad_hoc(chargeTypeToExclude=[])).charge_types_to_exclude == ()


def test_organization_labels() -> None:
    spec = parse(
        ad_hoc(
            organizationLabels=[
                {"organizationId": "o1", "organizationName": "US", "cascadingDown": True},
                {"organizationName": "EU", "excluded": False},
            ]
        )
    )
    assert spec.organization_labels == (
        OrganizationLabel("o1", "US", cascading_down=True),
        OrganizationLabel(organization_name="EU", excluded=False),
    )
    rejects(
        ad_hoc(organizationLabels=[{"cascadingDown": True}]),
        MissingField,
        "organizationLabels[0].organizationId",
        "needs organizationId or organizationName",
    )
    rejects(
        ad_hoc(organizationLabels=[{"organizationId": 7}]),
        InvalidValue,
        "organizationLabels[0].organizationId",
        "must be a string",
    )
    rejects(
        ad_hoc(organizationLabels={"organizationId": "o1"}),
        InvalidValue,
        "organizationLabels",
        "must be a list",
    )


# --- ad hoc dates --------------------------------------------------------------------


def test_ad_hoc_needs_target_date() -> None:
    rejects({"batches": ["AllBatches"]}, MissingField, "targetDate", "required for an ad hoc")


@pytest.mark.parametrize(
    "value", ["2026/01/31", "20260131", "2026-1-31", "2026-02-30", "2026-01-31T00:00:00", 20260131]
)
def test_dates_must_be_yyyy_mm_dd(value: object) -> None:
    rejects(ad_hoc(targetDate=value), InvalidValue, "targetDate", "targetDate")
    rejects(ad_hoc(invoiceDate=value), InvalidValue, "invoiceDate", "invoiceDate")


def test_date_range() -> None:
    rejects(ad_hoc(targetDate="1899-12-31"), InvalidValue, "targetDate", "before 1900-01-01")
    assert parse(ad_hoc(targetDate="2036-01-10")).target_date == date(2036, 1, 10)
    rejects(ad_hoc(targetDate="2036-01-11"), InvalidValue, "targetDate", "more than 10 years")
    rejects(ad_hoc(invoiceDate="9999-12-31"), InvalidValue, "invoiceDate", "more than 10 years")
    # A past target date is fine (billing what was missed).
    assert parse(ad_hoc(targetDate="2020-01-01")).target_date == date(2020, 1, 1)


@pytest.mark.parametrize(
    "key",
    [
        "invoiceDateOffset",
        "targetDateOffset",
        "invoiceDateMonthOffset",
        "invoiceDateDayOfMonth",
        "targetDateMonthOffset",
        "targetDateDayOfMonth",
    ],
)
def test_offsets_are_for_scheduled_runs_only(key: str) -> None:
    rejects(ad_hoc(**{key: 1}), InvalidValue, key, "only valid for scheduled bill runs")


# --- schedule ------------------------------------------------------------------------


def test_scheduled_run_defaults_dates_to_the_run_date() -> None:
    spec = parse(scheduled())
    assert spec.is_scheduled
    assert spec.schedule == BillRunSchedule(date(2026, 2, 1), "Daily", 6)
    assert spec.invoice_date is None
    assert spec.target_date is None
    assert spec.invoice_date_rule == DayOffset(0)
    assert spec.target_date_rule == DayOffset(0)


@pytest.mark.parametrize("key", ["repeatFrom", "repeatType", "runTime"])
def test_schedule_required_fields(key: str) -> None:
    body = scheduled()
    del body["schedule"][key]
    rejects(body, MissingField, f"schedule.{key}", "required")


@pytest.mark.parametrize(
    ("schedule", "field", "match"),
    [
        ({"runTime": 24}, "schedule.runTime", "between 0 and 23"),
        ({"runTime": -1}, "schedule.runTime", "between 0 and 23"),
        ({"runTime": "6"}, "schedule.runTime", "must be an integer"),
        ({"runTime": True}, "schedule.runTime", "must be an integer"),
        ({"runTime": 6.0}, "schedule.runTime", "must be an integer"),
        ({"repeatType": "Yearly"}, "schedule.repeatType", "None, Daily, Weekly, Monthly"),
        ({"repeatFrom": "2026-13-01"}, "schedule.repeatFrom", "not a valid date"),
        ({"repeatFrom": "2026-01-09"}, "schedule.repeatFrom", "in the past"),
        ({"repeatFrom": "2036-01-11"}, "schedule.repeatFrom", "more than 10 years"),
        ({"repeatTo": "2026-01-31"}, "schedule.repeatTo", "before schedule.repeatFrom"),
        ({"repeatTo": "31-01-2027"}, "schedule.repeatTo", "yyyy-mm-dd"),
        ({"weeklyOnDay": ["Mon"]}, "schedule.weeklyOnDay", "only valid for a Weekly"),
        ({"monthlyOnEndOfMonth": True}, "schedule.monthlyOnEndOfMonth", "only valid for a Monthly"),
        ({"monthlyOnEndOfMonth": "yes"}, "schedule.monthlyOnEndOfMonth", "must be a boolean"),
    ],
)
def test_schedule_rejected(schedule: dict[str, Any], field: str, match: str) -> None:
    rejects(scheduled(schedule), InvalidValue, field, match)


def test_schedule_must_be_an_object() -> None:
    rejects(ad_hoc(schedule="daily"), InvalidValue, "schedule", "must be an object")
    rejects(ad_hoc(schedule=[]), InvalidValue, "schedule", "must be an object")


def test_schedule_edges_accepted() -> None:
    spec = parse(scheduled({"repeatFrom": "2026-01-10", "repeatTo": "2026-01-10", "runTime": 0}))
    assert spec.schedule == BillRunSchedule(date(2026, 1, 10), "Daily", 0, date(2026, 1, 10))
    spec = parse(scheduled({"runTime": 23, "monthlyOnEndOfMonth": False}))
    assert spec.schedule is not None
    assert spec.schedule.monthly_on_end_of_month is False


def test_weekly_schedule() -> None:
    spec = parse(scheduled({"repeatType": "Weekly", "weeklyOnDay": ["Fri", "Mon", "Sun"]}))
    assert spec.schedule is not None
    assert spec.schedule.weekly_on_day == (0, 4, 6)
    for days, kind, match in (
        (None, MissingField, "required for a Weekly"),
        ([], InvalidValue, "must not be empty"),
        (["Mon", "Mon"], InvalidValue, "Mon more than once"),
        (["Monday"], InvalidValue, "Mon, Tue, Wed, Thu, Fri, Sat, Sun"),
        ("Mon", InvalidValue, "must be a list"),
    ):
        rejects(
            scheduled({"repeatType": "Weekly", "weeklyOnDay": days}),
            kind,
            "schedule.weeklyOnDay",
            match,
        )


def test_monthly_end_of_month_flag() -> None:
    spec = parse(
        scheduled(
            {"repeatType": "Monthly", "repeatFrom": "2026-04-30", "monthlyOnEndOfMonth": True}
        )
    )
    assert spec.schedule is not None
    assert spec.schedule.monthly_on_end_of_month
    spec = parse(scheduled({"repeatType": "Monthly", "repeatFrom": "2026-04-30"}))
    assert spec.schedule is not None
    assert not spec.schedule.monthly_on_end_of_month
    rejects(
        scheduled(
            {"repeatType": "Monthly", "repeatFrom": "2026-04-29", "monthlyOnEndOfMonth": True}
        ),
        InvalidValue,
        "schedule.monthlyOnEndOfMonth",
        "last day of a month",
    )


# --- scheduled dates -----------------------------------------------------------------


def test_fixed_dates_on_a_schedule_become_offsets_from_repeat_from() -> None:
    # Zuora's monthly use case 1: invoiceDate = repeatFrom, target at month end.
    spec = parse(
        scheduled(
            {"repeatFrom": "2026-04-25", "repeatType": "Monthly"},
            invoiceDate="2026-04-25",
            targetDate="2026-04-20",
        )
    )
    assert spec.invoice_date_rule == DayOffset(0)
    assert spec.target_date_rule == DayOffset(-5)
    assert spec.invoice_date is None
    assert spec.target_date is None


def test_day_offsets() -> None:
    spec = parse(scheduled(invoiceDateOffset=-3, targetDateOffset=30))
    assert (spec.invoice_date_rule, spec.target_date_rule) == (DayOffset(-3), DayOffset(30))
    assert parse(scheduled(targetDateOffset=3650)).target_date_rule == DayOffset(3650)
    rejects(scheduled(targetDateOffset=3651), InvalidValue, "targetDateOffset", "between")
    rejects(scheduled(invoiceDateOffset="1"), InvalidValue, "invoiceDateOffset", "integer")
    rejects(scheduled(invoiceDate="2036-01-11"), InvalidValue, "invoiceDate", "more than 10 years")


def test_month_pairs_on_monthly_schedules() -> None:
    monthly = {"repeatFrom": "2026-05-16", "repeatType": "Monthly"}
    spec = parse(
        scheduled(
            monthly,
            invoiceDateMonthOffset=1,
            invoiceDateDayOfMonth=1,
            targetDateMonthOffset=1,
            targetDateDayOfMonth=31,
        )
    )
    assert spec.invoice_date_rule == MonthDay(1, 1)
    assert spec.target_date_rule == MonthDay(1, 31)
    assert parse(
        scheduled(monthly, targetDateMonthOffset=-120, targetDateDayOfMonth=1)
    ).target_date_rule == MonthDay(-120, 1)

    rejects(
        scheduled(monthly, targetDateMonthOffset=1),
        MissingField,
        "targetDateDayOfMonth",
        "set both",
    )
    rejects(
        scheduled(monthly, invoiceDateDayOfMonth=1),
        MissingField,
        "invoiceDateMonthOffset",
        "set both",
    )
    rejects(
        scheduled(monthly, targetDateMonthOffset=0, targetDateDayOfMonth=32),
        InvalidValue,
        "targetDateDayOfMonth",
        "between 1 and 31",
    )
    rejects(
        scheduled(monthly, targetDateMonthOffset=0, targetDateDayOfMonth=0),
        InvalidValue,
        "targetDateDayOfMonth",
        "between 1 and 31",
    )
    rejects(
        scheduled(monthly, targetDateMonthOffset=121, targetDateDayOfMonth=1),
        InvalidValue,
        "targetDateMonthOffset",
        "between -120 and 120",
    )


def test_month_pairs_need_a_monthly_schedule() -> None:
    rejects(
        scheduled(invoiceDateMonthOffset=0, invoiceDateDayOfMonth=31),
        InvalidValue,
        "invoiceDateMonthOffset",
        "only valid for a Monthly schedule",
    )


@pytest.mark.parametrize(
    ("extra", "field", "match"),
    [
        (
            {"targetDateOffset": 1, "targetDateMonthOffset": 0, "targetDateDayOfMonth": 31},
            "targetDateMonthOffset/targetDateDayOfMonth",
            "targetDateOffset and targetDateMonthOffset/targetDateDayOfMonth are mutually",
        ),
        (
            {"invoiceDate": "2026-02-01", "invoiceDateOffset": 0},
            "invoiceDateOffset",
            "invoiceDate and invoiceDateOffset are mutually exclusive",
        ),
        (
            {"invoiceDate": "2026-02-01", "invoiceDateMonthOffset": 0, "invoiceDateDayOfMonth": 1},
            "invoiceDateMonthOffset/invoiceDateDayOfMonth",
            "mutually exclusive",
        ),
    ],
)
def test_date_forms_are_mutually_exclusive(extra: dict[str, Any], field: str, match: str) -> None:
    rejects(scheduled({"repeatType": "Monthly"}, **extra), InvalidValue, field, match)


# --- updates -------------------------------------------------------------------------


def test_update_changes_only_given_fields() -> None:
    existing = parse(ad_hoc(name="Jan", billCycleDay="5", autoPost=True))
    updated = parse({"name": "February", "targetDate": "2026-02-28"}, existing)
    assert updated.name == "February"
    assert updated.target_date == date(2026, 2, 28)
    assert updated.bill_cycle_day == 5
    assert updated.auto_post is True
    assert updated.invoice_date == existing.invoice_date


def test_empty_update_is_identity() -> None:
    for body in (
        ad_hoc(
            name="x", chargeTypeToExclude=["Usage"], organizationLabels=[{"organizationId": "o"}]
        ),
        {"billRunFilters": [sub_filter(1), sub_filter(2)], "targetDate": "2026-01-31"},
        scheduled(
            {"repeatType": "Weekly", "weeklyOnDay": ["Tue"], "repeatTo": "2026-12-31"},
            billCycleDay="AsRunDay",
            targetDateOffset=-1,
        ),
        scheduled(
            {"repeatType": "Monthly", "repeatFrom": "2026-04-30", "monthlyOnEndOfMonth": True},
            targetDateMonthOffset=1,
            targetDateDayOfMonth=31,
        ),
    ):
        spec = parse(body)
        assert parse({}, spec) == spec


def test_update_switches_selection() -> None:
    existing = parse(ad_hoc(batches=["Batch1"], billCycleDay="5"))
    by_account = parse(
        {"billRunFilters": [{"filterType": "Account", "accountId": ACCOUNT}]}, existing
    )
    assert by_account.batches is None
    assert by_account.bill_cycle_day is None
    assert by_account.filter_account_id == 42

    back = parse({"batches": ["Batch2"]}, by_account)
    assert back.batches == (2,)
    assert back.bill_cycle_day == "All"
    assert back.filters == ()

    rebatched = parse({"batches": ["Batch3"]}, existing)
    assert rebatched.bill_cycle_day == 5  # not given: kept

    rejects(
        {"billCycleDay": "3"}, InvalidValue, "billCycleDay", "together with batches", by_account
    )
    rejects(
        {
            "batches": ["Batch1"],
            "billRunFilters": [{"filterType": "Account", "accountId": ACCOUNT}],
        },
        InvalidValue,
        "billRunFilters",
        "not both",
        existing,
    )


def test_update_of_a_schedule_merges_its_fields() -> None:
    existing = parse(scheduled({"repeatType": "Weekly", "weeklyOnDay": ["Mon"]}))
    updated = parse({"schedule": {"runTime": 9}}, existing)
    assert updated.schedule == BillRunSchedule(date(2026, 2, 1), "Weekly", 9, None, (0,))

    # Changing the repeat type drops the old type's fields.
    daily = parse({"schedule": {"repeatType": "Daily"}}, existing)
    assert daily.schedule == BillRunSchedule(date(2026, 2, 1), "Daily", 6)

    rejects(
        {"schedule": {"repeatType": "Weekly"}},
        MissingField,
        "schedule.weeklyOnDay",
        "required for a Weekly",
        daily,
    )
    rejects({"schedule": 5}, InvalidValue, "schedule", "must be an object", existing)


def test_update_does_not_recheck_a_stored_past_repeat_from() -> None:
    existing = parse(scheduled())
    later = date(2026, 6, 1)
    updated = parse({"name": "renamed"}, existing, today=later)
    assert updated.name == "renamed"
    assert updated.schedule == existing.schedule
    with pytest.raises(InvalidValue, match="in the past"):
        parse({"schedule": {"repeatFrom": "2026-05-31"}}, existing, today=later)


def test_update_replaces_the_form_of_a_date() -> None:
    monthly = {"repeatType": "Monthly", "repeatFrom": "2026-02-10"}
    existing = parse(scheduled(monthly, targetDateMonthOffset=1, targetDateDayOfMonth=31))
    by_offset = parse({"targetDateOffset": 5}, existing)
    assert by_offset.target_date_rule == DayOffset(5)
    by_date = parse({"targetDate": "2026-02-01"}, existing)
    assert by_date.target_date_rule == DayOffset(-9)
    by_day = parse({"targetDateDayOfMonth": 15}, existing)
    assert by_day.target_date_rule == MonthDay(1, 15)
    back = parse({"targetDateMonthOffset": 0, "targetDateDayOfMonth": 1}, by_offset)
    assert back.target_date_rule == MonthDay(0, 1)
    # Leaving Monthly while a month pair is set is refused until the pair is replaced.
    rejects(
        {"schedule": {"repeatType": "Daily"}},
        InvalidValue,
        "targetDateMonthOffset",
        "only valid for a Monthly",
        existing,
    )
    assert parse(
        {"schedule": {"repeatType": "Daily"}, "targetDateOffset": 0}, existing
    ).target_date_rule == DayOffset(0)


def test_update_can_schedule_an_ad_hoc_run() -> None:
    existing = parse(ad_hoc(invoiceDate="2026-02-01", targetDate="2026-02-05"))
    updated = parse(
        {"schedule": {"repeatFrom": "2026-02-01", "repeatType": "None", "runTime": 1}}, existing
    )
    assert updated.schedule == BillRunSchedule(date(2026, 2, 1), "None", 1)
    assert updated.invoice_date_rule == DayOffset(0)
    assert updated.target_date_rule == DayOffset(4)
    assert updated.invoice_date is None
    assert updated.target_date is None
    rejects({"invoiceDateOffset": 1}, InvalidValue, "invoiceDateOffset", "scheduled", existing)


# --- robustness ----------------------------------------------------------------------

KEYS = [
    "name",
    "billRunType",
    "batches",
    "billCycleDay",
    "billRunFilters",
    "chargeTypeToExclude",
    "autoPost",
    "autoEmail",
    "invoiceDate",
    "targetDate",
    "invoiceDateOffset",
    "targetDateOffset",
    "invoiceDateMonthOffset",
    "invoiceDateDayOfMonth",
    "targetDateMonthOffset",
    "targetDateDayOfMonth",
    "organizationLabels",
    "schedule",
]
SCHEDULE_KEYS = [
    "repeatFrom",
    "repeatTo",
    "repeatType",
    "runTime",
    "weeklyOnDay",
    "monthlyOnEndOfMonth",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.sampled_from(
        [
            "",
            "AllBatches",
            "Batch3",
            "AsRunDay",
            "31",
            "Mon",
            "Monthly",
            "Weekly",
            "2026-02-28",
            "2026-02-29",
            "0000-01-01",
            "9999-12-31",
            "Account",
            "Subscription",
            ACCOUNT,
            "Usage",
        ]
    )
    | st.text(max_size=5)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [*SCHEDULE_KEYS, "filterType", "accountId", "subscriptionId", "organizationId"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.dictionaries(st.sampled_from(KEYS), JSON, max_size=8),
    schedule=st.none() | st.dictionaries(st.sampled_from(SCHEDULE_KEYS), JSON, max_size=6),
    update=st.booleans(),
)
def test_any_json_body_parses_or_raises_a_domain_error(
    body: dict[str, Any], schedule: dict[str, Any] | None, update: bool
) -> None:
    if schedule is not None:
        body["schedule"] = schedule
    existing = parse(scheduled({"repeatType": "Monthly"})) if update else None
    try:
        spec = parse(body, existing)
    except DomainError as error:
        failure: DomainError | None = error
    else:
        failure = None
    if failure is not None:
        assert failure.resource == "bill_run"
        return
    assert parse({}, spec) == spec
    run = BillRun(bill_run_number="BR-1", status="Pending", **to_columns(spec))
    assert from_row(run) == spec
