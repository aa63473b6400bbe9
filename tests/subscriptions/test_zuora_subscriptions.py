"""``/zuora/v1/subscriptions`` over HTTP: every endpoint, and bad input answered with a
Zuora envelope that changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from billcycle.db.session import unit_of_work
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from tests.subscriptions.factories import (
    ChargeSpec,
    Setup,
    add_rate_plan,
    create_body,
    flat,
    per_unit,
    setup,
)
from tests.support.api import Api

BASE = "/zuora/v1/subscriptions"


@pytest.fixture
def data(runtime: Runtime, api: Api) -> Setup:
    return setup(runtime, api.tenant.tenant_id, flat("100"), per_unit("7.5"))


def post(api: Api, body: Any) -> httpx.Response:
    response: httpx.Response = api.client.post(BASE, json=body, headers=api.zuora_headers)
    return response


def put(api: Api, path: str, body: Any) -> httpx.Response:
    response: httpx.Response = api.client.put(f"{BASE}{path}", json=body, headers=api.zuora_headers)
    return response


def get(api: Api, path: str, **params: Any) -> httpx.Response:
    response: httpx.Response = api.client.get(
        f"{BASE}{path}", params=params, headers=api.zuora_headers
    )
    return response


def created(api: Api, data: Setup, **overrides: Any) -> dict[str, Any]:
    response = post(api, create_body(data, **overrides))
    assert response.status_code == 200, response.text
    return dict(response.json())


def detail(api: Api, key: str, **params: Any) -> dict[str, Any]:
    response = get(api, f"/{key}", **params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def assert_error(response: httpx.Response, status: int, category: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["reasons"][0]["code"] % 100 == category, body
    return str(body["reasons"][0]["message"])


def subscriptions_of(api: Api, data: Setup) -> list[dict[str, Any]]:
    response = get(api, f"/accounts/{data.account_number}")
    assert response.status_code == 200, response.text
    return list(response.json()["subscriptions"])


def test_create_and_read_back(api: Api, data: Setup) -> None:
    body = created(api, data, notes="first")
    assert body["success"] is True
    assert body["subscriptionNumber"] == "A-S00000001"
    assert len(body["subscriptionId"]) == 32
    assert body["contractedMrr"] == 107.5
    assert body["totalContractedValue"] == 1290.0

    sub = detail(api, body["subscriptionId"])
    assert sub == detail(api, "A-S00000001")
    assert sub["success"] is True
    assert sub["status"] == "Active"
    assert sub["accountNumber"] == data.account_number
    assert (sub["termType"], sub["initialTerm"], sub["initialTermPeriodType"]) == (
        "TERMED",
        12,
        "Month",
    )
    assert (sub["termStartDate"], sub["termEndDate"]) == ("2026-01-01", "2027-01-01")
    assert (sub["contractEffectiveDate"], sub["subscriptionStartDate"]) == (
        "2026-01-01",
        "2026-01-01",
    )
    assert (sub["autoRenew"], sub["renewalTerm"], sub["version"]) == (True, 12, 1)
    assert (sub["notes"], sub["currency"]) == ("first", "USD")
    (rate_plan,) = sub["ratePlans"]
    assert rate_plan["productRatePlanId"] == data.plan.rate_plan_key
    assert (rate_plan["ratePlanName"], rate_plan["productName"]) == ("Gold", "Cloud")
    fee, seats = rate_plan["ratePlanCharges"]
    assert fee["number"] == "C-00000001"
    assert (fee["type"], fee["model"], fee["price"], fee["quantity"]) == (
        "Recurring",
        "FlatFee",
        100.0,
        1.0,
    )
    assert (fee["billingPeriod"], fee["billingTiming"], fee["triggerEvent"]) == (
        "Month",
        "IN_ADVANCE",
        "ContractEffective",
    )
    assert (fee["effectiveStartDate"], fee["effectiveEndDate"]) == ("2026-01-01", "2027-01-01")
    assert (fee["chargedThroughDate"], fee["processedThroughDate"]) == (None, None)
    assert (fee["billingDay"], fee["billCycleDay"], fee["segment"], fee["version"]) == (
        "DefaultFromCustomer",
        1,
        1,
        1,
    )
    assert (fee["mrr"], fee["tcv"]) == (100.0, 1200.0)
    assert fee["productRatePlanChargeId"] == data.plan.charge_key(0)
    assert (seats["model"], seats["price"], seats["quantity"]) == ("PerUnit", 7.5, 1.0)


def test_tiered_charge_and_overrides_on_the_wire(api: Api, runtime: Runtime) -> None:
    from tests.subscriptions.factories import tiered

    data = setup(runtime, api.tenant.tenant_id, tiered(), per_unit("5"))
    body = created(
        api,
        data,
        subscribeToRatePlans=[
            {
                "productRatePlanId": data.plan.rate_plan_key,
                "chargeOverrides": [
                    {
                        "productRatePlanChargeId": data.plan.charge_key(0),
                        "quantity": 20,
                        "tiers": [
                            {"tier": 1, "startingUnit": 0, "endingUnit": 10, "price": 9.5},
                            {
                                "tier": 2,
                                "startingUnit": 11,
                                "price": 1.25,
                                "priceFormat": "FlatFee",
                            },
                        ],
                    },
                    {
                        "productRatePlanChargeId": data.plan.charge_key(1),
                        "price": 0.123456789,
                        "billCycleType": "SpecificDayofMonth",
                        "billCycleDay": "15",
                    },
                ],
            }
        ],
    )
    tiers_charge, unit_charge = detail(api, body["subscriptionId"])["ratePlans"][0][
        "ratePlanCharges"
    ]
    assert tiers_charge["model"] == "Tiered"
    assert tiers_charge["price"] is None
    assert tiers_charge["tiers"] == [
        {
            "tier": 1,
            "startingUnit": 0.0,
            "endingUnit": 10.0,
            "price": 9.5,
            "priceFormat": "PerUnit",
        },
        {
            "tier": 2,
            "startingUnit": 11.0,
            "endingUnit": None,
            "price": 1.25,
            "priceFormat": "FlatFee",
        },
    ]
    assert unit_charge["price"] == 0.123456789
    assert (unit_charge["billingDay"], unit_charge["billCycleDay"]) == (
        "SpecificDayofMonth(15)",
        15,
    )


def test_list_by_account_pages(api: Api, data: Setup) -> None:
    for _ in range(3):
        created(api, data)
    first = get(api, f"/accounts/{data.account_number}", pageSize=2)
    assert first.status_code == 200
    assert [s["subscriptionNumber"] for s in first.json()["subscriptions"]] == [
        "A-S00000001",
        "A-S00000002",
    ]
    assert "page=2" in first.json()["nextPage"]
    second = get(api, f"/accounts/{data.account_number}", pageSize=2, page=2)
    assert [s["subscriptionNumber"] for s in second.json()["subscriptions"]] == ["A-S00000003"]
    assert second.json()["nextPage"] is None
    by_id = get(api, f"/accounts/{data.account_id:032x}")
    assert len(by_id.json()["subscriptions"]) == 3
    assert_error(get(api, "/accounts/A99999999"), 404, 40)


def test_price_update_shows_the_new_segment(api: Api, data: Setup) -> None:
    sub_id = created(api, data)["subscriptionId"]
    rate_plan = detail(api, sub_id)["ratePlans"][0]
    fee = rate_plan["ratePlanCharges"][0]
    response = put(
        api,
        f"/{sub_id}",
        {
            "update": [
                {
                    "ratePlanId": rate_plan["id"],
                    "contractEffectiveDate": "2026-03-15",
                    "chargeUpdateDetails": [{"ratePlanChargeId": fee["id"], "price": 160}],
                }
            ]
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["subscriptionId"] == sub_id
    assert response.json()["totalDeltaMrr"] == 60.0
    sub = detail(api, sub_id)
    assert sub["version"] == 2
    latest = sub["ratePlans"][0]["ratePlanCharges"][0]
    assert (latest["number"], latest["segment"], latest["price"]) == (fee["number"], 2, 160.0)
    assert (latest["effectiveStartDate"], latest["effectiveEndDate"]) == (
        "2026-03-15",
        "2027-01-01",
    )
    assert latest["id"] != fee["id"]
    assert sub["ratePlans"][0]["lastChangeType"] == "Update"

    everything = detail(api, sub_id, **{"charge-detail": "all-segments"})
    segments = everything["ratePlans"][0]["ratePlanCharges"][0]["chargeSegments"]
    assert [(s["segment"], s["price"], s["effectiveEndDate"]) for s in segments] == [
        (1, 100.0, "2026-03-15"),
        (2, 160.0, "2027-01-01"),
    ]
    current = detail(api, sub_id, **{"charge-detail": "current-segment"})  # today 2026-01-10
    assert current["ratePlans"][0]["ratePlanCharges"][0]["segment"] == 1
    specific = detail(
        api, sub_id, **{"charge-detail": "specific-segment", "as-of-date": "2026-04-01"}
    )
    assert specific["ratePlans"][0]["ratePlanCharges"][0]["segment"] == 2
    assert_error(get(api, f"/{sub_id}", **{"charge-detail": "specific-segment"}), 400, 22)
    assert_error(get(api, f"/{sub_id}", **{"charge-detail": "some-segment"}), 400, 20)
    bad_date = {"charge-detail": "specific-segment", "as-of-date": "2026-02-30"}
    assert_error(get(api, f"/{sub_id}", **bad_date), 400, 20)


def test_add_and_remove_rate_plans(api: Api, runtime: Runtime, data: Setup) -> None:
    sub_id = created(api, data)["subscriptionId"]
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        extra = add_rate_plan(ctx.session, ctx.tenant_id, flat("30"), name="Add-on")
    rate_plan_id = detail(api, sub_id)["ratePlans"][0]["id"]
    response = put(
        api,
        f"/{sub_id}",
        {
            "add": [
                {"productRatePlanId": extra.rate_plan_key, "contractEffectiveDate": "2026-05-01"}
            ],
            "remove": [{"ratePlanId": rate_plan_id, "contractEffectiveDate": "2026-05-01"}],
            "notes": "swapped",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["totalDeltaMrr"] == -77.5
    sub = detail(api, sub_id)
    removed, added = sub["ratePlans"]
    assert removed["lastChangeType"] == "Remove"
    assert {c["effectiveEndDate"] for c in removed["ratePlanCharges"]} == {"2026-05-01"}
    assert added["ratePlanCharges"][0]["effectiveStartDate"] == "2026-05-01"
    assert (sub["notes"], sub["contractedMrr"]) == ("swapped", 30.0)


def test_cancel(api: Api, data: Setup) -> None:
    sub_id = created(api, data)["subscriptionId"]
    response = put(
        api,
        f"/{sub_id}/cancel",
        {"cancellationPolicy": "SpecificDate", "cancellationEffectiveDate": "2026-04-01"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["success"], body["subscriptionId"], body["cancelledDate"]) == (
        True,
        sub_id,
        "2026-04-01",
    )
    assert body["totalDeltaMrr"] == -107.5
    sub = detail(api, sub_id)
    assert (sub["status"], sub["subscriptionEndDate"], sub["version"]) == (
        "Cancelled",
        "2026-04-01",
        2,
    )
    assert {c["effectiveEndDate"] for c in sub["ratePlans"][0]["ratePlanCharges"]} == {"2026-04-01"}
    again = put(api, f"/{sub_id}/cancel", {"cancellationPolicy": "EndOfCurrentTerm"})
    assert "Cancelled" in assert_error(again, 400, 30)


@pytest.mark.parametrize(
    ("body", "status", "category"),
    [
        ({"cancellationPolicy": "SpecificDate"}, 400, 22),
        ({"cancellationPolicy": "Tomorrow"}, 400, 20),
        ({}, 400, 22),
        (
            {"cancellationPolicy": "SpecificDate", "cancellationEffectiveDate": "2025-12-31"},
            400,
            20,
        ),
        (
            {"cancellationPolicy": "SpecificDate", "cancellationEffectiveDate": "2027-01-02"},
            400,
            20,
        ),
        ({"cancellationPolicy": "EndOfCurrentTerm", "runBilling": True}, 400, 20),
    ],
)
def test_bad_cancellations_change_nothing(
    api: Api, data: Setup, body: dict[str, Any], status: int, category: int
) -> None:
    sub_id = created(api, data)["subscriptionId"]
    assert_error(put(api, f"/{sub_id}/cancel", body), status, category)
    sub = detail(api, sub_id)
    assert (sub["status"], sub["version"], sub["subscriptionEndDate"]) == (
        "Active",
        1,
        "2027-01-01",
    )


def test_suspend_resume_renew(api: Api, data: Setup) -> None:
    sub_id = created(api, data)["subscriptionId"]
    response = put(api, f"/{sub_id}/suspend", {"suspendPolicy": "Today"})
    assert response.status_code == 200, response.text
    assert response.json()["suspendDate"] == "2026-01-10"
    assert detail(api, sub_id)["status"] == "Suspended"
    assert_error(put(api, f"/{sub_id}/renew", {}), 400, 30)
    response = put(
        api,
        f"/{sub_id}/resume",
        {"resumePolicy": "SpecificDate", "resumeSpecificDate": "2026-01-20", "extendsTerm": True},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["resumeDate"], response.json()["termEndDate"]) == (
        "2026-01-20",
        "2027-01-11",
    )
    sub = detail(api, sub_id)
    fee = sub["ratePlans"][0]["ratePlanCharges"][0]
    assert (sub["status"], fee["segment"], fee["effectiveStartDate"]) == ("Active", 2, "2026-01-20")
    assert_error(put(api, f"/{sub_id}/resume", {"resumePolicy": "Today"}), 400, 30)

    response = api.client.put(f"{BASE}/{sub_id}/renew", headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    assert (response.json()["termStartDate"], response.json()["termEndDate"]) == (
        "2027-01-11",
        "2028-01-11",
    )
    assert detail(api, sub_id)["ratePlans"][0]["ratePlanCharges"][0]["effectiveEndDate"] == (
        "2028-01-11"
    )


def test_suspend_with_fixed_periods_and_a_scheduled_resume(api: Api, data: Setup) -> None:
    sub_id = created(api, data)["subscriptionId"]
    response = put(
        api,
        f"/{sub_id}/suspend",
        {
            "suspendPolicy": "FixedPeriodsFromToday",
            "suspendPeriods": "1",
            "suspendPeriodsType": "Week",
            "resume": True,
            "resumePolicy": "FixedPeriodsFromSuspendDate",
            "resumePeriods": 2,
            "resumePeriodsType": "Month",
        },
    )
    assert response.status_code == 200, response.text
    assert (response.json()["suspendDate"], response.json()["resumeDate"]) == (
        "2026-01-17",
        "2026-03-17",
    )
    bad = {"suspendPolicy": "FixedPeriodsFromToday", "suspendPeriods": 1}
    other = created(api, data)["subscriptionId"]
    assert_error(put(api, f"/{other}/suspend", bad), 400, 22)
    assert_error(put(api, f"/{other}/suspend", {"suspendPolicy": "SpecificDate"}), 400, 22)
    assert_error(put(api, f"/{other}/resume", {"resumePolicy": "Today"}), 400, 30)
    assert detail(api, other)["status"] == "Active"


def _plan(data: Setup, **override: Any) -> list[dict[str, Any]]:
    charge = {"productRatePlanChargeId": data.plan.charge_key(1), **override}
    return [{"productRatePlanId": data.plan.rate_plan_key, "chargeOverrides": [charge]}]


BAD_CREATES: list[tuple[str, dict[str, Any], int, int]] = [
    ("missing date", {"contractEffectiveDate": None}, 400, 22),
    ("impossible date", {"contractEffectiveDate": "2026-02-30"}, 400, 20),
    ("slashed date", {"contractEffectiveDate": "2026/01/01"}, 400, 20),
    ("numeric date", {"contractEffectiveDate": 20260101}, 400, 20),
    ("ancient date", {"contractEffectiveDate": "1800-01-01"}, 400, 20),
    ("term overflow", {"contractEffectiveDate": "9999-06-01"}, 400, 20),
    ("huge term", {"initialTerm": 10**12}, 400, 20),
    ("no initial term", {"initialTerm": None}, 400, 22),
    ("bad term type", {"termType": "FOREVER"}, 400, 20),
    ("bad period type", {"initialTermPeriodType": "Decade"}, 400, 20),
    ("unknown account", {"accountKey": "A99999999"}, 400, 20),
    ("unknown account id", {"accountKey": "f" * 32}, 400, 20),
    ("NUL in account key", {"accountKey": "A\x0001"}, 400, 20),
    (
        "unknown rate plan",
        {"subscribeToRatePlans": [{"productRatePlanId": "0" * 31 + "9"}]},
        400,
        20,
    ),
    ("non-hex rate plan", {"subscribeToRatePlans": [{"productRatePlanId": "gold"}]}, 400, 20),
    ("no rate plans", {"subscribeToRatePlans": []}, 400, 22),
    ("rate plan not a list", {"subscribeToRatePlans": "gold"}, 400, 20),
    ("negative quantity", {"subscribeToRatePlans": "QTY"}, 400, 20),
    ("too many decimals", {"subscribeToRatePlans": "PRICE"}, 400, 20),
    ("price as text", {"subscribeToRatePlans": "TEXT"}, 400, 20),
    ("price as bool", {"subscribeToRatePlans": "BOOL"}, 400, 20),
    ("foreign charge", {"subscribeToRatePlans": "FOREIGN"}, 400, 20),
    ("bad bill cycle day", {"subscribeToRatePlans": "BCD"}, 400, 20),
    ("service activation missing", {"subscribeToRatePlans": "SA"}, 400, 22),
    ("number too long", {"subscriptionNumber": "S" * 101}, 400, 20),
    ("NUL in notes", {"notes": "a\x00b"}, 400, 20),
    ("billing in the call", {"runBilling": True}, 400, 20),
    ("auto renew as text", {"autoRenew": "yes"}, 400, 20),
]

_CHARGE_OVERRIDES: dict[str, dict[str, Any]] = {
    "QTY": {"quantity": -1},
    "PRICE": {"price": 1.0000000001},
    "TEXT": {"price": "10"},
    "BOOL": {"price": True},
    "BCD": {"billCycleType": "SpecificDayofMonth", "billCycleDay": 32},
    "SA": {"triggerEvent": "ServiceActivation"},
}


@pytest.mark.parametrize(("name", "fields", "status", "category"), BAD_CREATES)
def test_bad_creates_change_nothing(
    api: Api,
    runtime: Runtime,
    data: Setup,
    name: str,
    fields: dict[str, Any],
    status: int,
    category: int,
) -> None:
    plans = fields.get("subscribeToRatePlans")
    if isinstance(plans, str) and plans in _CHARGE_OVERRIDES:
        fields = {**fields, "subscribeToRatePlans": _plan(data, **_CHARGE_OVERRIDES[plans])}
    elif plans == "FOREIGN":
        with runtime.service_context(api.tenant.tenant_id) as ctx:
            other = add_rate_plan(ctx.session, ctx.tenant_id, flat("1"))
        charge = {"productRatePlanChargeId": other.charge_key(0), "price": 1}
        fields = {
            "subscribeToRatePlans": [
                {"productRatePlanId": data.plan.rate_plan_key, "chargeOverrides": [charge]}
            ]
        }
    body = {k: v for k, v in create_body(data, **fields).items() if v is not None}
    assert_error(post(api, body), status, category)
    assert subscriptions_of(api, data) == []
    # Nothing was reserved either: the next subscription still gets the first number.
    assert created(api, data)["subscriptionNumber"] == "A-S00000001"


def test_malformed_json_and_duplicate_numbers(api: Api, data: Setup) -> None:
    response = api.client.post(
        BASE,
        content=b'{"accountKey": ',
        headers={**api.zuora_headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400, 90)
    response = api.client.post(
        BASE,
        content=b'{"accountKey": "x", "price": NaN}',
        headers={**api.zuora_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    response = api.client.post(
        f"{BASE}?rejectUnknownFields=true",
        json=create_body(data, colour="blue"),
        headers=api.zuora_headers,
    )
    assert "colour" in assert_error(response, 400, 21)
    created(api, data, subscriptionNumber="SUB-1")
    assert_error(post(api, create_body(data, subscriptionNumber="SUB-1")), 400, 30)
    assert len(subscriptions_of(api, data)) == 1


def test_currency_without_a_catalog_price(api: Api, runtime: Runtime) -> None:
    data = setup(runtime, api.tenant.tenant_id, ChargeSpec(), currency="JPY")
    message = assert_error(post(api, create_body(data)), 400, 20)
    assert "JPY" in message
    assert subscriptions_of(api, data) == []


def test_unknown_and_foreign_subscriptions(api: Api, runtime: Runtime, data: Setup) -> None:
    sub_id = created(api, data)["subscriptionId"]
    assert_error(get(api, "/A-S99999999"), 404, 40)
    assert_error(get(api, "/" + "0" * 32), 404, 40)
    assert_error(get(api, "/A-S%00"), 404, 40)
    assert_error(
        put(api, "/A-S99999999/cancel", {"cancellationPolicy": "EndOfCurrentTerm"}), 404, 40
    )

    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other tenant")
    token = api.client.post(
        "/zuora/oauth/token",
        data={
            "client_id": other.client_id,
            "client_secret": other.client_secret,
            "grant_type": "client_credentials",
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get(f"{BASE}/{sub_id}", headers=headers).status_code == 404
    assert api.client.get(f"{BASE}/A-S00000001", headers=headers).status_code == 404
    response = api.client.put(
        f"{BASE}/{sub_id}/cancel", json={"cancellationPolicy": "EndOfCurrentTerm"}, headers=headers
    )
    assert response.status_code == 404
    response = api.client.post(BASE, json=create_body(data), headers=headers)
    assert_error(response, 400, 20)
    assert detail(api, sub_id)["status"] == "Active"


def _with_ids(value: Any, ids: dict[str, str]) -> Any:
    """The test's placeholders ("RP", "RPC") replaced by the real ids."""
    if isinstance(value, dict):
        return {k: _with_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_ids(v, ids) for v in value]
    return ids.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize(
    ("change", "status", "category"),
    [
        ({"update": [{"ratePlanId": "0" * 32, "contractEffectiveDate": "2026-02-01"}]}, 400, 20),
        ({"update": [{"ratePlanId": "not-hex", "contractEffectiveDate": "2026-02-01"}]}, 400, 20),
        ({"remove": [{"ratePlanId": "RP"}]}, 400, 22),
        ({"remove": [{"ratePlanId": "RP", "contractEffectiveDate": "2028-01-01"}]}, 400, 20),
        ({"update": [{"ratePlanId": "RP", "contractEffectiveDate": "2026-02-01"}]}, 400, 22),
        (
            {
                "update": [
                    {
                        "ratePlanId": "RP",
                        "contractEffectiveDate": "2026-02-01",
                        "chargeUpdateDetails": [{"ratePlanChargeId": "RPC", "quantity": -2}],
                    }
                ]
            },
            400,
            20,
        ),
        (
            {
                "update": [
                    {
                        "ratePlanId": "RP",
                        "contractEffectiveDate": "2026-02-01",
                        "chargeUpdateDetails": [{"ratePlanChargeId": "0" * 32, "price": 1}],
                    }
                ]
            },
            400,
            20,
        ),
        (
            {"add": [{"productRatePlanId": "0" * 32, "contractEffectiveDate": "2026-02-01"}]},
            400,
            20,
        ),
        ({"renewalTerm": -1}, 400, 20),
        ({"termType": "TERMED", "currentTerm": 0}, 400, 20),
        ({"change": [{"ratePlanId": "RP"}]}, 400, 20),
        ({"preview": True}, 400, 20),
    ],
)
def test_bad_updates_change_nothing(
    api: Api, data: Setup, change: dict[str, Any], status: int, category: int
) -> None:
    sub_id = created(api, data)["subscriptionId"]
    before = detail(api, sub_id)
    rate_plan = before["ratePlans"][0]
    ids = {"RP": rate_plan["id"], "RPC": rate_plan["ratePlanCharges"][1]["id"]}
    body = _with_ids(change, ids)
    assert_error(put(api, f"/{sub_id}", body), status, category)
    assert detail(api, sub_id) == before


