"""zuora-sdk, unchanged, against billcycle's catalog."""

from __future__ import annotations

import json
from datetime import date

import pytest
from zuora_sdk import (
    ApiException,
    BillCycleType,
    BillingPeriodProductRatePlanChargeRest,
    ChargeModelProductRatePlanChargeRest,
    ChargeType,
    CreateProductRatePlanChargeRequest,
    CreateProductRatePlanRequest,
    CreateProductRequest,
    ProductRatePlanChargeTier,
    ProductRatePlanChargeTierData,
    TriggerEventProductRatePlanChargeRest,
    UpdateProductRatePlanChargeRequest,
    UpdateProductRequest,
)

from billcycle.tenancy.service import NewTenant
from tests.support.zuora_sdk import make_sdk_client

# zuora-sdk calls pydantic APIs deprecated since v2; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def charge_request(plan_id: str, currency: str = "USD") -> CreateProductRatePlanChargeRequest:
    return CreateProductRatePlanChargeRequest(
        product_rate_plan_id=plan_id,
        name="Seats",
        charge_type=ChargeType.RECURRING,
        charge_model=ChargeModelProductRatePlanChargeRest.PER_UNIT_PRICING,
        billing_period=BillingPeriodProductRatePlanChargeRest.MONTH,
        bill_cycle_type=BillCycleType.DEFAULTFROMCUSTOMER,
        trigger_event=TriggerEventProductRatePlanChargeRest.CONTRACTEFFECTIVE,
        use_discount_specific_accounting_code=False,
        uom="Each",
        default_quantity=2,
        product_rate_plan_charge_tier_data=ProductRatePlanChargeTierData(
            product_rate_plan_charge_tier=[ProductRatePlanChargeTier(currency=currency, price=9.99)]
        ),
    )


def test_sdk_creates_and_reads_the_catalog(live_url: str, tenant: NewTenant) -> None:
    client = make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)
    products = client.products_api()
    plans = client.product_rate_plans_api()
    charges = client.product_rate_plan_charges_api()

    created = products.create_product(
        CreateProductRequest(
            name="Gold",
            sku="GOLD-SDK",
            effective_start_date=date(2025, 1, 1),
            effective_end_date=date(2035, 1, 1),
        )
    )
    assert created.success is True
    product_id = created.id
    plan = plans.create_product_rate_plan(
        CreateProductRatePlanRequest(name="Monthly", product_id=product_id)
    )
    charge = charges.create_product_rate_plan_charge(charge_request(plan.id))
    assert charge.success is True

    got = charges.get_product_rate_plan_charge(charge.id)
    assert got.id == charge.id
    assert got.product_rate_plan_id == plan.id
    assert got.charge_model == ChargeModelProductRatePlanChargeRest.PER_UNIT_PRICING
    assert got.billing_period == BillingPeriodProductRatePlanChargeRest.MONTH
    assert got.default_quantity == 2
    assert got.uom == "Each"

    product = products.get_product(product_id)
    assert (product.id, product.sku, product.name) == (product_id, "GOLD-SDK", "Gold")
    assert str(product.effective_end_date) == "2035-01-01"
    [rate_plan] = product.product_rate_plans
    assert rate_plan["id"] == plan.id
    [rest_charge] = rate_plan["productRatePlanCharges"]
    assert rest_charge["pricing"][0]["currency"] == "USD"
    assert rest_charge["pricing"][0]["price"] == "9.99"

    by_sku = products.get_product("GOLD-SDK")
    assert by_sku.id == product_id
    listing = products.get_products(page=1, page_size=10)
    assert [p.id for p in listing.products] == [product_id]
    assert plans.get_product_rate_plan(plan.id).name == "Monthly"
    of_product = plans.get_rate_plans_by_product(product_id)
    assert [p.id for p in of_product.product_rate_plans] == [plan.id]
    assert of_product.product_rate_plans[0].product_rate_plan_charges[0].model == "PerUnit"

    updated = products.update_product(product_id, UpdateProductRequest(name="Platinum"))
    assert updated.success is True
    assert products.get_product(product_id).name == "Platinum"

    # an update as the SDK sends it: every enum repeated, one currency re-priced
    repriced = charges.update_product_rate_plan_charge(
        charge.id,
        UpdateProductRatePlanChargeRequest(
            product_rate_plan_id=plan.id,
            charge_type=ChargeType.RECURRING,
            charge_model=ChargeModelProductRatePlanChargeRest.PER_UNIT_PRICING,
            billing_period=BillingPeriodProductRatePlanChargeRest.MONTH,
            bill_cycle_type=BillCycleType.DEFAULTFROMCUSTOMER,
            trigger_event=TriggerEventProductRatePlanChargeRest.CONTRACTEFFECTIVE,
            use_discount_specific_accounting_code=False,
            product_rate_plan_charge_tier_data=ProductRatePlanChargeTierData(
                product_rate_plan_charge_tier=[ProductRatePlanChargeTier(currency="USD", price=12)]
            ),
        ),
    )
    assert (repriced.success, repriced.id) == (True, charge.id)
    tiers = charges.get_product_rate_plan_charge(charge.id).additional_properties[
        "ProductRatePlanChargeTierData"
    ]["ProductRatePlanChargeTier"]
    assert [(t["Currency"], t["Price"]) for t in tiers] == [("USD", 12)]

    with pytest.raises(ApiException) as refused:
        charges.create_product_rate_plan_charge(charge_request(plan.id, currency="ZZZ"))
    assert refused.value.status == 400
    assert json.loads(refused.value.body)["Errors"][0]["Code"] == "INVALID_VALUE"

    deleted = charges.delete_product_rate_plan_charge(charge.id)
    assert (deleted.success, deleted.id) == (True, charge.id)
    with pytest.raises(ApiException) as missing:
        charges.get_product_rate_plan_charge(charge.id)
    assert missing.value.status == 404
    assert products.delete_product(product_id).success is True
