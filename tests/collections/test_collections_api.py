"""The policy and an account's collections through billcycle's admin API (problem+json,
keyset paging), and the Fusebill customer's ``accountStatus`` / ``status`` driven by
dunning. Both databases."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.admin.probes import assert_problem
from tests.collections.helpers import dunning_customer, move_to, pay_invoice
from tests.support.api import Api

BASE = "/billcycle/v1/tenants"


def test_policy_read_and_change(admin: TestClient, tenant: NewTenant) -> None:
    url = f"{BASE}/{tenant.tenant_id}/collections/policy"
    body = admin.get(url).json()
    assert body == {
        "dunning_enabled": False,
        "retry_enabled": True,
        "max_consecutive_failures": 4,
        "min_hours_between_attempts": 12,
        "attempt_days": [1, 3, 5],
        "grace_days": 7,
        "auto_cancel_after_days": None,
        "auto_write_off": False,
    }
    changed = admin.put(url, json={"attempt_days": [10, 2], "auto_cancel_after_days": 30})
    assert changed.status_code == 200, changed.text
    assert changed.json()["attempt_days"] == [2, 10]
    assert admin.get(url).json()["auto_cancel_after_days"] == 30
    # Bad input: a problem, and nothing changes.
    for bad in (
        {"max_consecutive_failures": 101},
        {"attempt_days": []},
        {"grace_days": None},
        {"nope": 1},
    ):
        assert_problem(admin.put(url, json=bad), 422)
    assert_problem(
        admin.put(url, json={"auto_cancel_after_days": None, "auto_write_off": True}), 409
    )
    assert admin.get(url).json()["attempt_days"] == [2, 10]
    assert_problem(admin.get(f"{BASE}/987654321/collections/policy"), 404)


def test_account_collections_events_and_the_fusebill_customer(
    api: Api,
    admin: TestClient,
    runtime: Runtime,
    jobs: ManualDispatcher,
    clock: FrozenClock,
) -> None:
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)
    url = f"{BASE}/{t}/accounts/{customer.account_id}/collections"
    fusebill = f"/fusebill/v1/customers/{customer.account_id}"

    def fusebill_status() -> tuple[str, str, str]:
        body = api.client.get(fusebill, headers=api.fusebill_headers).json()
        return body["accountStatus"], body["customerAccountStatus"], body["status"]

    assert fusebill_status() == ("Good", "Good", "Active")
    move_to(clock, jobs, customer.due_date + timedelta(days=1))
    assert fusebill_status() == ("PoorStanding", "PoorStanding", "Active")
    move_to(clock, jobs, customer.due_date + timedelta(days=8))
    assert fusebill_status() == ("PoorStanding", "PoorStanding", "Suspended")
    body = admin.get(url).json()
    assert body["account_status"] == "PoorStanding"
    assert body["suspended"] is True
    assert body["suspended_on"] == (customer.due_date + timedelta(days=8)).isoformat()
    assert body["poor_standing_since"] == (customer.due_date + timedelta(days=1)).isoformat()

    # The manual collections flag, then back.
    flagged = admin.put(url, json={"in_collection": True, "grace_days": 3})
    assert flagged.status_code == 200, flagged.text
    assert (flagged.json()["account_status"], flagged.json()["grace_days_override"]) == (
        "Collection",
        3,
    )
    assert fusebill_status()[0] == "Collection"
    assert admin.put(url, json={"in_collection": False}).json()["account_status"] == (
        "PoorStanding"
    )
    assert_problem(admin.put(url, json={"attempt_days": [0, 0]}), 422)

    # Events, keyset-paged oldest first.
    first = admin.get(f"{url}/events", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [e["type"] for e in page["data"]] == ["StandingChanged", "Attempt"]
    assert page["data"][0]["from_value"] == "Good"
    assert first.headers["Link"].endswith('rel="next"')
    rest = admin.get(page["next"]).json()
    # Day 8 also catches up day 5's attempt (days 2 to 7 had no tick).
    assert [e["type"] for e in rest["data"]] == ["Suspended", "Attempt"]
    assert rest["next"] is None

    pay_invoice(runtime, t, customer, "30")
    move_to(clock, jobs, customer.due_date + timedelta(days=9))
    assert fusebill_status() == ("Good", "Good", "Active")
    assert admin.get(url).json()["suspended"] is False

    # Another tenant's account, an unknown one: 404 problems.
    assert_problem(admin.get(f"{BASE}/{t}/accounts/987654321/collections"), 404)
    assert_problem(admin.get(f"{BASE}/{t}/accounts/987654321/collections/events"), 404)


def test_another_tenants_account_is_not_found(
    api: Api, admin: TestClient, runtime: Runtime, jobs: ManualDispatcher, other_tenant: NewTenant
) -> None:
    customer = dunning_customer(api, runtime, jobs)
    other = f"{BASE}/{other_tenant.tenant_id}/accounts/{customer.account_id}/collections"
    assert_problem(admin.get(other), 404)
    assert_problem(admin.put(other, json={"dunning_exempt": True}), 404)
