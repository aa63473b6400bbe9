"""The bill-run wire seen end to end: the errors the domain raises, worded as Zuora
words them, keys by id or number, updates merged onto the stored run, and the echo of
every request field."""

from __future__ import annotations

from typing import Any

from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.billruns.helpers import BILL_RUNS, create_run, customers, error_of
from tests.support.api import Api

SCHEDULE = {"repeatFrom": "2026-02-01", "repeatType": "Monthly", "runTime": 6}


def post(api: Api, body: dict[str, Any]) -> Any:
    return api.client.post(BILL_RUNS, json=body, headers=api.zuora_headers)


def put(api: Api, key: str, body: dict[str, Any]) -> Any:
    return api.client.put(f"{BILL_RUNS}/{key}", json=body, headers=api.zuora_headers)


def reason(response: Any, status: int) -> tuple[int, str]:
    message = error_of(response, status)
    code: int = response.json()["reasons"][0]["code"]
    return code, message


def test_filter_errors_name_ids_in_zuora_hex(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    (account, _), (other, _) = customers(api, runtime, 2)
    missing = f"{10**9:032x}"
    response = post(
        api,
        {
            "billRunFilters": [{"filterType": "Account", "accountId": missing}],
            "targetDate": "2026-02-01",
        },
    )
    assert reason(response, 400) == (
        53100320,
        f"billRunFilters: account {missing} does not exist.",
    )
    subscription = f"{10**9 + 1:032x}"
    response = post(
        api,
        {
            "billRunFilters": [
                {
                    "filterType": "Subscription",
                    "accountId": f"{account:032x}",
                    "subscriptionId": subscription,
                }
            ],
            "targetDate": "2026-02-01",
        },
    )
    assert reason(response, 400) == (
        53100320,
        f"billRunFilters: subscription {subscription} does not belong to account {account:032x}.",
    )
    twice = {
        "filterType": "Subscription",
        "accountId": f"{other:032x}",
        "subscriptionId": f"{255:032x}",
    }
    response = post(api, {"billRunFilters": [twice, twice], "targetDate": "2026-02-01"})
    assert reason(response, 400) == (
        53100320,
        f"Subscription {255:032x} is listed more than once.",
    )
    assert api.client.get(BILL_RUNS, headers=api.zuora_headers).json()["billRuns"] == []


def test_business_rules_in_zuora_words(api: Api, clock: FrozenClock) -> None:
    past = post(
        api, {"batches": ["AllBatches"], "schedule": {**SCHEDULE, "repeatFrom": "2026-01-09"}}
    )
    assert reason(past, 400) == (
        53100320,
        "schedule.repeatFrom 2026-01-09 is in the past (today is 2026-01-10).",
    )
    far = post(api, {"batches": ["AllBatches"], "targetDate": "2036-01-11"})
    assert reason(far, 400) == (
        53100320,
        "targetDate 2036-01-11 is more than 10 years ahead (after 2036-01-10).",
    )
    month_end = post(
        api,
        {
            "batches": ["AllBatches"],
            "schedule": {**SCHEDULE, "repeatFrom": "2026-04-29", "monthlyOnEndOfMonth": True},
        },
    )
    assert error_of(month_end, 400) == (
        "schedule.monthlyOnEndOfMonth needs schedule.repeatFrom to be the last day of a month"
        " (2026-04-29 is not)."
    )
    gone = post(
        api,
        {
            "batches": ["AllBatches"],
            "schedule": {"repeatFrom": "2026-01-10", "repeatType": "None", "runTime": 8},
        },
    )
    assert error_of(gone, 400) == (
        "The schedule has no occurrence left: check repeatFrom, repeatTo and runTime."
    )
    run = post(api, {"batches": ["AllBatches"], "schedule": {**SCHEDULE, "repeatType": "None"}})
    assert run.status_code == 200, run.text
    run_id = run.json()["id"]
    update = put(api, run_id, {"schedule": {"repeatFrom": "2026-01-10", "runTime": 8}})
    assert error_of(update, 400) == "The schedule has no occurrence left."


def test_keys_by_id_or_number(api: Api, runtime: Runtime) -> None:
    customers(api, runtime, 1)
    run = create_run(api)
    for key in (run["id"], run["id"].upper(), run["billRunNumber"]):
        found = api.client.get(f"{BILL_RUNS}/{key}", headers=api.zuora_headers)
        assert found.status_code == 200, found.text
        assert found.json()["id"] == run["id"]
    absent = f"{10**12:032x}"  # an id no run of the shared test database reaches
    missing = f"{BILL_RUNS}/{absent}"
    assert error_of(api.client.get(missing, headers=api.zuora_headers), 404) == (
        f"Bill run {absent} not found."
    )
    assert error_of(put(api, absent, {"name": "x"}), 404) == (f"Bill run {absent} not found.")
    assert error_of(api.client.get(f"{BILL_RUNS}/BR-00000099", headers=api.zuora_headers), 404) == (
        "Bill run BR-00000099 not found."
    )


def test_update_merges_onto_the_stored_run_and_echoes_zuora_shapes(
    api: Api, runtime: Runtime
) -> None:
    (account, _), *_ = customers(api, runtime, 1)
    created = post(
        api,
        {
            "name": "monthly",
            "batches": ["Batch7", "Batch2"],
            "billCycleDay": 5,
            "chargeTypeToExclude": ["Usage", "OneTime"],
            "organizationLabels": [{"organizationName": "EU", "excluded": True}],
            "schedule": {**SCHEDULE, "repeatType": "Weekly", "weeklyOnDay": ["Fri", "Mon"]},
            "targetDateOffset": -1,
        },
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert {k: body[k] for k in ("batches", "billCycleDay", "billRunFilters")} == {
        "batches": ["Batch2", "Batch7"],
        "billCycleDay": "5",
        "billRunFilters": None,
    }
    assert body["chargeTypeToExclude"] == ["OneTime", "Usage"]
    assert body["organizationLabels"] == [{"organizationName": "EU", "excluded": True}]
    assert body["schedule"] == {
        "repeatFrom": "2026-02-01",
        "repeatType": "Weekly",
        "runTime": 6,
        "weeklyOnDay": ["Mon", "Fri"],
    }
    assert (body["invoiceDateOffset"], body["targetDateOffset"]) == (0, -1)
    assert body["scheduledExecutionTime"] == "2026-02-02 06:00:00"

    renamed = put(api, body["id"], {"name": "renamed", "schedule": {"runTime": 9}})
    assert renamed.status_code == 200, renamed.text
    after = renamed.json()
    assert after["name"] == "renamed"
    assert after["batches"] == ["Batch2", "Batch7"]
    assert after["schedule"]["runTime"] == 9
    assert after["schedule"]["weeklyOnDay"] == ["Mon", "Fri"]
    assert after["targetDateOffset"] == -1

    filtered = put(
        api,
        body["billRunNumber"],
        {"billRunFilters": [{"filterType": "Account", "accountId": f"{account:032x}"}]},
    )
    assert filtered.status_code == 200, filtered.text
    assert {k: filtered.json()[k] for k in ("batches", "billCycleDay", "billRunFilters")} == {
        "batches": None,
        "billCycleDay": None,
        "billRunFilters": [{"filterType": "Account", "accountId": f"{account:032x}"}],
    }
    refused = put(api, body["id"], {"billCycleDay": "3"})
    assert error_of(refused, 400) == "billCycleDay is only valid together with batches."
    fetched = api.client.get(f"{BILL_RUNS}/{body['id']}", headers=api.zuora_headers).json()
    assert {k: v for k, v in fetched.items() if k not in ("totalAmounts", "accountFailures")} == {
        **filtered.json()
    }


def test_booleans_and_integers_must_be_json_booleans_and_integers(api: Api) -> None:
    """The SDK's strict types send JSON booleans and integers; a string such as "yes" or
    "3" is refused with the field named, and no run is created (it used to be coerced:
    "autoPost": "yes" created an auto-posting run)."""
    bodies: list[tuple[dict[str, Any], str]] = [
        ({"batches": ["AllBatches"], "targetDate": "2026-02-01", "autoPost": "yes"}, "autoPost"),
        ({"batches": ["AllBatches"], "targetDate": "2026-02-01", "autoEmail": 1}, "autoEmail"),
        (
            {"batches": ["AllBatches"], "schedule": {**SCHEDULE, "runTime": "6"}},
            "schedule.runTime",
        ),
        (
            {
                "batches": ["AllBatches"],
                "schedule": SCHEDULE,
                "invoiceDateOffset": "2",
            },
            "invoiceDateOffset",
        ),
    ]
    for body, field in bodies:
        _code, message = reason(post(api, body), 400)
        assert field in message, message
    listed = api.client.get(BILL_RUNS, headers=api.zuora_headers).json()
    assert listed["billRuns"] == []
    run = create_run(api)
    refused = api.client.put(
        f"{BILL_RUNS}/{run['id']}/cancel", json={"cancelOnce": "false"}, headers=api.zuora_headers
    )
    assert "cancelOnce" in error_of(refused, 400)
