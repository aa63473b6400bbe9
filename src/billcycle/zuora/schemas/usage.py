"""Wire shapes of Zuora's usage API: the object API's usage record (PascalCase), the
usage file import, the account's usage list and the usage rate detail (camelCase)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import Field, StrictStr

from billcycle.ids import to_zuora_id
from billcycle.unset import UNSET
from billcycle.usage.billing import RateDetail
from billcycle.usage.inputs import NewUsage, UsageChanges
from billcycle.usage.models import UsageImport
from billcycle.usage.repository import RecordView
from billcycle.usage.service import status_of
from billcycle.zuora.schemas.base import (
    CamelResponse,
    CommonResponse,
    PascalRequest,
    PascalResponse,
    WireAmount,
)

_OBJECT_DATETIME = "%Y-%m-%dT%H:%M:%S.000+00:00"


def _object_datetime(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime(_OBJECT_DATETIME)


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


class UsageCreateRequest(PascalRequest):
    account_id: StrictStr | None = None
    account_number: StrictStr | None = None
    subscription_id: StrictStr | None = None
    subscription_number: StrictStr | None = None
    charge_id: StrictStr | None = None
    charge_number: StrictStr | None = None
    start_date_time: datetime
    end_date_time: datetime | None = None
    uom: StrictStr = Field(alias="UOM")
    quantity: Decimal
    description: StrictStr | None = None

    def to_input(self, account_id: int | None) -> NewUsage:
        return NewUsage(
            account_id=account_id,
            account_number=self.account_number,
            subscription_number=self.subscription_number,
            charge_number=self.charge_number,
            start=self.start_date_time,
            end=self.end_date_time,
            uom=self.uom,
            quantity=self.quantity,
            description=self.description,
        )


class UsageUpdateRequest(PascalRequest):
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    uom: StrictStr | None = Field(default=None, alias="UOM")
    quantity: Decimal | None = None
    rbe_status: StrictStr | None = None  # computed by billcycle; ignored, as Zuora does

    def to_changes(self) -> UsageChanges:
        given = self.model_fields_set
        return UsageChanges(
            start=self.start_date_time
            if "start_date_time" in given and self.start_date_time
            else UNSET,
            end=self.end_date_time if "end_date_time" in given else UNSET,
            uom=self.uom if "uom" in given and self.uom is not None else UNSET,
            quantity=self.quantity if "quantity" in given and self.quantity is not None else UNSET,
        )


class ObjectUsage(PascalResponse):
    id: str
    account_id: str
    account_number: str
    subscription_id: str
    subscription_number: str
    charge_id: str
    charge_number: str
    start_date_time: str
    end_date_time: str | None = None
    uom: str = Field(alias="UOM")
    quantity: int | float
    source_type: str
    rbe_status: str
    description: str | None = None
    created_date: str
    updated_date: str
    submission_date_time: str


def object_usage(view: RecordView) -> ObjectUsage:
    record = view.record
    return ObjectUsage(
        id=to_zuora_id(record.id),
        account_id=to_zuora_id(record.account_id),
        account_number=view.account_number,
        subscription_id=to_zuora_id(record.subscription_id),
        subscription_number=view.subscription_number,
        charge_id=to_zuora_id(record.subscription_charge_id),
        charge_number=view.charge_number,
        start_date_time=_object_datetime(record.start_date_time) or "",
        end_date_time=_object_datetime(record.end_date_time),
        uom=record.uom,
        quantity=_number(record.quantity),
        source_type=record.source,
        rbe_status=status_of(view).value,
        description=record.description,
        created_date=_object_datetime(record.created_at) or "",
        updated_date=_object_datetime(record.updated_at) or "",
        submission_date_time=_object_datetime(record.created_at) or "",
    )


class UsageItem(CamelResponse):
    id: str
    account_id: str
    account_number: str
    subscription_number: str
    charge_number: str
    start_date_time: str
    unit_of_measure: str
    quantity: str
    source_name: str
    status: str
    submission_date_time: str


class UsageListResponse(CommonResponse):
    usage: list[UsageItem]
    next_page: str | None = None


def usage_item(view: RecordView) -> UsageItem:
    record = view.record
    return UsageItem(
        id=to_zuora_id(record.id),
        account_id=to_zuora_id(record.account_id),
        account_number=view.account_number,
        subscription_number=view.subscription_number,
        charge_number=view.charge_number,
        start_date_time=_object_datetime(record.start_date_time) or "",
        unit_of_measure=record.uom,
        quantity=format(record.quantity.normalize(), "f"),
        source_name=record.source,
        status=status_of(view).value,
        submission_date_time=_object_datetime(record.created_at) or "",
    )


class UploadResponse(CommonResponse):
    check_import_status: str
    size: int


class ImportRowError(CamelResponse):
    row: int
    reason: str


class ImportStatusResponse(CommonResponse):
    import_status: str
    file_name: str
    total_records: int
    loaded_records: int
    error_count: int
    message: str | None = None
    errors: list[ImportRowError] | None = None


def import_status(job: UsageImport, errors: list[dict[str, Any]]) -> ImportStatusResponse:
    message = None
    if errors:
        message = "; ".join(f"row {e['row']}: {e['reason']}" for e in errors[:5])
        if job.error_count > 5:
            message += f"; and {job.error_count - 5} more"
    return ImportStatusResponse(
        import_status=job.status,
        file_name=job.file_name,
        total_records=job.total_records,
        loaded_records=job.loaded_records,
        error_count=job.error_count,
        message=message,
        errors=[ImportRowError(row=e["row"], reason=e["reason"]) for e in errors] or None,
    )


class RateDetailData(CamelResponse):
    amount_without_tax: WireAmount
    charge_number: str
    invoice_id: str
    invoice_item_id: str
    invoice_number: str
    list_price: str
    quantity: str
    rate_detail: str
    service_period: str
    uom: str


class RateDetailResponse(CommonResponse):
    data: RateDetailData


def rate_detail_response(detail: RateDetail) -> RateDetailResponse:
    from datetime import timedelta

    last = detail.service_end - timedelta(days=1)  # Zuora shows inclusive periods
    return RateDetailResponse(
        data=RateDetailData(
            amount_without_tax=detail.amount,
            charge_number=detail.charge_number,
            invoice_id=to_zuora_id(detail.invoice_id),
            invoice_item_id=to_zuora_id(detail.item_id),
            invoice_number=detail.invoice_number,
            list_price=detail.list_price,
            quantity=format(detail.quantity.normalize(), "f"),
            rate_detail=detail.rate_detail,
            service_period=f"{detail.service_start:%m/%d/%Y} - {last:%m/%d/%Y}",
            uom=detail.uom,
        )
    )
