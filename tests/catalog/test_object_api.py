"""The object API for products, rate plans and charges, over HTTP."""

from __future__ import annotations

import json
import re
from typing import Any

from billcycle.catalog import service
from billcycle.db.session import unit_of_work
from billcycle.ids import parse_zuora_id, to_zuora_id
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from tests.catalog.factories import (
    charge_body,
    create_catalog,
    make_catalog,
    post,
    product_body,
    subscribe,
    tiers,
)
from tests.support.api import Api

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def get(api: Api, path: str) -> Any:
    return api.client.get(f"/zuora/v1/object/{path}", headers=api.zuora_headers)


def put(api: Api, path: str, body: Any, **params: str) -> Any:
    return api.client.put(
        f"/zuora/v1/object/{path}", json=body, headers=api.zuora_headers, params=params
    )


def delete(api: Api, path: str) -> Any:
    return api.client.delete(f"/zuora/v1/object/{path}", headers=api.zuora_headers)


def proxy_error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["Success"] is False, body
    assert body["Errors"][0]["Code"] == code, body
    message: str = body["Errors"][0]["Message"]
    return message


def test_create_get_update_delete_product(api: Api) -> None:
    created = post(api, "product", product_body())
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["Success"] is True
    assert HEX32.match(body["Id"])

    got = get(api, f"product/{body['Id']}").json()
    assert got["Id"] == body["Id"]
    assert got["Name"] == "Gold"
    assert got["SKU"] == "GOLD-1"
    assert got["Category"] == "Base Products"
    assert got["EffectiveStartDate"] == "2025-01-01"
    assert got["CreatedDate"] == "2026-01-10T09:00:00.000+00:00"

    updated = put(api, f"product/{body['Id']}", {"Name": "Platinum", "Description": None})
    assert updated.json() == {"Success": True, "Id": body["Id"]}
    got = get(api, f"product/{body['Id']}").json()
    assert got["Name"] == "Platinum"
    assert "Description" not in got
    assert got["SKU"] == "GOLD-1"

    deleted = delete(api, f"product/{body['Id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "id": body["Id"]}
    missing = get(api, f"product/{body['Id']}")
    assert missing.status_code == 404
    assert missing.json() == {"done": True, "records": [], "size": 0}


def test_sku_is_generated_and_must_be_unique(api: Api) -> None:
    body = product_body()
    del body["SKU"]
    first = post(api, "product", body)
    assert get(api, f"product/{first.json()['Id']}").json()["SKU"] == "SKU-00000001"
    assert post(api, "product", product_body()).status_code == 200
    message = proxy_error(post(api, "product", product_body()), 400, "INVALID_VALUE")
    assert "GOLD-1" in message


def test_rate_plan_crud(api: Api) -> None:
    product_id, plan_id, _charge_id = create_catalog(api)
    got = get(api, f"product-rate-plan/{plan_id}").json()
    assert got["Id"] == plan_id
    assert got["ProductId"] == product_id
    assert got["Name"] == "Monthly"
    assert got["ActiveCurrencies"] == ["USD"]

    body = {"ProductId": product_id, "Name": "Monthly plan", "EffectiveStartDate": "2025-02-01"}
    assert put(api, f"product-rate-plan/{plan_id}", body).json() == {
        "Success": True,
        "Id": plan_id,
    }
    got = get(api, f"product-rate-plan/{plan_id}").json()
    assert (got["Name"], got["EffectiveStartDate"]) == ("Monthly plan", "2025-02-01")

    other_product = post(api, "product", product_body(SKU="OTHER")).json()["Id"]
    moved = put(api, f"product-rate-plan/{plan_id}", {"ProductId": other_product})
    assert "cannot be changed" in proxy_error(moved, 400, "INVALID_VALUE")

    assert delete(api, f"product-rate-plan/{plan_id}").json() == {"success": True, "id": plan_id}
    assert get(api, f"product-rate-plan/{plan_id}").status_code == 404


def test_charge_crud(api: Api) -> None:
    _product_id, plan_id, charge_id = create_catalog(api)
    got = get(api, f"product-rate-plan-charge/{charge_id}").json()
    assert got["Id"] == charge_id
    assert got["ProductRatePlanId"] == plan_id
    assert got["ChargeType"] == "Recurring"
    assert got["ChargeModel"] == "Per Unit Pricing"
    assert got["BillingPeriod"] == "Month"
    assert got["BillingTiming"] == "In Advance"
    assert got["BillCycleType"] == "DefaultFromCustomer"
    assert got["TriggerEvent"] == "ContractEffective"
    assert got["DefaultQuantity"] == 3
    assert got["UOM"] == "Each"
    [tier] = got["ProductRatePlanChargeTierData"]["ProductRatePlanChargeTier"]
    assert {k: tier[k] for k in ("Currency", "Price", "Tier", "PriceFormat")} == {
        "Currency": "USD",
        "Price": 10.5,
        "Tier": 1,
        "PriceFormat": "Per Unit",
    }

    update = {
        "ProductRatePlanId": plan_id,
        "BillingPeriod": "Semi-Annual",
        "BillingTiming": "In Arrears",
        "ProductRatePlanChargeTierData": {
            "ProductRatePlanChargeTier": [{"Currency": "EUR", "Price": 9}]
        },
    }
    assert put(api, f"product-rate-plan-charge/{charge_id}", update).json()["Success"] is True
    got = get(api, f"product-rate-plan-charge/{charge_id}").json()
    assert (got["BillingPeriod"], got["BillingTiming"]) == ("Semi-Annual", "In Arrears")
    prices = got["ProductRatePlanChargeTierData"]["ProductRatePlanChargeTier"]
    assert [(p["Currency"], p["Price"]) for p in prices] == [("EUR", 9), ("USD", 10.5)]

    assert delete(api, f"product-rate-plan-charge/{charge_id}").json()["success"] is True
    assert get(api, f"product-rate-plan-charge/{charge_id}").status_code == 404


def test_tiered_charge(api: Api) -> None:
    _product_id, plan_id, _ = create_catalog(api)
    data = tiers((0, 10, 1.25), (11, 20, 0.8), (21, None, 0.5))
    data["ProductRatePlanChargeTier"][2]["PriceFormat"] = "Flat Fee"
    body = charge_body(
        plan_id,
        ChargeType="Usage",
        ChargeModel="Tiered Pricing",
        BillingPeriod="Specific Months",
        SpecificBillingPeriod=2,
        ProductRatePlanChargeTierData=data,
    )
    created = post(api, "product-rate-plan-charge", body)
    assert created.status_code == 200, created.text
    got = get(api, f"product-rate-plan-charge/{created.json()['Id']}").json()
    assert got["BillingPeriod"] == "Specific Months"
    assert got["BillingTiming"] == "In Arrears"
    assert "DefaultQuantity" not in got
    rows = got["ProductRatePlanChargeTierData"]["ProductRatePlanChargeTier"]
    assert [(r["Tier"], r["StartingUnit"], r.get("EndingUnit"), r["Price"]) for r in rows] == [
        (1, 0, 10, 1.25),
        (2, 11, 20, 0.8),
        (3, 21, None, 0.5),
    ]
    assert rows[2]["PriceFormat"] == "Flat Fee"


BAD_CHARGES: list[tuple[dict[str, Any], str, str]] = [
    ({"Name": 123}, "INVALID_VALUE", "Name"),
    ({"Name": None}, "INVALID_VALUE", "Name"),
    ({"BillCycleDay": "5"}, "INVALID_VALUE", "BillCycleDay"),
    ({"DefaultQuantity": True}, "INVALID_VALUE", "DefaultQuantity"),
    ({"ChargeModel": "Bogus Pricing"}, "INVALID_VALUE", "ChargeModel"),
    ({"BillingPeriod": "Fortnight"}, "INVALID_VALUE", "BillingPeriod"),
    ({"BillingTiming": "Whenever"}, "INVALID_VALUE", "BillingTiming"),
    ({"TriggerEvent": "Sunrise"}, "INVALID_VALUE", "TriggerEvent"),
    ({"BillingPeriod": "Specific Months"}, "MISSING_REQUIRED_VALUE", "SpecificBillingPeriod"),
    ({"BillCycleType": "SpecificDayofMonth"}, "MISSING_REQUIRED_VALUE", "BillCycleDay"),
    (
        {"BillCycleType": "SpecificDayofMonth", "BillCycleDay": 0},
        "INVALID_VALUE",
        "between 1 and 31",
    ),
    ({"ProductRatePlanChargeTierData": None}, "INVALID_VALUE", "ProductRatePlanChargeTierData"),
    ({"ProductRatePlanChargeTierData": {"ProductRatePlanChargeTier": []}}, "MISSING", "price"),
    ({"ProductRatePlanChargeTierData": tiers((None, None, 1), currency="ZZZ")}, "INVALID", "ZZZ"),
    (
        {"ProductRatePlanChargeTierData": tiers((None, None, 1.0000000001))},
        "INVALID_VALUE",
        "decimal places",
    ),
    (
        {"ProductRatePlanChargeTierData": tiers((None, None, "abc"))},
        "INVALID_VALUE",
        "Price",
    ),
    (
        {
            "ChargeModel": "Tiered Pricing",
            "ProductRatePlanChargeTierData": tiers((0, 10, 1), (5, None, 1)),
        },
        "INVALID_VALUE",
        "overlaps",
    ),
    (
        {
            "ChargeModel": "Flat Fee Pricing",
            "ProductRatePlanChargeTierData": tiers((None, None, 1), (None, None, 2)),
        },
        "INVALID_VALUE",
        "exactly one price",
    ),
    ({"ProductRatePlanId": "not-an-id"}, "INVALID_VALUE", "ProductRatePlanId"),
    ({"ProductRatePlanId": "0" * 30 + "ff"}, "INVALID_VALUE", "not found"),
]


def test_bad_charges_are_refused_and_change_nothing(api: Api) -> None:
    _product_id, plan_id, _ = create_catalog(api)
    for overrides, code, fragment in BAD_CHARGES:
        body = charge_body(plan_id, **overrides)
        response = post(api, "product-rate-plan-charge", body)
        assert response.status_code == 400, (overrides, response.text)
        error = response.json()["Errors"][0]
        assert error["Code"].startswith(code), (overrides, error)
        assert fragment.lower() in error["Message"].lower(), (overrides, error)
    missing = charge_body(plan_id)
    del missing["Name"]
    assert "Name" in proxy_error(
        post(api, "product-rate-plan-charge", missing), 400, "MISSING_REQUIRED_VALUE"
    )
    malformed = api.client.post(
        "/zuora/v1/object/product-rate-plan-charge",
        content=b'{"Name": "x",',
        headers={**api.zuora_headers, "Content-Type": "application/json"},
    )
    assert "Malformed JSON" in proxy_error(malformed, 400, "INVALID_VALUE")
    assert post(api, "product-rate-plan-charge", [1, 2]).status_code == 400
    # nothing but the first charge was created
    assert get(api, f"product-rate-plan/{plan_id}").json()["ActiveCurrencies"] == ["USD"]
    plans = api.client.get(
        f"/zuora/v1/rateplan/{_product_id}/productRatePlan", headers=api.zuora_headers
    ).json()["productRatePlans"]
    assert len(plans[0]["productRatePlanCharges"]) == 1


def test_bad_products_and_plans_are_refused(api: Api) -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("product", product_body(EffectiveEndDate="2025-01-01"), "must be before"),
        ("product", product_body(EffectiveStartDate="2025-13-01"), "EffectiveStartDate"),
        ("product", product_body(EffectiveStartDate=20250101), "EffectiveStartDate"),
        ("product", product_body(Category="Gadgets"), "Category"),
        ("product", product_body(Name=""), "Name"),
        ("product-rate-plan", {"ProductId": "0" * 31 + "1", "Name": "X"}, "ProductId"),
        ("product-rate-plan", {"ProductId": 42, "Name": "X"}, "ProductId"),
    ]
    for path, body, fragment in cases:
        response = post(api, path, body)
        assert response.status_code == 400, (body, response.text)
        assert fragment in response.json()["Errors"][0]["Message"], (body, response.text)


