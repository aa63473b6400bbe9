"""The events outbox: written in the transaction of the change, one event per bill-run
status change (per invoice only for a subscribing tenant), listed by the admin API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from billcycle.events import service as events
from billcycle.events.statuses import EventType, ObjectType
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.webhooks import service as webhooks
from tests.accounts.factories import new_account
from tests.billruns.helpers import create_run, customers, get_run
from tests.events.helpers import all_events as _events
from tests.support.api import Api


def test_a_bill_run_writes_one_event_per_status_change_not_per_invoice(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, admin: TestClient
) -> None:
    tenant_id = api.tenant.tenant_id
    customers(api, runtime, 10)
    run = create_run(api, name="January", autoPost=True)
    jobs.run_until_idle()
    assert get_run(api, run["id"])["status"] == "Posted"
    run_id = int(run["id"], 16)

    changes = _events(admin, tenant_id, type="bill_run.status_changed")
    assert [(e["data"]["previous_status"], e["data"]["status"]) for e in changes] == [
        (None, "Pending"),
        ("Pending", "Processing"),
        ("Processing", "Completed"),
        ("Completed", "PostInProgress"),
        ("PostInProgress", "Posted"),
    ]
    assert {e["object_type"] for e in changes} == {"bill_run"}
    assert {e["object_id"] for e in changes} == {run_id}
    last = changes[-1]
    assert last["id"].startswith("evt_")
    assert len(last["id"]) == 30
    assert last["data"]["object"]["bill_run_number"] == run["billRunNumber"]
    assert last["data"]["object"]["invoices_created"] == 10
    assert last["occurred_at"] == "2026-01-10T09:00:00Z"  # the tenant's business clock
    # Nobody subscribes to per-invoice events: none were written by the run.
    assert _events(admin, tenant_id, type="invoice.posted") == []
    # The object filter: one bill run's events, and only it.
    assert _events(admin, tenant_id, object=f"bill_run:{run_id}") == changes
    # Subscriptions and accounts were created through their services: their events too.
    assert len(_events(admin, tenant_id, type="subscription.created")) == 10


def test_a_subscribing_tenant_gets_invoice_posted_per_invoice_set_based(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, admin: TestClient
) -> None:
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        webhooks.set_allow_private(ctx, True)
        webhooks.add_endpoint(
            ctx, webhooks.NewEndpoint(url="http://127.0.0.1:9/x", event_types=["invoice.posted"])
        )
    customers(api, runtime, 9)
    run = create_run(api, name="January", autoPost=True)
    jobs.run_until_idle()
    posted = _events(admin, tenant_id, type="invoice.posted")
    assert len(posted) == 9
    assert {e["data"]["object"]["status"] for e in posted} == {"Posted"}
    assert {e["data"]["object"]["bill_run_id"] for e in posted} == {int(run["id"], 16)}
    first = posted[0]["data"]["object"]
    assert first["amount_minor"] == 6000
    assert first["amount"] == "60.00"
    assert first["invoice_number"].startswith("INV")
    assert len({e["id"] for e in posted}) == 9


def test_an_event_exists_exactly_when_its_change_commits(
    runtime: Runtime, api: Api, admin: TestClient
) -> None:
    tenant_id = api.tenant.tenant_id

    def change_then_fail() -> None:
        with runtime.service_context(tenant_id) as ctx:
            new_account(ctx, name="Rolled back")
            raise RuntimeError("the unit of work fails after the change")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert _events(admin, tenant_id, type="account.created") == []
    with runtime.service_context(tenant_id) as ctx:
        account = new_account(ctx, name="Kept")
    created = _events(admin, tenant_id, type="account.created")
    assert [e["object_id"] for e in created] == [account.id]
    assert created[0]["data"]["object"]["name"] == "Kept"
    assert "tenant_id" not in created[0]["data"]["object"]


def test_listing_filters_pages_and_refuses_bad_filters(
    runtime: Runtime, api: Api, admin: TestClient, other_tenant: Any
) -> None:
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        for i in range(5):
            new_account(ctx, name=f"Customer {i}")
    with runtime.service_context(other_tenant.tenant_id) as ctx:
        new_account(ctx, name="Someone else's")
    base = f"/billcycle/v1/tenants/{tenant_id}/events"
    page = admin.get(base, params={"limit": 2, "type": "account.created"})
    assert page.status_code == 200
    assert len(page.json()["data"]) == 2
    assert page.headers["link"].startswith("<")
    everything = _events(admin, tenant_id, type="account.created")
    assert [e["data"]["object"]["name"] for e in everything] == [f"Customer {i}" for i in range(5)]
    assert _events(admin, tenant_id, since="2026-01-10T09:00:01Z") == []
    assert len(_events(admin, tenant_id, since="2026-01-10T09:00:00Z")) == 5
    assert len(_events(admin, tenant_id, object="account")) == 5
    for params, parameter in (
        ({"type": "invoice.exploded"}, "type"),
        ({"object": "spaceship"}, "object"),
        ({"object": "account:x"}, "object"),
        ({"since": "yesterday"}, "since"),
        ({"after": "not-a-cursor"}, "after"),
    ):
        response = admin.get(base, params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["parameter"] == parameter
    assert admin.get("/billcycle/v1/tenants/999999/events").status_code == 404


def test_every_event_type_has_an_object_type() -> None:
    for event_type in EventType:
        assert isinstance(events.object_type_of(event_type), ObjectType)


def test_event_ids_are_unique_and_sortable() -> None:
    ids = [events.new_event_id(1_700_000_000_000) for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert ids == sorted(ids)
