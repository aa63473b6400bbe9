"""Discount charges (Zuora's Discount-Percentage and Discount-Fixed Amount) made through
the object API, subscribed through the Zuora API (with charge overrides), billed by bill
runs as their own negative items, with hand-computed amounts."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.catalog.factories import charge_body, post, product_body
from tests.subscriptions.factories import add_account
from tests.support.api import Api

BILL_RUNS = "/zuora/v1/bill-runs"


def _plan(api: Api, *charges: dict[str, Any]) -> tuple[str, list[str]]:
    product = post(api, "product", product_body(SKU=f"SKU-{uuid.uuid4().hex[:10]}"))
    assert product.status_code == 200, product.text
    plan = post(api, "product-rate-plan", {"ProductId": product.json()["Id"], "Name": "Plan"})
    assert plan.status_code == 200, plan.text
    plan_id = plan.json()["Id"]
    ids = []
    for charge in charges:
        response = post(api, "product-rate-plan-charge", charge_body(plan_id, **charge))
        assert response.status_code == 200, response.text
        ids.append(response.json()["Id"])
    return plan_id, ids


def _flat(name: str, price: float) -> dict[str, Any]:
    return {
        "Name": name,
        "ChargeModel": "Flat Fee Pricing",
        "DefaultQuantity": None,
        "ProductRatePlanChargeTierData": {
            "ProductRatePlanChargeTier": [{"Currency": "USD", "Price": price}]
        },
    }


def _discount(name: str, model: str, value: float, **terms: Any) -> dict[str, Any]:
    field = "DiscountPercentage" if model == "Discount-Percentage" else "DiscountAmount"
    return {
        "Name": name,
        "ChargeModel": model,
        "DefaultQuantity": None,
        "UOM": None,
        "ProductRatePlanChargeTierData": {
            "ProductRatePlanChargeTier": [{"Currency": "USD", field: value}]
        },
        **terms,
    }


def _subscribe(
    api: Api, runtime: Runtime, start: str, plans: list[dict[str, Any]], bcd: int = 1
) -> int:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        account = add_account(ctx.session, api.tenant.tenant_id, bill_cycle_day=bcd)
        account_id, number = account.id, account.account_number
    response = api.client.post(
        "/zuora/v1/subscriptions",
        json={
            "accountKey": number,
            "contractEffectiveDate": start,
            "termType": "EVERGREEN",
            "subscribeToRatePlans": plans,
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    return account_id


def _bill(api: Api, jobs: ManualDispatcher, target: str) -> None:
    response = api.client.post(
        BILL_RUNS,
        json={"batches": ["AllBatches"], "targetDate": target},
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    jobs.run_until_idle()


def _items(runtime: Runtime, tenant_id: int, account_id: int) -> list[tuple[str, str, str, int]]:
    with runtime.service_context(tenant_id) as ctx:
        rows = ctx.session.execute(
            select(
                InvoiceItem.charge_name,
                InvoiceItem.service_start,
                InvoiceItem.service_end,
                InvoiceItem.amount_minor,
            )
            .join(Invoice, Invoice.id == InvoiceItem.invoice_id)
            .where(Invoice.account_id == account_id, Invoice.status != "Canceled")
            .order_by(InvoiceItem.charge_name, InvoiceItem.service_start)
        ).all()
    return [(n, str(s), str(e), a) for n, s, e, a in rows]


def test_ten_percent_off_thirty_for_three_periods_from_the_15th(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """BCD 1, from Jan 15: the $30 charge bills Jan 15-31 prorated (30 x 17/31 = 16.45),
    then full months. UpToPeriods 3 ends the discount three months after its start
    (Apr 15): -1.65 (10% of 16.45, half up), -3.00, -3.00, and for Apr 1-14 10% of the
    14/30 of April's 30.00 it covers: -1.40."""
    plan_id, _ = _plan(
        api,
        _flat("Monthly fee", 30),
        _discount(
            "Welcome 10%", "Discount-Percentage", 10, DiscountLevel="rateplan", UpToPeriods=3
        ),
    )
    account_id = _subscribe(api, runtime, "2026-01-15", [{"productRatePlanId": plan_id}])
    _bill(api, jobs, "2026-03-01")
    _bill(api, jobs, "2026-05-01")
    assert _items(runtime, api.tenant.tenant_id, account_id) == [
        ("Monthly fee", "2026-01-15", "2026-02-01", 1645),
        ("Monthly fee", "2026-02-01", "2026-03-01", 3000),
        ("Monthly fee", "2026-03-01", "2026-04-01", 3000),
        ("Monthly fee", "2026-04-01", "2026-05-01", 3000),
        ("Monthly fee", "2026-05-01", "2026-06-01", 3000),
        ("Welcome 10%", "2026-01-15", "2026-02-01", -165),
        ("Welcome 10%", "2026-02-01", "2026-03-01", -300),
        ("Welcome 10%", "2026-03-01", "2026-04-01", -300),
        ("Welcome 10%", "2026-04-01", "2026-04-15", -140),
    ]
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        totals = ctx.session.scalars(
            select(Invoice.amount_minor)
            .where(Invoice.account_id == account_id)
            .order_by(Invoice.id)
        ).all()
    # Jan 15 - Mar 31 on the first run (16.45 + 30 + 30 - 1.65 - 3 - 3 = 68.80); then
    # April and May (30 + 30 - 1.40 = 58.60).
    assert totals == [6880, 5860]


