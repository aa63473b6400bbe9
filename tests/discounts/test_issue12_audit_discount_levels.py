"""Issue 12 audit: a discount's ``DiscountLevel`` picks the charges it discounts. One
account, two subscriptions: the first with a $20 base plan and a plan of a $10 add-on
and a 10% discount, the second with a $40 plan. January (billed in advance from Jan 1,
no proration): a ``rateplan`` discount takes 10% of its own plan's $10 (-1.00), a
``subscription`` one 10% of its subscription's $30 (-3.00), an ``account`` one 10% of
every subscription of the account, $70 (-7.00)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.catalog.factories import charge_body, post, product_body
from tests.subscriptions.factories import add_account
from tests.support.api import Api


def _plan(api: Api, *charges: dict[str, Any]) -> str:
    product = post(api, "product", product_body(SKU=f"SKU-{uuid.uuid4().hex[:10]}"))
    assert product.status_code == 200, product.text
    plan = post(api, "product-rate-plan", {"ProductId": product.json()["Id"], "Name": "Plan"})
    assert plan.status_code == 200, plan.text
    plan_id: str = plan.json()["Id"]
    for charge in charges:
        response = post(api, "product-rate-plan-charge", charge_body(plan_id, **charge))
        assert response.status_code == 200, response.text
    return plan_id


def _flat(name: str, price: float) -> dict[str, Any]:
    return {
        "Name": name,
        "ChargeModel": "Flat Fee Pricing",
        "DefaultQuantity": None,
        "ProductRatePlanChargeTierData": {
            "ProductRatePlanChargeTier": [{"Currency": "USD", "Price": price}]
        },
    }


def _ten_percent(level: str) -> dict[str, Any]:
    return {
        "Name": "Ten",
        "ChargeModel": "Discount-Percentage",
        "DefaultQuantity": None,
        "UOM": None,
        "DiscountLevel": level,
        "ProductRatePlanChargeTierData": {
            "ProductRatePlanChargeTier": [{"Currency": "USD", "DiscountPercentage": 10}]
        },
    }


def _subscribe(api: Api, account_number: str, *plan_ids: str) -> None:
    response = api.client.post(
        "/zuora/v1/subscriptions",
        json={
            "accountKey": account_number,
            "contractEffectiveDate": "2026-01-01",
            "termType": "EVERGREEN",
            "subscribeToRatePlans": [{"productRatePlanId": p} for p in plan_ids],
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("level", "expected"), [("rateplan", -100), ("subscription", -300), ("account", -700)]
)
def test_the_discount_level_picks_the_charges_discounted(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, level: str, expected: int
) -> None:
    t = api.tenant.tenant_id
    base_plan = _plan(api, _flat("Base", 20))
    discounted_plan = _plan(api, _flat("Add-on", 10), _ten_percent(level))
    other_plan = _plan(api, _flat("Other", 40))
    with runtime.service_context(t) as ctx:
        account = add_account(ctx.session, t, bill_cycle_day=1)
        account_id, number = account.id, account.account_number
    _subscribe(api, number, base_plan, discounted_plan)
    _subscribe(api, number, other_plan)

    response = api.client.post(
        "/zuora/v1/bill-runs",
        json={"batches": ["AllBatches"], "targetDate": "2026-01-01"},
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    jobs.run_until_idle()

    with runtime.service_context(t) as ctx:
        rows = ctx.session.execute(
            select(
                InvoiceItem.charge_name,
                InvoiceItem.service_start,
                InvoiceItem.service_end,
                InvoiceItem.amount_minor,
            )
            .join(Invoice, Invoice.id == InvoiceItem.invoice_id)
            .where(Invoice.account_id == account_id, Invoice.status != "Canceled")
            .order_by(InvoiceItem.charge_name)
        ).all()
    assert [(n, str(s), str(e), a) for n, s, e, a in rows] == [
        ("Add-on", "2026-01-01", "2026-02-01", 1000),
        ("Base", "2026-01-01", "2026-02-01", 2000),
        ("Other", "2026-01-01", "2026-02-01", 4000),
        ("Ten", "2026-01-01", "2026-02-01", expected),
    ]
