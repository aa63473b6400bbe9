"""Revision 0007 carries stored bill runs (scheduled occurrences included) from Zuora's
wire shapes to billcycle's own columns, and back on downgrade, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from billcycle.billruns.columns import from_row
from billcycle.billruns.models import BillRun
from billcycle.billruns.schedule import BillRunSchedule, DayOffset, MonthDay, RepeatType
from billcycle.billruns.spec import BillRunFilter, CycleDays, FilterType, OrganizationLabel
from billcycle.db import migrate
from billcycle.db.engine import make_engine
from billcycle.zuora.schemas.bill_runs import bill_run_body

NOW = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
ACCOUNT = f"{42:032x}"

# Rows as revision 0006 stored them (Zuora's wire JSON), with what 0007 makes of them.
OLD_ROWS: list[dict[str, Any]] = [
    {  # ad hoc, all batches
        "batches": ["AllBatches"],
        "bill_cycle_day": "AllBillCycleDays",
        "bill_run_filters": None,
        "organization_labels": None,
        "schedule": None,
        "invoice_date": date(2026, 1, 10),
        "target_date": date(2026, 2, 1),
    },
    {  # ad hoc, by subscription, labelled
        "batches": None,
        "bill_cycle_day": None,
        "bill_run_filters": [
            {"filterType": "Subscription", "accountId": ACCOUNT, "subscriptionId": f"{257:032x}"},
            {"filterType": "Subscription", "accountId": ACCOUNT, "subscriptionId": f"{258:032x}"},
        ],
        "organization_labels": [
            {"organizationId": "o1", "organizationName": "US", "cascadingDown": True},
            {"organizationName": "EU", "excluded": False},
        ],
        "schedule": None,
        "invoice_date": date(2026, 1, 10),
        "target_date": date(2026, 2, 1),
    },
    {  # a weekly series' first occurrence
        "batches": ["Batch2", "Batch9"],
        "bill_cycle_day": "AsRunDay",
        "bill_run_filters": None,
        "organization_labels": None,
        "schedule": {
            "repeatFrom": "2026-02-02",
            "repeatType": "Weekly",
            "runTime": 6,
            "repeatTo": "2026-12-31",
            "weeklyOnDay": ["Mon", "Fri"],
        },
        "target_date_offset": -1,
        "invoice_date_offset": 0,
        "series_id": None,
        "scheduled_execution_time": datetime(2026, 2, 2, 6, tzinfo=UTC),
    },
    {  # a month-end series' occurrence (invoice/target dates of its own)
        "batches": ["Batch1"],
        "bill_cycle_day": "31",
        "bill_run_filters": [{"filterType": "Account", "accountId": ACCOUNT}],
        "organization_labels": None,
        "schedule": {
            "repeatFrom": "2026-04-30",
            "repeatType": "Monthly",
            "runTime": 0,
            "monthlyOnEndOfMonth": True,
        },
        "invoice_date_offset": 1,
        "target_date_month_offset": 1,
        "target_date_day_of_month": 31,
        "invoice_date": date(2026, 6, 1),
        "target_date": date(2026, 6, 30),
        "scheduled_execution_time": datetime(2026, 5, 31, 0, tzinfo=UTC),
    },
]

NEW_SHAPES: list[dict[str, Any]] = [
    {
        "batches": [],
        "bill_cycle_day": "All",
        "bill_run_filters": None,
        "organization_labels": None,
        "schedule": None,
    },
    {
        "batches": None,
        "bill_cycle_day": None,
        "bill_run_filters": [
            {"filter_type": "Subscription", "account_id": 42, "subscription_id": 257},
            {"filter_type": "Subscription", "account_id": 42, "subscription_id": 258},
        ],
        "organization_labels": [
            {"organization_id": "o1", "organization_name": "US", "cascading_down": True},
            {"organization_name": "EU", "excluded": False},
        ],
        "schedule": None,
    },
    {
        "batches": [2, 9],
        "bill_cycle_day": "AsRunDay",
        "bill_run_filters": None,
        "organization_labels": None,
        "schedule": {
            "repeat_from": "2026-02-02",
            "repeat_type": "Weekly",
            "run_time": 6,
            "repeat_to": "2026-12-31",
            "weekly_on_day": [0, 4],
            "monthly_on_end_of_month": False,
        },
    },
    {
        "batches": [1],
        "bill_cycle_day": "31",
        "bill_run_filters": [{"filter_type": "Account", "account_id": 42}],
        "organization_labels": None,
        "schedule": {
            "repeat_from": "2026-04-30",
            "repeat_type": "Monthly",
            "run_time": 0,
            "repeat_to": None,
            "weekly_on_day": [],
            "monthly_on_end_of_month": True,
        },
    },
]
JSON_COLUMNS = ("batches", "bill_cycle_day", "bill_run_filters", "organization_labels", "schedule")
# Zuora's names for the columns bill_run_body echoes from them.
WIRE = {
    "batches": "batches",
    "bill_cycle_day": "billCycleDay",
    "bill_run_filters": "billRunFilters",
    "organization_labels": "organizationLabels",
    "schedule": "schedule",
}


@pytest.fixture
def old_database(empty_database_url: str) -> str:
    """A brand-new database (SQLite, and PostgreSQL when reachable) migrated to 0006."""
    migrate.upgrade(empty_database_url, "0006")
    return empty_database_url


def _insert_old_rows(engine: sa.Engine) -> list[int]:
    meta = sa.MetaData()
    tenants = sa.Table("tenants", meta, autoload_with=engine)
    runs = sa.Table("bill_runs", meta, autoload_with=engine)
    ids: list[int] = []
    with engine.begin() as conn:
        tenant_id = conn.execute(
            sa.insert(tenants)
            .values(
                name="old",
                bulk_jobs_enabled=True,
                bulk_job_record_limit=100,
                created_at=NOW,
            )
            .returning(tenants.c.id)
        ).scalar_one()
        for number, row in enumerate(OLD_ROWS, start=1):
            values = {
                "tenant_id": tenant_id,
                "bill_run_number": f"BR-{number:08d}",
                "status": "Pending",
                "bill_run_type": "Regular",
                "charge_type_to_exclude": ["Usage"],
                "auto_post": False,
                "auto_email": False,
                "auto_renewal": False,
                "no_email_for_zero_amount_invoice": False,
                "include_subscriptions": True,
                "include_order_line_items": True,
                "created_via_api": True,
                "accounts_total": 0,
                "accounts_processed": 0,
                "accounts_failed": 0,
                "invoices_created": 0,
                "items_created": 0,
                "chunks_total": 0,
                "chunks_done": 0,
                "created_at": NOW,
                "updated_at": NOW,
                **row,
            }
            run_id = conn.execute(
                sa.insert(runs).values(**values).returning(runs.c.id)
            ).scalar_one()
            if row.get("schedule") is not None:
                conn.execute(sa.update(runs).where(runs.c.id == run_id).values(series_id=run_id))
            ids.append(run_id)
    return ids


def _json_columns(engine: sa.Engine, ids: list[int]) -> list[dict[str, Any]]:
    runs = sa.Table("bill_runs", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(runs.c.id, *(runs.c[name] for name in JSON_COLUMNS)).order_by(runs.c.id)
        ).all()
    assert [row.id for row in rows] == ids
    return [{name: getattr(row, name) for name in JSON_COLUMNS} for row in rows]


def test_0007_carries_stored_runs_to_billcycle_columns_and_back(old_database: str) -> None:
    engine = make_engine(old_database)
    try:
        ids = _insert_old_rows(engine)
        old = _json_columns(engine, ids)
        assert old == [{name: row[name] for name in JSON_COLUMNS} for row in OLD_ROWS]

        migrate.upgrade(old_database, "0007")
        assert _json_columns(engine, ids) == NEW_SHAPES
        with sa.orm.Session(engine) as session:
            runs = session.scalars(sa.select(BillRun).order_by(BillRun.id)).all()
            specs = [from_row(run) for run in runs]
            bodies = [bill_run_body(run) for run in runs]
        # The domain reads them ...
        assert specs[0].batches == ()
        assert specs[0].bill_cycle_day is CycleDays.ALL
        assert specs[1].filters == (
            BillRunFilter(FilterType.SUBSCRIPTION, 42, 257),
            BillRunFilter(FilterType.SUBSCRIPTION, 42, 258),
        )
        assert specs[1].organization_labels == (
            OrganizationLabel("o1", "US", cascading_down=True),
            OrganizationLabel(organization_name="EU", excluded=False),
        )
        assert specs[2].schedule == BillRunSchedule(
            date(2026, 2, 2), RepeatType.WEEKLY, 6, date(2026, 12, 31), (0, 4)
        )
        assert specs[2].target_date_rule == DayOffset(-1)
        assert specs[3].target_date_rule == MonthDay(1, 31)
        assert specs[3].run_dates(date(2026, 5, 31)) == (date(2026, 6, 1), date(2026, 6, 30))
        # ... and Zuora sees exactly what it saw before.
        for body, row in zip(bodies, OLD_ROWS, strict=True):
            assert {WIRE[name]: body[WIRE[name]] for name in JSON_COLUMNS} == {
                WIRE[name]: row[name] for name in JSON_COLUMNS
            }

        command.downgrade(migrate.alembic_config(old_database), "0006")
        assert _json_columns(engine, ids) == old
        migrate.upgrade(old_database)
        assert _json_columns(engine, ids) == NEW_SHAPES
    finally:
        engine.dispose()
