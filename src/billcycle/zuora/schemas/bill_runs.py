"""Zuora bill-run wire shapes (BillRunResponse, CancelBillRunResponse, ...)."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic.alias_generators import to_camel
from sqlalchemy import Row

from billcycle.billruns import columns
from billcycle.billruns.models import BillRun
from billcycle.ids import to_zuora_id
from billcycle.money import from_minor
from billcycle.zuora.schemas.base import CamelRequest, apply_field_limits, zuora_datetime
from billcycle.zuora.schemas.bill_run_fields import (
    batches_json,
    bill_cycle_day_json,
    filters_json,
    labels_json,
    schedule_json,
)


class BillRunSchedule(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    repeat_from: date | None = None
    repeat_to: date | None = None
    repeat_type: str | None = Field(None, description="None | Daily | Weekly | Monthly")
    run_time: StrictInt | None = Field(None, description="Hour of day, 0..23 (UTC)")
    weekly_on_day: list[str] | None = Field(None, description="Mon..Sun (Weekly only)")
    monthly_on_end_of_month: StrictBool | None = None


apply_field_limits(BillRunSchedule)  # a plain model (responses share it): limits by hand


class BillRunFilter(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    filter_type: str = Field(..., description="Account | Subscription")
    account_id: str | None = None
    subscription_id: str | None = None


class BillRunRequest(CamelRequest):
    """Documents the body; ``bill_run_request`` validates it exactly as Zuora does."""

    limits_checked_by_hand: ClassVar[frozenset[str]] = frozenset({"batches", "chargeTypeToExclude"})

    name: str | None = None
    bill_run_type: str | None = Field(None, description="Regular (default) | CatchUp")
    batches: list[str] | None = Field(None, description='["AllBatches"] or ["Batch1", ...]')
    bill_cycle_day: str | StrictInt | None = Field(
        None, description="AllBillCycleDays | 1..31 | AsRunDay (scheduled runs)"
    )
    bill_run_filters: list[BillRunFilter] | None = None
    charge_type_to_exclude: list[str] | None = Field(None, description="OneTime, Recurring, Usage")
    auto_post: StrictBool | None = None
    auto_email: StrictBool | None = None
    auto_renewal: StrictBool | None = None
    no_email_for_zero_amount_invoice: StrictBool | None = None
    include_subscriptions: StrictBool | None = None
    include_order_line_items: StrictBool | None = None
    invoice_date: date | None = None
    target_date: date | None = Field(None, description="Required for ad hoc runs")
    invoice_date_offset: StrictInt | None = None
    target_date_offset: StrictInt | None = None
    invoice_date_month_offset: StrictInt | None = None
    invoice_date_day_of_month: StrictInt | None = None
    target_date_month_offset: StrictInt | None = None
    target_date_day_of_month: StrictInt | None = None
    organization_labels: list[dict[str, Any]] | None = None
    schedule: BillRunSchedule | None = None


class PostBillRunRequest(CamelRequest):
    invoice_date: date | None = None


class CancelBillRunRequest(CamelRequest):
    cancel_once: StrictBool = True


class EmailBillRunRequest(CamelRequest):
    resend: StrictBool = False


def _dates(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def bill_run_body(
    run: BillRun | Row[Any],
    totals: dict[str, int] | None = None,
    failures: list[tuple[int, str]] | None = None,
) -> dict[str, Any]:
    """The BillRun object: Zuora's fields, then billcycle's progress fields. ``run`` is
    the ORM object or a row of the bill_runs table (same names), whose request columns
    hold billcycle's own representation (``billruns.columns``)."""
    body: dict[str, Any] = {
        "id": to_zuora_id(run.id),
        "billRunNumber": run.bill_run_number,
        "name": run.name,
        "status": run.status,
        "billRunType": run.bill_run_type,
        "batches": batches_json(columns.batches_of(run.batches)),
        "billCycleDay": bill_cycle_day_json(columns.bill_cycle_day_of(run.bill_cycle_day)),
        "billRunFilters": filters_json(columns.filters_of(run.bill_run_filters)),
        "chargeTypeToExclude": run.charge_type_to_exclude or [],
        "autoEmail": run.auto_email,
        "autoPost": run.auto_post,
        "autoRenewal": run.auto_renewal,
        "noEmailForZeroAmountInvoice": run.no_email_for_zero_amount_invoice,
        "includeSubscriptions": run.include_subscriptions,
        "includeOrderLineItems": run.include_order_line_items,
        "organizationLabels": labels_json(columns.labels_of(run.organization_labels)),
        "schedule": schedule_json(columns.schedule_of(run.schedule)),
        "scheduledExecutionTime": zuora_datetime(run.scheduled_execution_time),
        "invoiceDate": _dates(run.invoice_date),
        "targetDate": _dates(run.target_date),
        "invoiceDateOffset": run.invoice_date_offset,
        "targetDateOffset": run.target_date_offset,
        "invoiceDateMonthOffset": run.invoice_date_month_offset,
        "invoiceDateDayOfMonth": run.invoice_date_day_of_month,
        "targetDateMonthOffset": run.target_date_month_offset,
        "targetDateDayOfMonth": run.target_date_day_of_month,
        "createdById": run.created_by_id,
        "createdDate": zuora_datetime(run.created_at),
        "updatedById": run.updated_by_id,
        "updatedDate": zuora_datetime(run.updated_at),
        # billcycle's progress fields, beside Zuora's.
        "accountsTotal": run.accounts_total,
        "accountsProcessed": run.accounts_processed,
        "accountsFailed": run.accounts_failed,
        "invoicesCreated": run.invoices_created,
        "invoiceItemsCreated": run.items_created,
        "errorMessage": run.error_message,
    }
    if totals is not None:
        body["totalAmounts"] = [
            {"currency": currency, "amount": float(from_minor(amount, currency))}
            for currency, amount in totals.items()
        ]
    if failures is not None:
        body["accountFailures"] = [
            {"accountId": to_zuora_id(account_id), "message": message}
            for account_id, message in failures
        ]
    return body