def test_unknown_and_foreign_ids_are_not_found(api: Api, runtime: Runtime) -> None:
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other tenant")
    with runtime.service_context(other.tenant_id) as theirs:
        plan, charge = make_catalog(theirs)
        foreign = {
            "product": to_zuora_id(plan.product_id),
            "product-rate-plan": to_zuora_id(plan.id),
            "product-rate-plan-charge": to_zuora_id(charge.id),
        }
    for path, their_id in foreign.items():
        for object_id in (their_id, "0" * 32, "nonsense"):
            assert get(api, f"{path}/{object_id}").status_code == 404
            proxy_error(put(api, f"{path}/{object_id}", {"Name": "mine"}), 404, "INVALID_ID")
            proxy_error(delete(api, f"{path}/{object_id}"), 404, "INVALID_ID")
    with runtime.service_context(other.tenant_id) as theirs:
        assert service.get_charge(theirs, charge.id).name == "Seats"


def test_reject_unknown_fields(api: Api) -> None:
    body = product_body(SKU="COLOURED", Colour="gold")
    refused = post(api, "product", body, rejectUnknownFields="true")
    assert "Colour" in proxy_error(refused, 400, "INVALID_FIELD")
    assert post(api, "product", body).status_code == 200

    _product_id, plan_id, charge_id = create_catalog(api)
    nested = charge_body(plan_id, Name="Nested")
    nested["ProductRatePlanChargeTierData"]["ProductRatePlanChargeTier"][0]["Discount"] = 1
    refused = post(api, "product-rate-plan-charge", nested, rejectUnknownFields="true")
    assert "Discount" in proxy_error(refused, 400, "INVALID_FIELD")
    update = put(
        api, f"product-rate-plan-charge/{charge_id}", {"Nmae": "typo"}, rejectUnknownFields="true"
    )
    proxy_error(update, 400, "INVALID_FIELD")
    assert put(api, f"product-rate-plan-charge/{charge_id}", {"Nmae": "typo"}).status_code == 200


