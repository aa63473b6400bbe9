"""Managing webhook endpoints from the console: the add form (secret shown once, the
service's refusals on their fields, nothing created), disable and enable, a test event,
delivering a failed delivery again, removing; each recorded in the audit log; viewers,
CSRF and another tenant's endpoint refused."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from billcycle.audit import service as audit
from billcycle.clock import FrozenClock
from billcycle.db.session import unit_of_work
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from billcycle.users.roles import Role
from billcycle.webhooks import service as webhooks
from tests.console.helpers import add_user, sign_in

# A closed port on the loopback: every delivery to it fails at once.
DEAD_URL = "http://127.0.0.1:9/hook"


def _endpoints(runtime: Runtime, tenant_id: int) -> list[webhooks.WebhookEndpoint]:
    with runtime.service_context(tenant_id) as ctx:
        return webhooks.list_endpoints(ctx)


def _deliveries(runtime: Runtime, tenant_id: int, endpoint_id: int) -> list[tuple[str, str]]:
    """(status, event type) of the endpoint's deliveries, newest first."""
    with runtime.service_context(tenant_id) as ctx:
        return [(d.status, t) for d, _, t in webhooks.deliveries(ctx, endpoint_id)]


def _console_actions(runtime: Runtime, tenant_id: int) -> list[tuple[str, str, str]]:
    with runtime.service_context(tenant_id) as ctx:
        return [
            (e.action, e.outcome, ",".join(str(o) for o in e.object_ids or []))
            for e in audit.list_events(ctx.session, tenant_id, limit=200)
            if e.action.startswith("console.")
        ]


def _allow_private(runtime: Runtime, tenant_id: int) -> None:
    with runtime.service_context(tenant_id) as ctx:
        webhooks.set_allow_private(ctx, True)


