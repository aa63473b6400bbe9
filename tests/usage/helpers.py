"""Set-up for usage tests: units of measure, an account subscribed to usage charges
(through the Zuora API), usage records and bill runs through the API."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.runtime import Runtime
from billcycle.subscriptions.models import SubscriptionCharge
from billcycle.usage import service as usage_service
from billcycle.usage.inputs import NewUom
from billcycle.usage.models import UsageRecord
from tests.subscriptions.factories import ChargeSpec, TierSpec, add_account, add_rate_plan
from tests.support.api import Api

BILL_RUNS = "/zuora/v1/bill-runs"
USAGE = "/zuora/v1/object/usage"


def usage_charge(name: str, model: str, uom: str, prices: list[TierSpec]) -> ChargeSpec:
    return ChargeSpec(
        name=name,
        charge_type="Usage",
        charge_model=model,
        billing_period="Month",
        billing_timing="IN_ARREARS",
        uom=uom,
        prices={"USD": prices},
    )


PER_UNIT = usage_charge("API calls", "Per Unit Pricing", "Call", [TierSpec("0.10")])
TIERED = usage_charge(
    "Storage", "Tiered Pricing", "GB", [TierSpec("1", "0", "100"), TierSpec("0.5", "101", None)]
)
VOLUME = usage_charge(
    "Minutes", "Volume Pricing", "Minute", [TierSpec("1", "0", "100"), TierSpec("0.8", "101", None)]
)
FLAT = usage_charge(
    "Usage access", "Flat Fee Pricing", "Session", [TierSpec("5", price_format="Flat Fee")]
)


def add_uoms(runtime: Runtime, tenant_id: int, *names: str, decimals: int = 2) -> None:
    with runtime.service_context(tenant_id) as ctx:
        for name in names:
            usage_service.create_uom(ctx, NewUom(name=name, decimal_places=decimals))


@dataclass(frozen=True)
class Customer:
    account_id: int
    account_number: str
    subscription_number: str
    charge_numbers: dict[str, str]  # charge name -> charge number


def subscribe(
    api: Api,
    runtime: Runtime,
    *charges: ChargeSpec,
    start: str = "2026-01-01",
    bill_cycle_day: int = 1,
    included_units: dict[str, Decimal] | None = None,
) -> Customer:
    """An account with one subscription to a plan of ``charges`` (the catalog written by
    the factory; the subscription made through the Zuora API)."""
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        plan = add_rate_plan(ctx.session, tenant_id, *charges)
        if included_units:
            from billcycle.catalog.models import ProductRatePlanCharge

            for charge in ctx.session.scalars(
                select(ProductRatePlanCharge).where(ProductRatePlanCharge.id.in_(plan.charge_ids))
            ):
                if charge.name in included_units:
                    charge.included_units = included_units[charge.name]
        account = add_account(ctx.session, tenant_id, bill_cycle_day=bill_cycle_day)
        account_id, number = account.id, account.account_number
    response = api.client.post(
        "/zuora/v1/subscriptions",
        json={
            "accountKey": number,
            "contractEffectiveDate": start,
            "termType": "EVERGREEN",
            "subscribeToRatePlans": [{"productRatePlanId": plan.rate_plan_key}],
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    subscription_number = response.json()["subscriptionNumber"]
    with runtime.service_context(tenant_id) as ctx:
        rows = ctx.session.execute(
            select(SubscriptionCharge.name, SubscriptionCharge.charge_number).where(
                SubscriptionCharge.tenant_id == tenant_id,
                SubscriptionCharge.account_id == account_id,
            )
        ).all()
    return Customer(account_id, number, subscription_number, {name: cn for name, cn in rows})


def add_usage(
    api: Api,
    customer: Customer,
    charge: str,
    quantity: str | float,
    start: str,
    uom: str,
    **extra: Any,
) -> Any:
    body = {
        "AccountNumber": customer.account_number,
        "SubscriptionNumber": customer.subscription_number,
        "ChargeNumber": customer.charge_numbers[charge],
        "StartDateTime": start,
        "UOM": uom,
        "Quantity": quantity,
        **extra,
    }
    return api.client.post(USAGE, json=body, headers=api.zuora_headers)


def run_bill_run(api: Api, jobs: Any, target: str, **body: Any) -> dict[str, Any]:
    payload = {"batches": ["AllBatches"], "targetDate": target, **body}
    response = api.client.post(BILL_RUNS, json=payload, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    jobs.run_until_idle()
    run = api.client.get(f"{BILL_RUNS}/{response.json()['id']}", headers=api.zuora_headers)
    assert run.status_code == 200, run.text
    data: dict[str, Any] = run.json()
    return data


def items_by_charge(
    runtime: Runtime, tenant_id: int, account_id: int, *, live: bool = True
) -> dict[str, list[InvoiceItem]]:
    with runtime.service_context(tenant_id) as ctx:
        rows = ctx.session.scalars(
            select(InvoiceItem)
            .join(Invoice, Invoice.id == InvoiceItem.invoice_id)
            .where(
                Invoice.tenant_id == tenant_id,
                Invoice.account_id == account_id,
                Invoice.status != "Canceled" if live else True,
            )
            .order_by(InvoiceItem.id)
        ).all()
        ctx.session.expunge_all()
    found: dict[str, list[InvoiceItem]] = {}
    for item in rows:
        found.setdefault(item.charge_name, []).append(item)
    return found


@dataclass(frozen=True)
class BilledRecord:
    """A usage record as stored, and the invoice item that billed it (None: unbilled),
    as the record views answer it (``RbeStatus``)."""

    record: UsageRecord
    billed_by: int | None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.record, name)


def records_of(runtime: Runtime, tenant_id: int, account_id: int) -> list[BilledRecord]:
    with runtime.service_context(tenant_id) as ctx:
        rows = list(
            ctx.session.scalars(
                select(UsageRecord)
                .where(UsageRecord.tenant_id == tenant_id, UsageRecord.account_id == account_id)
                .order_by(UsageRecord.id)
            )
        )
        views = usage_service.describe(ctx, rows)
        ctx.session.expunge_all()
    return [BilledRecord(view.record, view.billed_by) for view in views]


def proxy_error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["Success"] is False
    message: str = body["Errors"][0]["Message"]
    return message
