"""The catalog REST API: nested products, paging, keys, versions."""

from __future__ import annotations

from typing import Any

from billcycle.db.session import unit_of_work
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from tests.catalog.factories import charge_body, create_catalog, make_catalog, post, product_body
from tests.support.api import Api


def get(api: Api, path: str, **headers: str) -> Any:
    return api.client.get(f"/zuora{path}", headers={**api.zuora_headers, **headers})


def test_product_by_id_or_sku_is_fully_nested(api: Api) -> None:
    product_id, plan_id, charge_id = create_catalog(api)
    tiered = charge_body(
        plan_id,
        Name="Calls",
        ChargeType="Usage",
        ChargeModel="Volume Pricing",
        UOM="Minute",
        ProductRatePlanChargeTierData={
            "ProductRatePlanChargeTier": [
                {"Currency": "EUR", "StartingUnit": 0, "EndingUnit": 100, "Price": 0.02},
                {"Currency": "EUR", "StartingUnit": 101, "Price": 15, "PriceFormat": "Flat Fee"},
            ]
        },
    )
    assert post(api, "product-rate-plan-charge", tiered).status_code == 200

    by_id = get(api, f"/v1/catalog/product/{product_id}")
    assert by_id.status_code == 200, by_id.text
    body = by_id.json()
    assert body == get(api, "/v1/catalog/product/GOLD-1").json()
    assert body["success"] is True
    assert (body["id"], body["sku"], body["name"]) == (product_id, "GOLD-1", "Gold")
    assert (body["effectiveStartDate"], body["category"]) == ("2025-01-01", "Base Products")
    [plan] = body["productRatePlans"]
    assert (plan["id"], plan["name"], plan["status"]) == (plan_id, "Monthly", "Active")
    seats, calls = plan["productRatePlanCharges"]
    assert seats["id"] == charge_id
    assert (seats["type"], seats["model"], seats["uom"]) == ("Recurring", "PerUnit", "Each")
    assert (seats["billingPeriod"], seats["billingTiming"]) == ("Month", "IN_ADVANCE")
    assert (seats["billingDay"], seats["triggerEvent"]) == (
        "DefaultFromCustomer",
        "ContractEffective",
    )
    assert seats["defaultQuantity"] == "3"
    assert seats["pricing"] == [
        {
            "currency": "USD",
            "price": "10.5",
            "tiers": None,
            "includedUnits": None,
            "overagePrice": None,
            "discountPercentage": None,
            "discountAmount": None,
        }
    ]
    assert seats["pricingSummary"] == ["USD10.5/Each"]
    assert (calls["type"], calls["model"], calls["billingTiming"]) == (
        "Usage",
        "Volume",
        "IN_ARREARS",
    )
    [eur] = calls["pricing"]
    assert eur["price"] is None
    assert eur["tiers"] == [
        {
            "tier": 1,
            "startingUnit": "0",
            "endingUnit": "100",
            "price": "0.02",
            "priceFormat": "PerUnit",
        },
        {
            "tier": 2,
            "startingUnit": "101",
            "endingUnit": None,
            "price": "15",
            "priceFormat": "FlatFee",
        },
    ]


def test_old_versions_get_the_rate_plan_url(api: Api) -> None:
    product_id, plan_id, _ = create_catalog(api)
    body = get(api, f"/v1/catalog/product/{product_id}", **{"Zuora-Version": "211.0"}).json()
    url = body["productRatePlans"]
    assert url == f"/v1/rateplan/{product_id}/productRatePlan"
    plans = get(api, url).json()
    assert plans["success"] is True
    assert [p["id"] for p in plans["productRatePlans"]] == [plan_id]
    assert "nextPage" not in plans
    newer = get(api, f"/v1/catalog/product/{product_id}", **{"Zuora-Version": "2025-08-12"})
    assert isinstance(newer.json()["productRatePlans"], list)


def test_products_are_paged(api: Api) -> None:
    for n in range(3):
        assert post(api, "product", product_body(SKU=f"P{n}")).status_code == 200
    first = get(api, "/v1/catalog/products?pageSize=2").json()
    assert first["success"] is True
    assert len(first["products"]) == 2
    assert "page=2" in first["nextPage"]
    second = api.client.get(first["nextPage"], headers=api.zuora_headers).json()
    assert len(second["products"]) == 1
    assert "nextPage" not in second
    skus = {p["sku"] for p in first["products"] + second["products"]}
    assert skus == {"P0", "P1", "P2"}
    assert len(get(api, "/v1/catalog/products").json()["products"]) == 3
    for bad in ("pageSize=41", "pageSize=0", "page=0", "page=x"):
        response = get(api, f"/v1/catalog/products?{bad}")
        assert response.status_code == 400, bad
        assert response.json()["success"] is False


def test_unknown_and_foreign_products_are_not_found(api: Api, runtime: Runtime) -> None:
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other tenant")
    with runtime.service_context(other.tenant_id) as theirs:
        plan, _charge = make_catalog(theirs)
        their_product = f"{plan.product_id:032x}"
        their_plan = f"{plan.id:032x}"
        their_sku = plan.product.sku
    for path in (
        f"/v1/catalog/product/{their_product}",
        f"/v1/catalog/product/{their_sku}",
        "/v1/catalog/product/NO-SUCH-SKU",
        f"/v1/rateplan/{their_product}/productRatePlan",
        f"/v1/product-rate-plans/{their_plan}",
        "/v1/product-rate-plans/nonsense",
    ):
        response = get(api, path)
        assert response.status_code == 404, path
        assert response.json()["success"] is False
    assert get(api, "/v1/catalog/products").json()["products"] == []


def test_rate_plan_by_id(api: Api) -> None:
    _product_id, plan_id, _ = create_catalog(api)
    body = get(api, f"/v1/product-rate-plans/{plan_id}").json()
    assert body["success"] is True
    assert (body["id"], body["name"], body["status"]) == (plan_id, "Monthly", "Active")


def test_catalog_needs_a_token(api: Api) -> None:
    assert api.client.get("/zuora/v1/catalog/products").status_code == 401
