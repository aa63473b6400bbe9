"""The test clock page: a sandbox tenant's business time, advanced by days or to a date
through the testclocks service, recorded in the audit log; refused for a production
tenant; no button for a viewer; CSRF like every form."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from billcycle.audit import service as audit
from billcycle.db.session import unit_of_work
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from billcycle.testclocks import service as clocks
from billcycle.users.roles import Role
from tests.console.helpers import add_user, sign_in


def _sandbox(runtime: Runtime) -> int:
    with unit_of_work(runtime.session_factory) as session:
        return create_tenant(session, runtime.clock, "sandbox", sandbox=True).tenant_id


def _clock(runtime: Runtime, tenant_id: int) -> clocks.ClockReading:
    with runtime.service_context(tenant_id) as ctx:
        return clocks.read_clock(ctx)


def test_an_operator_advances_a_sandbox_clock_by_days_and_to_a_date(
    app: FastAPI, runtime: Runtime
) -> None:
    tenant_id = _sandbox(runtime)
    start = _clock(runtime, tenant_id)
    person = add_user(runtime, tenant_id, "clock@example.com", Role.OPERATOR)
    with TestClient(app) as client:
        csrf = sign_in(client, person)
        page = client.get("/clock").text
        assert 'id="advance-clock"' in page
        assert start.today.isoformat() in page.split('id="clock-today">')[1][:40] or (
            str(start.today.day) in page.split('id="clock-today">')[1][:40]
        )
        moved = client.post(
            "/clock/advance", data={"csrf_token": csrf, "days": "3"}, follow_redirects=False
        )
        assert moved.status_code == 303, moved.text
        assert _clock(runtime, tenant_id).now == start.now + timedelta(days=3)
        assert "The clock moved" in client.get("/clock").text
        target = start.today + timedelta(days=40)
        moved = client.post(
            "/clock/advance",
            data={"csrf_token": csrf, "to": target.isoformat()},
            follow_redirects=False,
        )
        assert moved.status_code == 303, moved.text
        assert _clock(runtime, tenant_id).today == target
        for bad, field in (
            ({"days": "0"}, "days"),
            ({"days": "x"}, "days"),
            ({"days": "2", "to": target.isoformat()}, "days"),
            ({"to": "someday"}, "to"),
        ):
            refused = client.post("/clock/advance", data={"csrf_token": csrf, **bad})
            assert refused.status_code == 400
            assert f'id="error-{field}"' in refused.text
        backwards = client.post(
            "/clock/advance", data={"csrf_token": csrf, "to": start.today.isoformat()}
        )
        assert backwards.status_code == 400
        assert "only moves forward" in backwards.text
        assert _clock(runtime, tenant_id).today == target
        no_csrf = client.post("/clock/advance", data={"days": "1"})
        assert no_csrf.status_code == 403
        assert _clock(runtime, tenant_id).today == target
    with runtime.service_context(tenant_id) as ctx:
        logged = [
            (e.action, e.outcome)
            for e in audit.list_events(ctx.session, tenant_id, limit=100)
            if e.action == "console.advance_clock"
        ]
    assert logged.count(("console.advance_clock", "ok")) == 2
    assert ("console.advance_clock", "refused") in logged


def test_a_production_tenant_has_no_clock_to_advance(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    person = add_user(runtime, tenant.tenant_id, "prodclock@example.com", Role.ADMIN)
    with TestClient(app) as client:
        csrf = sign_in(client, person)
        page = client.get("/clock")
        assert page.status_code == 200
        assert 'id="clock-production"' in page.text
        assert 'id="advance-clock"' not in page.text
        refused = client.post("/clock/advance", data={"csrf_token": csrf, "days": "1"})
        assert refused.status_code == 409
        assert "no test clock" in refused.text
    with runtime.service_context(tenant.tenant_id) as ctx:
        actions = [e.action for e in audit.list_events(ctx.session, tenant.tenant_id, limit=50)]
    assert "console.advance_clock" in actions


def test_a_viewer_sees_the_clock_but_no_button_and_cannot_advance_it(
    app: FastAPI, runtime: Runtime
) -> None:
    tenant_id = _sandbox(runtime)
    start = _clock(runtime, tenant_id)
    viewer = add_user(runtime, tenant_id, "clockview@example.com", Role.VIEWER)
    with TestClient(app) as client:
        csrf = sign_in(client, viewer)
        page = client.get("/clock").text
        assert 'id="clock-now"' in page
        assert 'id="advance-clock"' not in page
        refused = client.post("/clock/advance", data={"csrf_token": csrf, "days": "5"})
        assert refused.status_code == 403
    assert _clock(runtime, tenant_id).now == start.now
