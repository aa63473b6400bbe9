"""A fast bulk loader for large synthetic data sets (benchmarks, scale tests).

It writes accounts, subscriptions and charge segments straight into the tables in large
batched statements, bypassing the services' per-object validation; that is the point:
building a million accounts through the API would measure the loader, not the bill run.
The rows are exactly what the services would create for the same input (Active
accounts, EVERGREEN subscriptions, one segment per charge), so a bill run over them
exercises the production path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account
from billcycle.catalog.models import (
    Product,
    ProductRatePlan,
    ProductRatePlanCharge,
    ProductRatePlanChargeTier,
)
from billcycle.ids import format_number
from billcycle.subscriptions.models import Subscription, SubscriptionCharge, SubscriptionRatePlan
from billcycle.tenancy.numbers import reserve

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DatasetSpec:
    accounts: int
    subscriptions_per_account: int = 1
    charges_per_subscription: int = 1
    price: Decimal = Decimal("30")
    currency: str = "USD"
    start: date = date(2026, 1, 1)
    bill_cycle_day: int = 1
    batch: int = 1
    batch_rows: int = 5_000


@dataclass(frozen=True)
class Dataset:
    account_ids: tuple[int, int]  # first and last id
    accounts: int
    subscriptions: int
    charges: int


def _catalog(session: Session, tenant_id: int, spec: DatasetSpec) -> tuple[int, int, list[int]]:
    product = Product(
        tenant_id=tenant_id,
        name="Bench product",
        sku=f"BENCH-{tenant_id}-{spec.accounts}",
        effective_start_date=date(2000, 1, 1),
        effective_end_date=date(2099, 12, 31),
        created_at=_T0,
        updated_at=_T0,
    )
    plan = ProductRatePlan(tenant_id=tenant_id, name="Bench plan", created_at=_T0, updated_at=_T0)
    product.rate_plans.append(plan)
    for index in range(spec.charges_per_subscription):
        charge = ProductRatePlanCharge(
            tenant_id=tenant_id,
            name=f"Monthly fee {index + 1}",
            charge_type="Recurring",
            charge_model="Flat Fee Pricing",
            billing_period="Month",
            billing_timing="IN_ADVANCE",
            bill_cycle_type="DefaultFromCustomer",
            trigger_event="ContractEffective",
            created_at=_T0,
            updated_at=_T0,
        )
        charge.tiers.append(
            ProductRatePlanChargeTier(
                tenant_id=tenant_id,
                currency=spec.currency,
                tier=1,
                price=spec.price,
                price_format="Flat Fee",
            )
        )
        plan.charges.append(charge)
    session.add(product)
    session.flush()
    return product.id, plan.id, [c.id for c in plan.charges]


def load(session: Session, tenant_id: int, spec: DatasetSpec) -> Dataset:
    """Insert the data set in the caller's transaction (commit per call to keep it small:
    call repeatedly with a few hundred thousand accounts at most)."""
    product_id, plan_id, catalog_charges = _catalog(session, tenant_id, spec)
    first_account = reserve(session, tenant_id, "account", spec.accounts)
    subs_total = spec.accounts * spec.subscriptions_per_account
    first_sub = reserve(session, tenant_id, "subscription", subs_total)
    first_charge = reserve(session, tenant_id, "charge", subs_total * spec.charges_per_subscription)
    sub_counter = 0
    charge_counter = 0
    first_id = last_id = 0
    for start in range(0, spec.accounts, spec.batch_rows):
        n = min(spec.batch_rows, spec.accounts - start)
        account_rows = [
            {
                "tenant_id": tenant_id,
                "account_number": format_number("account", first_account + start + i),
                "name": f"Bench account {first_account + start + i}",
                "currency": spec.currency,
                "bill_cycle_day": spec.bill_cycle_day,
                "batch": spec.batch,
                "payment_term": "Net 30",
                "auto_pay": False,
                "status": "Active",
                "invoice_delivery_prefs_email": False,
                "created_at": _T0,
                "updated_at": _T0,
            }
            for i in range(n)
        ]
        account_ids = _insert_returning(session, Account, account_rows)
        first_id = first_id or account_ids[0]
        last_id = account_ids[-1]
        sub_rows: list[dict[str, Any]] = []
        owners: list[int] = []
        for account_id in account_ids:
            for _ in range(spec.subscriptions_per_account):
                sub_counter += 1
                owners.append(account_id)
                sub_rows.append(
                    {
                        "tenant_id": tenant_id,
                        "account_id": account_id,
                        "subscription_number": format_number(
                            "subscription", first_sub + sub_counter - 1
                        ),
                        "status": "Active",
                        "term_type": "EVERGREEN",
                        "initial_term_period_type": "Month",
                        "renewal_term_period_type": "Month",
                        "current_term_period_type": "Month",
                        "auto_renew": False,
                        "renewal_setting": "RENEW_WITH_SPECIFIC_TERM",
                        "contract_effective_date": spec.start,
                        "service_activation_date": spec.start,
                        "customer_acceptance_date": spec.start,
                        "subscription_start_date": spec.start,
                        "term_start_date": spec.start,
                        "invoice_separately": False,
                        "version": 1,
                        "created_at": _T0,
                        "updated_at": _T0,
                    }
                )
        sub_ids = _insert_returning(session, Subscription, sub_rows)
        plan_rows = [
            {
                "tenant_id": tenant_id,
                "subscription_id": sub_id,
                "product_id": product_id,
                "product_rate_plan_id": plan_id,
                "name": "Bench plan",
                "product_name": "Bench product",
                "product_sku": "BENCH",
                "created_at": _T0,
                "updated_at": _T0,
            }
            for sub_id in sub_ids
        ]
        plan_ids = _insert_returning(session, SubscriptionRatePlan, plan_rows)
        charge_rows: list[dict[str, Any]] = []
        for sub_id, rate_plan_id, account_id in zip(sub_ids, plan_ids, owners, strict=True):
            for index, catalog_charge in enumerate(catalog_charges):
                charge_counter += 1
                charge_rows.append(
                    {
                        "tenant_id": tenant_id,
                        "subscription_rate_plan_id": rate_plan_id,
                        "subscription_id": sub_id,
                        "account_id": account_id,
                        "product_rate_plan_charge_id": catalog_charge,
                        "charge_number": format_number("charge", first_charge + charge_counter - 1),
                        "segment": 1,
                        "is_last_segment": True,
                        "name": f"Monthly fee {index + 1}",
                        "charge_type": "Recurring",
                        "charge_model": "Flat Fee Pricing",
                        "billing_period": "Month",
                        "billing_timing": "IN_ADVANCE",
                        "bill_cycle_type": "DefaultFromCustomer",
                        "trigger_event": "ContractEffective",
                        "currency": spec.currency,
                        "quantity": Decimal(1),
                        "price": spec.price,
                        "effective_start_date": spec.start,
                        "grid_start_date": spec.start,
                        "created_at": _T0,
                        "updated_at": _T0,
                    }
                )
        session.execute(insert(SubscriptionCharge), charge_rows)
    return Dataset(
        account_ids=(first_id, last_id),
        accounts=spec.accounts,
        subscriptions=subs_total,
        charges=charge_counter,
    )


def _insert_returning(session: Session, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    result = session.execute(insert(model).returning(model.id, sort_by_parameter_order=True), rows)
    return [row[0] for row in result.all()]
