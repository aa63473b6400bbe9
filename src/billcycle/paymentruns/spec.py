"""What a payment run is asked to do, as typed values: the dialect parses its wire body
into these (Zuora's in ``zuora/schemas/payment_runs.py``), the service checks what
depends on the database (accounts, invoices, bill runs exist)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

# Zuora's limit on explicit records in one run.
MAX_DATA_RECORDS = 50_000


@dataclass(frozen=True, slots=True)
class Filters:
    """Which receivables a run selects. ``account_id`` excludes every other filter."""

    account_id: int | None = None
    batch: int | None = None
    bill_cycle_day: int | None = None  # 1..31
    billing_run_id: int | None = None
    currency: str | None = None
    payment_gateway_id: int | None = None

    @property
    def others(self) -> dict[str, Any]:
        """The filters that conflict with ``account_id``, by wire name, when set."""
        named = {
            "batch": self.batch,
            "billCycleDay": self.bill_cycle_day,
            "billingRunId": self.billing_run_id,
            "currency": self.currency,
            "paymentGatewayId": self.payment_gateway_id,
        }
        return {name: value for name, value in named.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Flags:
    auto_apply_credit_memo: bool = False
    auto_apply_unapplied_payment: bool = False
    apply_credit_balance: bool = False
    collect_payment: bool = True
    consolidated_payment: bool = False
    process_payment_with_closed_pm: bool = False
    ignore_payment_run_retry_rule: bool = False


@dataclass(frozen=True, slots=True)
class DataRecord:
    """One explicit receivable (Zuora's ``data[]`` element), keys already resolved to
    ids by the dialect where it could (an unknown number stays a number: the service
    answers it not found)."""

    account_id: int | None = None
    account_number: str | None = None
    invoice_id: int | None = None
    invoice_number: str | None = None
    amount: Decimal | None = None  # None: the invoice's balance when the run collects it
    payment_method_id: int | None = None
    payment_gateway_id: int | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRunSpec:
    """``run_date`` set: a scheduled run (minutes and seconds are dropped); otherwise
    it runs at once. ``target_date`` defaults to the run's date."""

    target_date: date | None = None
    run_date: datetime | None = None
    filters: Filters = field(default_factory=Filters)
    flags: Flags = field(default_factory=Flags)
    data: tuple[DataRecord, ...] = ()
    organization_labels: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class PaymentRunPatch:
    """An update of a Pending run: only the fields given change (``fields`` names them
    by ``PaymentRunSpec`` attribute; filters and flags are replaced whole when named)."""

    values: dict[str, Any]

    def apply(self, spec: PaymentRunSpec) -> PaymentRunSpec:
        return replace(spec, **self.values)