def test_prices_keep_every_decimal(api: Api) -> None:
    _product_id, plan_id, _ = create_catalog(api)
    body = charge_body(plan_id)
    raw = json.dumps(body).replace("10.5", "12345678901.123456789").encode()
    created = api.client.post(
        "/zuora/v1/object/product-rate-plan-charge",
        content=raw,
        headers={**api.zuora_headers, "Content-Type": "application/json"},
    )
    assert created.status_code == 200, created.text
    got = get(api, f"product-rate-plan-charge/{created.json()['Id']}").json()
    [tier] = got["ProductRatePlanChargeTierData"]["ProductRatePlanChargeTier"]
    assert tier["Price"] == "12345678901.123456789"  # a float cannot carry it: sent as text


def test_objects_in_use_cannot_be_deleted(api: Api, runtime: Runtime) -> None:
    product_id, plan_id, charge_id = create_catalog(api)
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        plan = service.get_rate_plan(ctx, parse_zuora_id(plan_id) or 0)
        subscribe(ctx, plan, plan.charges[0])
    for path, object_id, name in (
        ("product-rate-plan-charge", charge_id, "Product rate plan charge"),
        ("product-rate-plan", plan_id, "Product rate plan"),
        ("product", product_id, "Product"),
    ):
        message = proxy_error(delete(api, f"{path}/{object_id}"), 400, "CANNOT_DELETE")
        # The domain names the object by its integer id; the Zuora dialect writes it as
        # the 32 hex digits its clients know.
        assert message == f"{name} {object_id} is used by a subscription and cannot be deleted."
        assert get(api, f"{path}/{object_id}").status_code == 200