def test_fixed_amount_at_subscription_level_through_charge_overrides(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """A $5 discount on the subscription (both rate plans' charges) for 2 periods, its
    amount and period limit given as subscription charge overrides; a fixed discount is
    prorated like the charge it discounts (Jan 15-31: 5 x 17/31 = 2.74)."""
    base_plan, _ = _plan(api, _flat("Base", 20))
    addon_plan, (addon_charge, discount_charge) = _plan(
        api,
        _flat("Add-on", 2),
        _discount("Loyalty", "Discount-Fixed Amount", 1, DiscountLevel="subscription"),
    )
    account_id = _subscribe(
        api,
        runtime,
        "2026-01-15",
        [
            {"productRatePlanId": base_plan},
            {
                "productRatePlanId": addon_plan,
                "chargeOverrides": [
                    {
                        "productRatePlanChargeId": discount_charge,
                        "discountAmount": 5,
                        "upToPeriods": 2,
                    }
                ],
            },
        ],
    )
    _bill(api, jobs, "2026-04-01")
    items = [i for i in _items(runtime, api.tenant.tenant_id, account_id) if i[0] == "Loyalty"]
    # Jan 15-31: min(5 x 17/31 = 2.74, 20 x 17/31 + 2 x 17/31 = 12.06) -> -2.74; February
    # -5.00; Mar 1-14 (ends Mar 15): 5 x 14/31 = 2.258 -> -2.26.
    assert items == [
        ("Loyalty", "2026-01-15", "2026-02-01", -274),
        ("Loyalty", "2026-02-01", "2026-03-01", -500),
        ("Loyalty", "2026-03-01", "2026-03-15", -226),
    ]
    _ = addon_charge


def test_discount_catalog_bad_input(api: Api) -> None:
    plan_id, _ = _plan(api, _flat("Fee", 10))

    def refused(**charge: Any) -> str:
        response = post(api, "product-rate-plan-charge", charge_body(plan_id, **charge))
        assert response.status_code == 400, response.text
        message: str = response.json()["Errors"][0]["Message"]
        return message

    assert "at most 100" in refused(**_discount("D", "Discount-Percentage", 150))
    assert "more than 0" in refused(**_discount("D", "Discount-Fixed Amount", 0))
    assert "DiscountLevel" in refused(
        **_discount("D", "Discount-Percentage", 5, DiscountLevel="galaxy")
    )
    assert "ApplyDiscountTo" in refused(
        **_discount("D", "Discount-Percentage", 5, ApplyDiscountTo="EVERYTHING")
    )
    assert "Recurring" in refused(**_discount("D", "Discount-Percentage", 5, ChargeType="OneTime"))
    assert "only valid with a Discount" in refused(**_flat("F", 1), DiscountLevel="account")
    ok = post(
        api,
        "product-rate-plan-charge",
        charge_body(
            plan_id, **_discount("D", "Discount-Percentage", 5, ApplyDiscountTo="RECURRINGUSAGE")
        ),
    )
    assert ok.status_code == 200, ok.text
    got = api.client.get(
        f"/zuora/v1/object/product-rate-plan-charge/{ok.json()['Id']}", headers=api.zuora_headers
    ).json()
    assert got["ChargeModel"] == "Discount-Percentage"
    assert got["DiscountLevel"] == "rateplan"
    assert got["ApplyDiscountTo"] == "RECURRINGUSAGE"


def test_a_discount_on_recurring_and_usage(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """10% off RECURRINGUSAGE: January's discount takes 10% of the $30 fee and of
    January's usage billed in arrears (100 calls x 0.10 = 10.00): -4.00; February's
    (billed in advance with February's fee, its usage not yet billed): -3.00."""
    from billcycle.usage import service as usage_service
    from billcycle.usage.inputs import NewUom

    with runtime.service_context(api.tenant.tenant_id) as ctx:
        usage_service.create_uom(ctx, NewUom("Call", 0))
    plan_id, _ = _plan(
        api,
        _flat("Fee", 30),
        {
            "Name": "Calls",
            "ChargeType": "Usage",
            "ChargeModel": "Per Unit Pricing",
            "UOM": "Call",
            "DefaultQuantity": None,
            "ProductRatePlanChargeTierData": {
                "ProductRatePlanChargeTier": [{"Currency": "USD", "Price": 0.1}]
            },
        },
        _discount("Ten", "Discount-Percentage", 10, ApplyDiscountTo="RECURRINGUSAGE"),
    )
    account_id = _subscribe(api, runtime, "2026-01-01", [{"productRatePlanId": plan_id}])
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        from billcycle.accounts.models import Account

        number = ctx.session.scalar(select(Account.account_number).where(Account.id == account_id))
    usage = api.client.post(
        "/zuora/v1/object/usage",
        json={
            "AccountNumber": number,
            "StartDateTime": "2026-01-09T08:00:00",
            "UOM": "Call",
            "Quantity": 100,
        },
        headers=api.zuora_headers,
    )
    assert usage.status_code == 200, usage.text
    _bill(api, jobs, "2026-02-01")
    assert _items(runtime, api.tenant.tenant_id, account_id) == [
        ("Calls", "2026-01-01", "2026-02-01", 1000),
        ("Fee", "2026-01-01", "2026-02-01", 3000),
        ("Fee", "2026-02-01", "2026-03-01", 3000),
        ("Ten", "2026-01-01", "2026-02-01", -400),
        ("Ten", "2026-02-01", "2026-03-01", -300),
    ]
