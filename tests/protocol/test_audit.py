"""The audit log: every state-changing call of both dialects and the CLI is recorded (who,
what, object ids, outcome, when, request id and Zuora-Track-Id), reads are not; a tenant's
log is read through the admin API (paged, filtered) and `billcycle audit list`, and events
past the retention are purged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event

from billcycle.audit import service as audit
from billcycle.clock import FrozenClock
from billcycle.db.session import unit_of_work
from billcycle.operators import service as operators
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.fusebill_payments.helpers import customer_with
from tests.protocol.helpers import ACCOUNTS, account_body, cli
from tests.support.api import Api
from tests.support.tenants import other_tenant

__all__ = ["other_tenant"]


@pytest.fixture
def admin(app: FastAPI, runtime: Runtime, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    name = f"audit-{abs(hash(request.node.nodeid)):x}"
    with unit_of_work(runtime.session_factory) as session:
        key = operators.create_operator_key(session, runtime.clock, name).key
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def _events(admin: TestClient, tenant_id: int, **params: Any) -> list[dict[str, Any]]:
    response = admin.get(f"/billcycle/v1/tenants/{tenant_id}/audit", params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_a_flow_is_recorded_call_by_call(
    api: Api, admin: TestClient, runtime: Runtime, database_url: str, other_tenant: NewTenant
) -> None:
    tid = api.tenant.tenant_id
    actor = f"client:{api.tenant.client_id}"
    traced = {**api.zuora_headers, "Zuora-Track-Id": "order-42"}
    made = api.client.post(ACCOUNTS, json=account_body(), headers=traced)
    account_id = made.json()["accountId"]
    assert api.client.get(f"{ACCOUNTS}/{account_id}", headers=api.zuora_headers).status_code == 200
    updated = api.client.put(
        f"{ACCOUNTS}/{account_id}", json={"notes": "vip"}, headers=api.zuora_headers
    )
    assert updated.status_code == 200
    refused = api.client.post(ACCOUNTS, json={"name": "no currency"}, headers=api.zuora_headers)
    assert refused.status_code == 400
    deleted = api.client.delete(f"{ACCOUNTS}/{account_id}", headers=api.zuora_headers)
    assert deleted.status_code == 200
    billed = customer_with(runtime, api, ["100"])
    paid = api.client.post(
        "/fusebill/v1/payments",
        json={
            "customerId": billed.account_id,
            "amount": 10,
            "paymentMethod": "Check",
            "source": "Manual",
            "paymentAllocations": [{"invoiceId": billed.invoice_ids[0], "amount": 10}],
        },
        headers=api.fusebill_headers,
    )
    assert paid.status_code == 200, paid.text
    cli(database_url, "org", "create", "East", "--tenant", str(tid))

    events = _events(admin, tid)
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("org create", "ok"),
        ("POST /fusebill/v1/payments", "200"),
        ("DELETE /zuora/v1/accounts/{account_key}", "200"),
        ("POST /zuora/v1/accounts", "400"),
        ("PUT /zuora/v1/accounts/{account_key}", "200"),
        ("POST /zuora/v1/accounts", "200"),
    ]
    org, payment, delete, bad, put, create = events
    assert org["actor"].startswith("cli:")
    assert payment["actor"].startswith("apikey:bc_")
    assert str(paid.json()["id"]) in payment["object_ids"]
    assert payment["request_id"]
    assert create["actor"] == put["actor"] == delete["actor"] == bad["actor"] == actor
    assert create["object_ids"] == [account_id]
    assert create["request_id"] == made.headers["zuora-request-id"]
    assert create["track_id"] == "order-42"
    assert (create["method"], create["route"]) == ("POST", "/zuora/v1/accounts")
    assert put["object_ids"] == delete["object_ids"] == [account_id]
    assert bad["object_ids"] == []
    # Another tenant's log is its own.
    assert _events(admin, other_tenant.tenant_id) == []

    # Filters and keyset paging.
    assert [e["action"] for e in _events(admin, tid, outcome="400")] == ["POST /zuora/v1/accounts"]
    assert len(_events(admin, tid, action="POST /zuora/")) == 2
    assert len(_events(admin, tid, actor=actor)) == 4
    page = admin.get(f"/billcycle/v1/tenants/{tid}/audit", params={"limit": 4})
    assert len(page.json()["data"]) == 4
    rest = admin.get(page.json()["next"]).json()
    assert [e["id"] for e in page.json()["data"] + rest["data"]] == [e["id"] for e in events]
    assert rest["next"] is None
    assert admin.get("/billcycle/v1/tenants/999999999/audit").status_code == 404

    # The CLI reads the same log.
    listed = cli(database_url, "audit", "list", "--tenant", str(tid), "--json").output
    assert [json.loads(line)["action"] for line in listed.splitlines()] == [
        e["action"] for e in events
    ]


def test_events_are_kept_for_the_retention_period(
    api: Api, runtime: Runtime, machine_clock: FrozenClock
) -> None:
    tid = api.tenant.tenant_id
    # Purging is installation-wide: this test's event is dated decades before any other
    # test's, so that its purges touch nothing else in the shared database.
    machine_clock.advance(-timedelta(days=365 * 30))
    api.client.post(ACCOUNTS, json=account_body(), headers=api.zuora_headers)

    def count() -> int:
        with unit_of_work(runtime.session_factory) as session:
            return len(audit.list_events(session, tid))

    assert count() == 1
    with unit_of_work(runtime.session_factory) as session:
        audit.purge(session, machine_clock.now() + timedelta(days=29), 30)
    assert count() == 1
    with unit_of_work(runtime.session_factory) as session:
        assert audit.purge(session, machine_clock.now() + timedelta(days=31), 30) >= 1
    assert count() == 0


def test_the_purge_command(api: Api, runtime: Runtime, database_url: str) -> None:
    tid = api.tenant.tenant_id
    api.client.post(ACCOUNTS, json=account_body(), headers=api.zuora_headers)
    with unit_of_work(runtime.session_factory) as session:
        audit.record(
            session,
            tid,
            "cli:old",
            "tenant create",
            None,
            None,
            [tid],
            "ok",
            None,
            None,
            occurred_at=datetime(2000, 1, 1, tzinfo=UTC),
        )
    # Only events older than ten years go (other tests' events are from 2026).
    output = cli(database_url, "audit", "purge", "--older-than-days", "3650").output
    assert "audit events older than 3650 days deleted" in output
    with unit_of_work(runtime.session_factory) as session:
        left = audit.list_events(session, tid)
    # What is left: the client's event, and the purge itself (recorded in every tenant).
    assert [(e.actor.split(":")[0], e.action) for e in left] == [
        ("cli", "audit purge"),
        ("client", "POST /zuora/v1/accounts"),
    ]


def test_a_write_and_its_audit_event_commit_together(
    api: Api, admin: TestClient, runtime: Runtime
) -> None:
    """POST /accounts runs its unit of work through web.units: the change and its audit
    event are one transaction, one commit (a failed write still gets its event, alone)."""
    tid = api.tenant.tenant_id
    commits: list[object] = []
    event.listen(runtime.engine, "commit", commits.append)
    made = api.client.post(ACCOUNTS, json=account_body(), headers=api.zuora_headers)
    assert made.status_code == 200, made.text
    assert len(commits) == 1
    # The same with an Idempotency-Key: its record's claim and answer commit on their own;
    # the replay changes nothing, names no caller and is not recorded (as before).
    keyed = {**api.zuora_headers, "Idempotency-Key": "one-commit-1"}
    first = api.client.post(ACCOUNTS, json=account_body("Keyed"), headers=keyed)
    assert first.status_code == 200, first.text
    if runtime.engine.dialect.name == "postgresql":
        # The account, its event and its audit event are one statement in autocommit
        # (accounts.service.create_in_one_statement): its own transaction, no COMMIT.
        assert len(commits) == 1 + 2
    else:
        assert len(commits) == 1 + 3
    replayed = api.client.post(ACCOUNTS, json=account_body("Keyed"), headers=keyed)
    assert replayed.content == first.content
    refused = api.client.post(ACCOUNTS, json={"name": "no currency"}, headers=api.zuora_headers)
    assert refused.status_code == 400
    events = _events(admin, tid)
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("POST /zuora/v1/accounts", "400"),
        ("POST /zuora/v1/accounts", "200"),
        ("POST /zuora/v1/accounts", "200"),
    ]
    bad, keyed_event, plain = events
    assert plain["object_ids"] == [made.json()["accountId"]]
    assert plain["request_id"] == made.headers["zuora-request-id"]
    assert keyed_event["object_ids"] == [first.json()["accountId"]]
    assert keyed_event["request_id"] == first.headers["zuora-request-id"]
    assert bad["object_ids"] == []