def test_unknown_references_are_named_as_zuora_ids(api: Api) -> None:
    _product_id, plan_id, _ = create_catalog(api)
    unknown = "0" * 30 + "ff"
    message = proxy_error(
        post(api, "product-rate-plan", {"ProductId": unknown, "Name": "X"}), 400, "INVALID_VALUE"
    )
    assert message == f"Invalid value for ProductId: product {unknown} not found."
    message = proxy_error(
        post(api, "product-rate-plan-charge", charge_body(plan_id, ProductRatePlanId=unknown)),
        400,
        "INVALID_VALUE",
    )
    assert message == f"Invalid value for ProductRatePlanId: product rate plan {unknown} not found."
    for path, name in (
        ("product", "Product"),
        ("product-rate-plan", "Product rate plan"),
        ("product-rate-plan-charge", "Product rate plan charge"),
    ):
        message = proxy_error(put(api, f"{path}/{unknown}", {"Name": "x"}), 404, "INVALID_ID")
        assert message == f"{name} {unknown} not found."


def test_deleting_a_product_deletes_its_plans_and_charges(api: Api) -> None:
    product_id, plan_id, charge_id = create_catalog(api)
    assert delete(api, f"product/{product_id}").status_code == 200
    assert get(api, f"product-rate-plan/{plan_id}").status_code == 404
    assert get(api, f"product-rate-plan-charge/{charge_id}").status_code == 404


def test_authentication_and_legacy_versions(api: Api) -> None:
    response = api.client.post("/zuora/v1/object/product", json=product_body())
    assert response.status_code == 401
    assert "message" in response.json()
    legacy = api.client.post(
        "/zuora/v1/object/product",
        json=product_body(Category="Gadgets"),
        headers={**api.zuora_headers, "Zuora-Version": "2023-01-01"},
    )
    assert legacy.status_code == 200
    assert legacy.json()["Success"] is False