def test_an_operator_adds_an_endpoint_and_sees_its_secret_once(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    operator = add_user(runtime, tenant.tenant_id, "hooks@example.com", Role.OPERATOR)
    with TestClient(app) as client:
        csrf = sign_in(client, operator)
        assert 'id="new-webhook"' in client.get("/webhooks").text
        form = client.get("/webhooks/new")
        assert form.status_code == 200
        assert 'value="invoice.posted"' in form.text
        # The service's refusals, each on its field; nothing is created.
        good = {"csrf_token": csrf, "url": DEAD_URL, "event_types": ["invoice.posted"]}
        for bad, field, words in (
            ({"url": "ftp://example.com/hook"}, "url", "Only http and https"),
            ({"url": DEAD_URL}, "url", "private address"),
            ({"event_types": ["invoice.posted", "no.such"]}, "event_types", "no.such"),
            ({"event_types": []}, "event_types", "At least one event type"),
            ({"secret": "whsec_" + base64.b64encode(b"x" * 10).decode()}, "secret", "24"),
            ({"description": "d" * 256}, "description", "255"),
        ):
            refused = client.post("/webhooks/new", data={**good, **bad})
            assert refused.status_code == 400, (bad, refused.text)
            assert f'id="error-{field}"' in refused.text, bad
            assert words in refused.text.split(f'id="error-{field}">')[1].split("</div>")[0]
        assert _endpoints(runtime, tenant.tenant_id) == []
        # Private addresses allowed: the generated secret is shown on the answer, once.
        _allow_private(runtime, tenant.tenant_id)
        added = client.post(
            "/webhooks/new",
            data={
                **good,
                "event_types": ["invoice.posted", "payment.failed"],
                "description": "ERP",
            },
        )
        assert added.status_code == 200, added.text
        [endpoint] = _endpoints(runtime, tenant.tenant_id)
        assert endpoint.url == DEAD_URL
        assert endpoint.event_types == ["invoice.posted", "payment.failed"]
        assert endpoint.description == "ERP"
        shown = re.search(r'id="webhook-secret">([^<]+)<', added.text)
        assert shown is not None
        assert shown.group(1) == endpoint.secret
        again = client.get(f"/webhooks/{endpoint.id}").text
        assert endpoint.secret not in again + client.get("/webhooks").text
        # A secret typed in is kept as given.
        mine = "whsec_" + base64.b64encode(b"k" * 32).decode()
        client.post("/webhooks/new", data={**good, "secret": mine, "event_types": ["*"]})
        second = _endpoints(runtime, tenant.tenant_id)[-1]
        assert second.secret == mine
        assert second.event_types == ["*"]
    actions = _console_actions(runtime, tenant.tenant_id)
    assert ("console.add_webhook", "ok", f"webhook_endpoint:{endpoint.id}") in actions
    assert ("console.add_webhook", "refused", f"tenant:{tenant.tenant_id}") in actions


def test_disable_enable_test_event_redeliver_and_remove(
    app: FastAPI,
    runtime: Runtime,
    tenant: NewTenant,
    jobs: ManualDispatcher,
    machine_clock: FrozenClock,
) -> None:
    _allow_private(runtime, tenant.tenant_id)
    with runtime.service_context(tenant.tenant_id) as ctx:
        endpoint_id = webhooks.add_endpoint(
            ctx, webhooks.NewEndpoint(url=DEAD_URL, event_types=["invoice.posted"])
        ).id
    operator = add_user(runtime, tenant.tenant_id, "ops@example.com", Role.OPERATOR)
    url = f"/webhooks/{endpoint_id}"
    with TestClient(app) as client:
        csrf = sign_in(client, operator)
        page = client.get(url).text
        assert 'id="disable-webhook"' in page
        assert 'id="enable-webhook"' not in page
        done = client.post(f"{url}/disable", data={"csrf_token": csrf}, follow_redirects=False)
        assert done.status_code == 303
        assert done.headers["location"] == url
        assert _endpoints(runtime, tenant.tenant_id)[0].enabled is False
        page = client.get(url).text
        assert "is disabled" in page
        assert 'id="enable-webhook"' in page
        client.post(f"{url}/enable", data={"csrf_token": csrf})
        assert _endpoints(runtime, tenant.tenant_id)[0].enabled is True
        # A test event is queued for this endpoint alone.
        client.post(f"{url}/test", data={"csrf_token": csrf})
        assert _deliveries(runtime, tenant.tenant_id, endpoint_id) == [("pending", "webhook.test")]
        # Past its retry window, the attempt to the dead port fails for good.
        machine_clock.advance(timedelta(days=4))
        jobs.dispatch(TaskCall("tick"))
        jobs.run_until_idle()
        assert _deliveries(runtime, tenant.tenant_id, endpoint_id) == [("failed", "webhook.test")]
        page = client.get(url).text
        button = re.search(r'action="(/webhooks/\d+/events/(evt_\w+)/redeliver)"', page)
        assert button is not None
        client.post(button.group(1), data={"csrf_token": csrf})
        assert _deliveries(runtime, tenant.tenant_id, endpoint_id) == [
            ("pending", "webhook.test"),
            ("failed", "webhook.test"),
        ]
        missing = client.post(f"{url}/events/evt_{'0' * 26}/redeliver", data={"csrf_token": csrf})
        assert missing.status_code == 404
        gone = client.post(f"{url}/remove", data={"csrf_token": csrf}, follow_redirects=False)
        assert gone.headers["location"] == "/webhooks"
        assert _endpoints(runtime, tenant.tenant_id) == []
        assert client.get(url).status_code == 404
        assert client.post(f"{url}/remove", data={"csrf_token": csrf}).status_code == 404
    actions = {(a, o) for a, o, obj in _console_actions(runtime, tenant.tenant_id)}
    for name in ("disable", "enable", "test", "redeliver", "remove"):
        assert (f"console.{name}_webhook", "ok") in actions


def test_viewers_csrf_and_other_tenants_are_refused(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    _allow_private(runtime, tenant.tenant_id)
    with runtime.service_context(tenant.tenant_id) as ctx:
        endpoint_id = webhooks.add_endpoint(
            ctx, webhooks.NewEndpoint(url=DEAD_URL, event_types=["*"])
        ).id
    viewer = add_user(runtime, tenant.tenant_id, "look@example.com", Role.VIEWER)
    operator = add_user(runtime, tenant.tenant_id, "act@example.com", Role.OPERATOR)
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other hooks tenant")
    _allow_private(runtime, other.tenant_id)
    intruder = add_user(runtime, other.tenant_id, "intruder@example.com", Role.ADMIN)
    url = f"/webhooks/{endpoint_id}"
    actions = ("disable", "test", "remove")
    with TestClient(app) as client:
        csrf = sign_in(client, viewer)
        assert 'id="new-webhook"' not in client.get("/webhooks").text
        assert 'method="post"' not in client.get(url).text.split("<main>")[1]
        for action in actions:
            assert client.post(f"{url}/{action}", data={"csrf_token": csrf}).status_code == 403
        add = {"csrf_token": csrf, "url": DEAD_URL, "event_types": ["*"]}
        assert client.post("/webhooks/new", data=add).status_code == 403
    with TestClient(app) as client:
        sign_in(client, operator)
        for data in ({}, {"csrf_token": "forged"}):
            for action in actions:
                refused = client.post(f"{url}/{action}", data=data)
                assert refused.status_code == 403
                assert "expired" in refused.text
            add = {**data, "url": DEAD_URL, "event_types": ["*"]}
            assert client.post("/webhooks/new", data=add).status_code == 403
    with TestClient(app) as client:
        csrf = sign_in(client, intruder)
        assert client.get(url).status_code == 404
        for action in actions:
            assert client.post(f"{url}/{action}", data={"csrf_token": csrf}).status_code == 404
        # The intruder's endpoint is its own tenant's, and lists there only.
        add = {"csrf_token": csrf, "url": DEAD_URL, "event_types": ["*"]}
        assert client.post("/webhooks/new", data=add).status_code == 200
        assert f'href="{url}"' not in client.get("/webhooks").text
    [kept] = _endpoints(runtime, tenant.tenant_id)
    assert kept.id == endpoint_id
    assert kept.enabled
    assert _deliveries(runtime, tenant.tenant_id, endpoint_id) == []
    assert len(_endpoints(runtime, other.tenant_id)) == 1
    assert [a for a in _console_actions(runtime, tenant.tenant_id) if "webhook" in a[0]] == []