def test_an_unknown_charge_is_named_as_sent_beside_the_zuora_rate_plan_id(
    api: Api, data: Setup
) -> None:
    """The rate plan id in the message is rendered by the dialect; the client's own text
    (braces included) comes back exactly as sent."""
    sub_id = created(api, data)["subscriptionId"]
    rate_plan_id = detail(api, sub_id)["ratePlans"][0]["id"]
    for charge_key in ("{weird}", "0" * 32):
        update = {
            "ratePlanId": rate_plan_id,
            "contractEffectiveDate": "2026-02-01",
            "chargeUpdateDetails": [{"ratePlanChargeId": charge_key, "price": 1}],
        }
        message = assert_error(put(api, f"/{sub_id}", {"update": [update]}), 400, 20)
        assert message == (
            f"Invalid value for ratePlanChargeId: {charge_key} is not a charge of rate plan "
            f"{rate_plan_id}."
        )


def test_a_suspended_subscription_can_be_cancelled(api: Api, data: Setup) -> None:
    """As Zuora allows: the segments the suspension ended stay ended; then it is done."""
    sub_id = created(api, data)["subscriptionId"]
    assert put(api, f"/{sub_id}/suspend", {"suspendPolicy": "Today"}).status_code == 200
    body = {"cancellationPolicy": "SpecificDate", "cancellationEffectiveDate": "2026-01-20"}
    response = put(api, f"/{sub_id}/cancel", body)
    assert response.status_code == 200, response.text
    sub = detail(api, sub_id)
    fee = sub["ratePlans"][0]["ratePlanCharges"][0]
    assert (sub["status"], sub["subscriptionEndDate"], fee["effectiveEndDate"]) == (
        "Cancelled",
        "2026-01-20",
        "2026-01-10",
    )
    assert_error(put(api, f"/{sub_id}/cancel", body), 400, 30)
