"""A spec as BillRun columns (billcycle's own shapes) and back, what the columns select,
and the Zuora dialect's rendering of them (the same wire JSON as ever)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from billcycle.billruns import columns as cols
from billcycle.billruns.columns import from_row, to_columns
from billcycle.billruns.models import BillRun
from billcycle.billruns.rules import settle
from billcycle.billruns.selection import Selection, selection_of
from billcycle.billruns.spec import BillRunSpec, SpecChange
from billcycle.zuora.schemas.bill_run_fields import (
    batches_json,
    bill_cycle_day_json,
    filters_json,
    labels_json,
    schedule_json,
)
from billcycle.zuora.schemas.bill_run_request import parse_bill_run_request

TODAY = date(2026, 1, 10)
ACCOUNT = "0000000000000000000000000000002a"


def parse(data: dict[str, Any]) -> BillRunSpec:
    return settle(SpecChange(parse_bill_run_request(data)), today=TODAY)


def ad_hoc(**extra: Any) -> dict[str, Any]:
    return {"batches": ["AllBatches"], "targetDate": "2026-01-31", **extra}


def scheduled(schedule: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "batches": ["AllBatches"],
        "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Daily", "runTime": 6}
        | (schedule or {}),
        **extra,
    }


def sub_filter(n: int, account: str = ACCOUNT) -> dict[str, str]:
    return {"filterType": "Subscription", "accountId": account, "subscriptionId": f"{n:032x}"}


def as_zuora(columns: dict[str, Any]) -> dict[str, Any]:
    """The request columns as the Zuora dialect renders them (``bill_run_body``)."""
    return {
        "batches": batches_json(cols.batches_of(columns["batches"])),
        "billCycleDay": bill_cycle_day_json(cols.bill_cycle_day_of(columns["bill_cycle_day"])),
        "billRunFilters": filters_json(cols.filters_of(columns["bill_run_filters"])),
        "organizationLabels": labels_json(cols.labels_of(columns["organization_labels"])),
        "schedule": schedule_json(cols.schedule_of(columns["schedule"])),
    }


def test_to_columns_uses_billcycles_own_shapes() -> None:
    spec = parse(
        {
            "name": "subs",
            "billRunFilters": [sub_filter(1), sub_filter(2)],
            "chargeTypeToExclude": ["Usage"],
            "targetDate": "2026-01-31",
            "organizationLabels": [{"organizationName": "EU", "excluded": True}],
        }
    )
    columns = to_columns(spec)
    assert columns == {
        "name": "subs",
        "bill_run_type": "Regular",
        "batches": None,
        "bill_cycle_day": None,
        "bill_run_filters": [
            {"filter_type": "Subscription", "account_id": 42, "subscription_id": 1},
            {"filter_type": "Subscription", "account_id": 42, "subscription_id": 2},
        ],
        "charge_type_to_exclude": ["Usage"],
        "auto_post": False,
        "auto_email": False,
        "auto_renewal": False,
        "no_email_for_zero_amount_invoice": False,
        "include_subscriptions": True,
        "include_order_line_items": True,
        "invoice_date": TODAY,
        "target_date": date(2026, 1, 31),
        "invoice_date_offset": None,
        "invoice_date_month_offset": None,
        "invoice_date_day_of_month": None,
        "target_date_offset": None,
        "target_date_month_offset": None,
        "target_date_day_of_month": None,
        "organization_labels": [{"organization_name": "EU", "excluded": True}],
        "schedule": None,
    }
    assert set(columns) <= set(BillRun.__table__.columns.keys())
    # Zuora sees exactly what it sent (ids as 32 hex, camelCase).
    assert as_zuora(columns) == {
        "batches": None,
        "billCycleDay": None,
        "billRunFilters": [sub_filter(1), sub_filter(2)],
        "organizationLabels": [{"organizationName": "EU", "excluded": True}],
        "schedule": None,
    }
    batch_columns = to_columns(parse(ad_hoc(batches=["Batch9", "Batch2"], billCycleDay=31)))
    assert batch_columns["batches"] == [2, 9]
    assert batch_columns["bill_cycle_day"] == "31"
    assert as_zuora(batch_columns)["batches"] == ["Batch2", "Batch9"]
    assert as_zuora(batch_columns)["billCycleDay"] == "31"
    all_columns = to_columns(parse(ad_hoc()))
    assert (all_columns["batches"], all_columns["bill_cycle_day"]) == ([], "All")
    assert as_zuora(all_columns)["batches"] == ["AllBatches"]
    assert as_zuora(all_columns)["billCycleDay"] == "AllBillCycleDays"


def test_to_columns_of_a_scheduled_occurrence() -> None:
    spec = parse(
        scheduled(
            {"repeatType": "Monthly", "repeatFrom": "2026-04-30", "monthlyOnEndOfMonth": True},
            billCycleDay="AsRunDay",
            invoiceDateOffset=1,
            targetDateMonthOffset=1,
            targetDateDayOfMonth=31,
        )
    )
    columns = to_columns(spec, run_date=date(2026, 5, 31))
    assert columns["invoice_date"] == date(2026, 6, 1)
    assert columns["target_date"] == date(2026, 6, 30)
    assert columns["invoice_date_offset"] == 1
    assert (columns["target_date_month_offset"], columns["target_date_day_of_month"]) == (1, 31)
    assert columns["bill_cycle_day"] == "AsRunDay"
    assert columns["schedule"] == {
        "repeat_from": "2026-04-30",
        "repeat_type": "Monthly",
        "run_time": 6,
        "repeat_to": None,
        "weekly_on_day": [],
        "monthly_on_end_of_month": True,
    }
    assert as_zuora(columns)["billCycleDay"] == "AsRunDay"
    assert as_zuora(columns)["schedule"] == {
        "repeatFrom": "2026-04-30",
        "repeatType": "Monthly",
        "runTime": 6,
        "monthlyOnEndOfMonth": True,
    }
    assert to_columns(spec)["invoice_date"] is None


def test_weekly_schedule_column_and_labels_round_trip() -> None:
    spec = parse(
        scheduled(
            {"repeatType": "Weekly", "weeklyOnDay": ["Sat", "Wed"], "repeatTo": "2027-01-01"},
            organizationLabels=[{"organizationId": "o", "cascadingDown": False}],
        )
    )
    columns = to_columns(spec)
    assert columns["schedule"]["weekly_on_day"] == [2, 5]
    assert columns["organization_labels"] == [{"organization_id": "o", "cascading_down": False}]
    assert as_zuora(columns)["schedule"] == {
        "repeatFrom": "2026-02-01",
        "repeatType": "Weekly",
        "runTime": 6,
        "repeatTo": "2027-01-01",
        "weeklyOnDay": ["Wed", "Sat"],
    }
    assert as_zuora(columns)["organizationLabels"] == [
        {"organizationId": "o", "cascadingDown": False}
    ]


@pytest.mark.parametrize(
    "body",
    [
        ad_hoc(),
        ad_hoc(
            name="n",
            billRunType="CatchUp",
            batches=["Batch4", "Batch1"],
            billCycleDay=7,
            chargeTypeToExclude=["Recurring", "OneTime"],
            autoEmail=True,
            includeOrderLineItems=False,
            organizationLabels=[{"organizationId": "o", "cascadingDown": False}],
        ),
        {
            "billRunFilters": [{"filterType": "Account", "accountId": ACCOUNT}],
            "targetDate": "2026-03-01",
        },
        {"billRunFilters": [sub_filter(7), sub_filter(3)], "targetDate": "2026-03-01"},
        scheduled(
            {"repeatType": "Weekly", "weeklyOnDay": ["Sat", "Wed"], "repeatTo": "2027-01-01"}
        ),
        scheduled(
            {"repeatType": "Monthly", "repeatFrom": "2026-02-28", "monthlyOnEndOfMonth": True},
            billCycleDay="AsRunDay",
            invoiceDate="2026-03-01",
            targetDateMonthOffset=-1,
            targetDateDayOfMonth=31,
        ),
    ],
)
def test_from_row_rebuilds_the_spec(body: dict[str, Any]) -> None:
    spec = parse(body)
    run = BillRun(
        bill_run_number="BR-00000001",
        status="Pending",
        **to_columns(spec, run_date=date(2026, 3, 31) if spec.is_scheduled else None),
    )
    assert from_row(run) == spec


@pytest.mark.parametrize(
    ("body", "run_date", "expected"),
    [
        (ad_hoc(), date(2026, 1, 31), Selection(None, None, None, None)),
        (
            ad_hoc(batches=["Batch3", "Batch1"], billCycleDay="15"),
            date(2026, 1, 31),
            Selection((1, 3), (15,), None, None),
        ),
        (
            scheduled(billCycleDay="AsRunDay"),
            date(2026, 4, 30),
            Selection(None, (30, 31), None, None),
        ),
        (
            {"billRunFilters": [{"filterType": "Account", "accountId": ACCOUNT}]}
            | {"targetDate": "2026-01-31"},
            date(2026, 1, 31),
            Selection(None, None, (42,), None),
        ),
        (
            {"billRunFilters": [sub_filter(7), sub_filter(3)], "targetDate": "2026-01-31"},
            date(2026, 1, 31),
            Selection(None, None, (42,), (3, 7)),
        ),
    ],
)
def test_selection_reads_the_stored_spec(
    body: dict[str, Any], run_date: date, expected: Selection
) -> None:
    spec = parse(body)
    run = BillRun(bill_run_number="BR-1", status="Pending", **to_columns(spec))
    assert selection_of(from_row(run), run_date) == expected
