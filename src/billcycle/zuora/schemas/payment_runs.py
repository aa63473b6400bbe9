"""Zuora's payment-run wire shapes: the create/update body parsed into billcycle's
``PaymentRunSpec``, and the PaymentRun, summary and data answers.

Decisions where Zuora is loose (kept the same for create and update):

- ``runDate`` takes ``yyyy-mm-dd hh:mm:ss`` (Zuora's documented form, what create
  sends) and ISO ``2026-03-01T11:30:37`` (zuora-sdk's update model types it as a
  datetime); it is UTC, minutes and seconds are dropped.
- ``batch`` is ``Batch1``..``Batch50``; ``billCycleDay`` a string ``"1"``..``"31"``
  (an integer is accepted too).
- ``documentType`` ``DebitMemo``: billcycle has no debit memos, so it is refused.
- JSON ``null`` means "not given".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import StrictBool, StrictStr

from billcycle.errors import InvalidValue
from billcycle.ids import is_ascii_digits, parse_zuora_id, to_zuora_id
from billcycle.money import from_minor
from billcycle.paymentruns.models import PaymentRun
from billcycle.paymentruns.repository import CurrencyTotals
from billcycle.paymentruns.service import RecordView, RunSummary
from billcycle.paymentruns.spec import DataRecord, Filters, Flags, PaymentRunPatch, PaymentRunSpec
from billcycle.paymentruns.statuses import (
    DocumentType,
    PaymentRunStatus,
    TransactionType,
)
from billcycle.zuora.schemas.base import CamelRequest, wire_date, zuora_datetime

RESOURCE = "payment_run"

_BATCH = re.compile(r"^Batch([1-9][0-9]?)$")
_RUN_DATE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]00:?00)?$",
    re.ASCII,
)

FLAGS = {
    "autoApplyCreditMemo": "auto_apply_credit_memo",
    "autoApplyUnappliedPayment": "auto_apply_unapplied_payment",
    "applyCreditBalance": "apply_credit_balance",
    "collectPayment": "collect_payment",
    "consolidatedPayment": "consolidated_payment",
    "processPaymentWithClosedPM": "process_payment_with_closed_pm",
    "ignorePaymentRunRetryRule": "ignore_payment_run_retry_rule",
}
FILTERS = ("accountId", "batch", "billCycleDay", "billingRunId", "currency", "paymentGatewayId")


class PaymentRunDataBody(CamelRequest):
    account_id: StrictStr | None = None
    account_number: StrictStr | None = None
    document_id: StrictStr | None = None
    document_number: StrictStr | None = None
    document_type: StrictStr | None = None
    amount: float | int | None = None
    payment_method_id: StrictStr | None = None
    payment_gateway_id: StrictStr | None = None
    comment: StrictStr | None = None


class PaymentRunRequest(CamelRequest):
    """Documents the body; ``parse_payment_run`` checks it as Zuora does."""

    target_date: StrictStr | None = None
    run_date: StrictStr | None = None
    account_id: StrictStr | None = None
    batch: StrictStr | None = None
    bill_cycle_day: StrictStr | int | None = None
    billing_run_id: StrictStr | None = None
    currency: StrictStr | None = None
    payment_gateway_id: StrictStr | None = None
    data: list[PaymentRunDataBody] | None = None
    auto_apply_credit_memo: StrictBool | None = None
    auto_apply_unapplied_payment: StrictBool | None = None
    apply_credit_balance: StrictBool | None = None
    collect_payment: StrictBool | None = None
    consolidated_payment: StrictBool | None = None
    process_payment_with_closed_pm: StrictBool | None = None
    ignore_payment_run_retry_rule: StrictBool | None = None
    organization_labels: list[dict[str, Any]] | None = None


def _invalid(field: str, message: str) -> InvalidValue:
    return InvalidValue(message, resource=RESOURCE, field=field)


def _hex(value: object, field: str) -> int:
    parsed = parse_zuora_id(value) if isinstance(value, str) else None
    if parsed is None:
        raise _invalid(field, f"Invalid value for {field}: use a 32-hex-digit id.")
    return parsed


def run_date_of(value: object) -> datetime:
    """``yyyy-mm-dd hh:mm:ss`` or ISO ``yyyy-mm-ddThh:mm:ss`` (UTC)."""
    match = _RUN_DATE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise _invalid("runDate", "Invalid runDate: use yyyy-mm-dd hh:mm:ss.")
    day, hour, minute, second, _ = match.groups()
    try:
        return datetime.combine(
            date.fromisoformat(day),
            datetime.min.time().replace(
                hour=int(hour), minute=int(minute), second=int(second or 0)
            ),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise _invalid("runDate", f"Invalid runDate {value}: {exc}.") from exc


def _target_date(value: object) -> date:
    try:
        return wire_date(value)
    except ValueError as exc:
        raise _invalid("targetDate", f"Invalid targetDate: {exc}.") from exc


def _batch(value: object) -> int:
    match = _BATCH.match(value) if isinstance(value, str) else None
    if match is None or not 1 <= int(match.group(1)) <= 50:
        raise _invalid("batch", "Invalid batch: use Batch1 to Batch50.")
    return int(match.group(1))


def _bill_cycle_day(value: object) -> int:
    text = (
        str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    )
    if not is_ascii_digits(text) or not 1 <= int(text) <= 31:
        raise _invalid("billCycleDay", "Invalid billCycleDay: use 1 to 31.")
    return int(text)


def _amount(value: object, index: int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _invalid("amount", f"data[{index}]: invalid amount.")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise _invalid("amount", f"data[{index}]: invalid amount {value}.") from exc


def _record(raw: Mapping[str, Any], index: int) -> DataRecord:
    doc_type = raw.get("documentType")
    if doc_type is not None and doc_type != DocumentType.INVOICE:
        if doc_type == DocumentType.DEBIT_MEMO:
            raise _invalid(
                "documentType", f"data[{index}]: billcycle has no debit memos; use Invoice."
            )
        raise _invalid("documentType", f"data[{index}]: documentType is Invoice or DebitMemo.")
    account_id = raw.get("accountId")
    document_id = raw.get("documentId")
    return DataRecord(
        account_id=_hex(account_id, "accountId") if account_id is not None else None,
        account_number=raw.get("accountNumber"),
        invoice_id=_hex(document_id, "documentId") if document_id is not None else None,
        invoice_number=raw.get("documentNumber"),
        amount=_amount(raw["amount"], index) if raw.get("amount") is not None else None,
        payment_method_id=(
            _hex(raw["paymentMethodId"], "paymentMethodId")
            if raw.get("paymentMethodId") is not None
            else None
        ),
        payment_gateway_id=(
            _hex(raw["paymentGatewayId"], "paymentGatewayId")
            if raw.get("paymentGatewayId") is not None
            else None
        ),
        comment=raw.get("comment"),
    )


def _filters(data: Mapping[str, Any], base: Filters | None = None) -> Filters:
    values: dict[str, Any] = {}
    if base is not None:
        values = {
            "account_id": base.account_id,
            "batch": base.batch,
            "bill_cycle_day": base.bill_cycle_day,
            "billing_run_id": base.billing_run_id,
            "currency": base.currency,
            "payment_gateway_id": base.payment_gateway_id,
        }
    if data.get("accountId") is not None:
        values["account_id"] = _hex(data["accountId"], "accountId")
    if data.get("batch") is not None:
        values["batch"] = _batch(data["batch"])
    if data.get("billCycleDay") is not None:
        values["bill_cycle_day"] = _bill_cycle_day(data["billCycleDay"])
    if data.get("billingRunId") is not None:
        values["billing_run_id"] = _hex(data["billingRunId"], "billingRunId")
    if data.get("currency") is not None:
        values["currency"] = str(data["currency"])
    if data.get("paymentGatewayId") is not None:
        values["payment_gateway_id"] = _hex(data["paymentGatewayId"], "paymentGatewayId")
    return Filters(**values)


def _flags(data: Mapping[str, Any], base: Flags | None = None) -> Flags:
    values: dict[str, bool] = {}
    if base is not None:
        values = {attr: getattr(base, attr) for attr in FLAGS.values()}
    for wire, attr in FLAGS.items():
        if data.get(wire) is not None:
            values[attr] = bool(data[wire])
    return Flags(**values)


def _data(data: Mapping[str, Any]) -> tuple[DataRecord, ...]:
    return tuple(_record(raw, i) for i, raw in enumerate(data.get("data") or []))


def parse_payment_run(data: Mapping[str, Any]) -> PaymentRunSpec:
    return PaymentRunSpec(
        target_date=_target_date(data["targetDate"]) if data.get("targetDate") else None,
        run_date=run_date_of(data["runDate"]) if data.get("runDate") else None,
        filters=_filters(data),
        flags=_flags(data),
        data=_data(data),
        organization_labels=tuple(data.get("organizationLabels") or ()),
    )


def payment_run_patch(data: Mapping[str, Any], current: PaymentRunSpec) -> PaymentRunPatch:
    """Only the fields given change. Giving any filter replaces the filters whole (so
    ``accountId`` can replace ``batch`` without a conflict with the stored one)."""
    values: dict[str, Any] = {}
    if data.get("targetDate") is not None:
        values["target_date"] = _target_date(data["targetDate"])
    if data.get("runDate") is not None:
        values["run_date"] = run_date_of(data["runDate"])
    if any(data.get(name) is not None for name in FILTERS):
        values["filters"] = _filters(data)
    if any(data.get(name) is not None for name in FLAGS):
        values["flags"] = _flags(data, current.flags)
    if data.get("data") is not None:
        values["data"] = _data(data)
    if data.get("organizationLabels") is not None:
        values["organization_labels"] = tuple(data["organizationLabels"])
    return PaymentRunPatch(values)


# -- answers --------------------------------------------------------------------------------


def _id(value: int | None) -> str | None:
    return to_zuora_id(value) if value is not None else None


def payment_run_body(run: PaymentRun) -> dict[str, Any]:
    """The PaymentRun object: Zuora's fields, then billcycle's ``progress``."""
    return {
        "id": to_zuora_id(run.id),
        "number": run.payment_run_number,
        "status": run.status,
        "targetDate": run.target_date.isoformat() if run.target_date else None,
        "runDate": zuora_datetime(run.run_date),
        "executedOn": zuora_datetime(run.executed_on),
        "completedOn": zuora_datetime(run.completed_on),
        "accountId": _id(run.account_id),
        "batch": f"Batch{run.batch}" if run.batch is not None else None,
        "billCycleDay": str(run.bill_cycle_day) if run.bill_cycle_day is not None else None,
        "billingRunId": _id(run.billing_run_id),
        "currency": run.currency,
        "paymentGatewayId": _id(run.payment_gateway_id),
        **{wire: getattr(run, attr) for wire, attr in FLAGS.items()},
        "organizationLabels": run.organization_labels or [],
        "createdById": run.created_by_id,
        "createdDate": zuora_datetime(run.created_at),
        "updatedById": run.updated_by_id,
        "updatedDate": zuora_datetime(run.updated_at),
        "progress": {
            "receivables": run.receivables_total,
            "processed": run.receivables_processed,
            "errors": run.receivables_failed,
            "payments": run.payments_created,
            "chunksTotal": run.chunks_total,
            "chunksDone": run.chunks_done,
            "errorMessage": run.error_message,
        },
    }


def _money(minor: int, currency: str) -> str:
    """Zuora's ``"56 USD"``: whole amounts without decimals, others with the currency's."""
    value = from_minor(minor, currency)
    text = f"{value:f}" if value != value.to_integral_value() else str(int(value))
    return f"{text} {currency}"


def _totals(t: CurrencyTotals) -> dict[str, str]:
    zero = _money(0, t.currency)
    return {
        "totalValueOfCreditBalance": zero,
        "totalValueOfCreditMemos": zero,
        "totalValueOfDebitMemos": zero,
        "totalValueOfErrors": _money(t.errors_minor, t.currency),
        "totalValueOfInvoices": _money(t.receivables_minor, t.currency),
        "totalValueOfPayments": _money(t.collected_minor, t.currency),
        "totalValueOfReceivables": _money(t.receivables_minor, t.currency),
        "totalValueOfUnappliedPayments": zero,
        "totalValueOfUnprocessedDebitMemos": zero,
        "totalValueOfUnprocessedInvoices": _money(t.unprocessed_minor, t.currency),
        "totalValueOfUnprocessedReceivables": _money(t.unprocessed_minor, t.currency),
    }


def summary_body(run: PaymentRun, summary: RunSummary) -> dict[str, Any]:
    inputs = summary.receivables if run.explicit_data else 0
    return {
        "numberOfCreditBalanceAdjustments": 0,
        "numberOfCreditMemos": 0,
        "numberOfDebitMemos": 0,
        "numberOfErrors": summary.errors,
        "numberOfInvoices": summary.invoices,
        "numberOfPayments": summary.payments,
        "numberOfReceivables": summary.receivables,
        "numberOfUnappliedPayments": summary.unapplied_payments,
        "numberOfUnprocessedDebitMemos": 0,
        "numberOfUnprocessedInvoices": summary.unprocessed,
        "numberOfUnprocessedReceivables": summary.unprocessed,
        "numberOfInputData": inputs,
        "numberOfProcessedInputData": (inputs - summary.errors) if inputs else 0,
        "numberOfErrorInputData": summary.errors if inputs else 0,
        "totalValues": [_totals(t) for t in summary.totals],
        "success": True,
    }


def _transaction(tx: Mapping[str, Any], currency: str) -> dict[str, Any]:
    return {
        "id": to_zuora_id(int(tx["id"])),
        "type": tx.get("type", TransactionType.PAYMENT.value),
        "status": tx.get("status"),
        "amount": float(from_minor(int(tx.get("amount", 0)), currency)),
        "appliedAmount": float(from_minor(int(tx.get("applied", 0)), currency)),
    }


def data_body(view: RecordView) -> dict[str, Any]:
    """One record; one with no result written shows its payment's outcome
    (``RecordView.result``) and the payment among its transactions."""
    r = view.record
    collected = view.amount_collected_minor
    error_code, error_message = view.error
    transactions = [_transaction(tx, r.currency) for tx in r.transactions or []]
    if view.derived and r.payment_id is not None:
        transactions.append(
            {
                "id": to_zuora_id(r.payment_id),
                "type": TransactionType.PAYMENT.value,
                "status": view.payment_status,
                "amount": float(from_minor(r.amount_to_collect_minor or 0, r.currency)),
                "appliedAmount": float(from_minor(collected, r.currency))
                if view.payment_settled
                else 0.0,
            }
        )
    return {
        "accountId": to_zuora_id(r.account_id),
        "accountNumber": view.account_number,
        "amount": float(from_minor(r.amount_minor, r.currency)) if r.amount_minor else None,
        "amountCollected": float(from_minor(collected, r.currency)),
        "amountToCollect": float(from_minor(r.amount_to_collect_minor, r.currency))
        if r.amount_to_collect_minor is not None
        else None,
        "comment": r.comment,
        "currency": r.currency,
        "documentId": to_zuora_id(r.invoice_id),
        "documentNumber": view.invoice_number,
        "documentType": DocumentType.INVOICE.value,
        "errorCode": error_code,
        "errorMessage": error_message,
        "paymentGatewayId": _id(r.payment_gateway_id),
        "paymentMethodId": _id(r.payment_method_id),
        "result": view.result,
        "standalone": False,
        "transactions": transactions,
    }


STATUS_WORDS = frozenset(PaymentRunStatus)
