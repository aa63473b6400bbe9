"""Test clocks through the admin API and the services: a sandbox tenant's clock starts at
the real time and moves only forward and only when advanced; two sandboxes are
independent; a production tenant has none and keeps the real time; machine time never
moves with a test clock; the installation's scheduler leaves sandbox tenants alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from billcycle.accounts import service as accounts
from billcycle.clock import FrozenClock
from billcycle.db.session import unit_of_work
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.operators import service as operators
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from billcycle.testclocks import service as clocks
from tests.billruns.helpers import BILL_RUNS, customers
from tests.support.api import api_for
from tests.testclocks.helpers import sandbox

TENANTS = "/billcycle/v1/tenants"


@pytest.fixture
def admin(app: FastAPI, runtime: Runtime, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    name = f"clocks-{abs(hash(request.node.nodeid)):x}"
    with unit_of_work(runtime.session_factory) as session:
        key = operators.create_operator_key(session, runtime.clock, name).key
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def _create(admin: TestClient, name: str, **body: object) -> int:
    response = admin.post(TENANTS, json={"name": name, **body})
    assert response.status_code == 201, response.text
    tenant_id: int = response.json()["id"]
    return tenant_id


def test_a_sandbox_clock_starts_now_and_moves_only_when_advanced(
    admin: TestClient, clock: FrozenClock, machine_clock: FrozenClock
) -> None:
    t = _create(admin, "sandbox-a", sandbox=True)
    assert admin.get(f"{TENANTS}/{t}").json()["sandbox"] is True
    reading = admin.get(f"{TENANTS}/{t}/clock").json()
    assert reading == {
        "tenant_id": t,
        "now": "2026-01-10T09:00:00Z",
        "today": "2026-01-10",
        "time_zone": "UTC",
    }
    clock.advance(timedelta(days=3))  # the real time moves; the sandbox's does not
    assert admin.get(f"{TENANTS}/{t}/clock").json()["now"] == "2026-01-10T09:00:00Z"

    moved = admin.post(f"{TENANTS}/{t}/clock/advance", json={"days": 40, "hours": 2})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["started_at"], body["now"], body["today"]) == (
        "2026-01-10T09:00:00Z",
        "2026-02-19T11:00:00Z",
        "2026-02-19",
    )
    assert body["days"] == 40
    # Dunning is off by default: no day's collections evaluation ran.
    assert body["days_evaluated"] == 0
    moved = admin.post(f"{TENANTS}/{t}/clock/advance", json={"to": "2026-03-01T00:00:00+01:00"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["now"] == "2026-02-28T23:00:00Z"
    assert machine_clock.now() == datetime(2026, 1, 10, 9, tzinfo=UTC)


def test_backwards_bad_durations_and_production_tenants_are_refused(admin: TestClient) -> None:
    t = _create(admin, "sandbox-b", sandbox=True)
    production = _create(admin, "production-b")
    assert admin.get(f"{TENANTS}/{production}").json()["sandbox"] is False
    for tenant, body, status, says in [
        (t, {"to": "2026-01-09T00:00:00Z"}, 422, "only moves forward"),
        (t, {"to": "2026-02-01T00:00:00"}, 422, "timezone"),
        (t, {"to": "2026-02-01T00:00:00Z", "days": 1}, 422, "either"),
        (t, {}, 422, "either"),
        (t, {"days": -1}, 422, "greater than or equal"),
        (t, {"to": "2040-01-01T00:00:00Z"}, 422, "10 years"),
        (production, {"days": 1}, 409, "no test clock"),
    ]:
        response = admin.post(f"{TENANTS}/{tenant}/clock/advance", json=body)
        assert response.status_code == status, (body, response.text)
        assert says in response.text, response.text
    assert admin.get(f"{TENANTS}/{production}/clock").status_code == 409
    assert admin.get(f"{TENANTS}/999999999/clock").status_code == 404
    assert admin.get(f"{TENANTS}/{t}/clock").json()["now"] == "2026-01-10T09:00:00Z"


def test_two_sandboxes_are_independent_and_production_keeps_the_real_time(
    app: FastAPI, admin: TestClient, runtime: Runtime, tenant: NewTenant, clock: FrozenClock
) -> None:
    with TestClient(app) as client:
        first = sandbox(runtime, client, "sandbox-c1")
        second = sandbox(runtime, client, "sandbox-c2")
    a, b = first.tenant.tenant_id, second.tenant.tenant_id
    admin.post(f"{TENANTS}/{a}/clock/advance", json={"months": 2})
    admin.post(f"{TENANTS}/{b}/clock/advance", json={"days": 5})
    clock.advance(timedelta(hours=1))
    with runtime.service_context(a) as ctx:
        assert ctx.clock.now() == datetime(2026, 3, 11, 9, tzinfo=UTC)
    with runtime.service_context(b) as ctx:
        assert ctx.clock.now() == datetime(2026, 1, 15, 9, tzinfo=UTC)
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert ctx.clock.now() == datetime(2026, 1, 10, 10, tzinfo=UTC)
    # What a sandbox's API calls stamp is its own time.
    with TestClient(app) as client:
        api = api_for(client, first.tenant)
        response = client.post(
            "/zuora/v1/accounts",
            json={
                "name": "Stamped",
                "currency": "USD",
                "billCycleDay": 1,
                "billToContact": {"firstName": "A", "lastName": "B", "country": "US"},
            },
            headers=api.zuora_headers,
        )
        assert response.status_code == 200, response.text
        number = response.json()["accountNumber"]
    with runtime.service_context(a) as ctx:
        stamped = accounts.find_account(ctx, account_id=None, number=number)
        assert stamped.created_at == datetime(2026, 3, 11, 9, tzinfo=UTC)


def test_the_installation_scheduler_leaves_sandbox_runs_to_their_clock(
    app: FastAPI, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    with TestClient(app) as client:
        api = sandbox(runtime, client, "sandbox-d")
        customers(api, runtime, 1)
        response = api.client.post(
            BILL_RUNS,
            json={
                "batches": ["AllBatches"],
                "billCycleDay": "AllBillCycleDays",
                "targetDateOffset": 0,
                "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Monthly", "runTime": 6},
            },
            headers=api.zuora_headers,
        )
        assert response.status_code == 200, response.text
        run_id = response.json()["id"]
        clock.set(datetime(2026, 2, 1, 7, tzinfo=UTC))  # real time is past the run's hour
        jobs.dispatch(TaskCall("tick"))
        jobs.run_until_idle()
        assert (
            client.get(f"{BILL_RUNS}/{run_id}", headers=api.zuora_headers).json()["status"]
            == "Pending"
        )
        done = clocks.advance_to(runtime, api.tenant.tenant_id, datetime(2026, 2, 1, 7, tzinfo=UTC))
        assert done.bill_runs == 1
        run = client.get(f"{BILL_RUNS}/{run_id}", headers=api.zuora_headers).json()
    assert (run["status"], run["invoicesCreated"]) == ("Completed", 1)
