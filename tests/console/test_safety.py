"""Tenant isolation on every console route, viewers who cannot act, CSRF, sign-in and
error pages that show a request id and never a traceback."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Route

from billcycle.console.pages.registry import ROUTERS
from billcycle.db.session import unit_of_work
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from billcycle.users.roles import Role
from billcycle.webhooks import service as webhooks
from tests.console.helpers import add_user, csrf_of, demo_data, sign_in

ID_PARAMS = (
    "run_id",
    "job_id",
    "account_id",
    "invoice_id",
    "payment_id",
    "event_id",
    "endpoint_id",
)


def _routes_with_ids() -> list[tuple[str, str]]:
    found = []
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, Route)
            if any("{" + p + "}" in route.path for p in ID_PARAMS):
                for method in sorted(route.methods or ()):
                    if method != "HEAD":
                        found.append((method, route.path))
    return found


def test_a_user_of_another_tenant_gets_404_on_every_route_with_an_id(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, jobs: ManualDispatcher
) -> None:
    demo_data(runtime, tenant.tenant_id)
    owner = add_user(runtime, tenant.tenant_id, "owner@example.com", Role.OPERATOR)
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other tenant", bulk_jobs=True)
    intruder = add_user(runtime, other.tenant_id, "intruder@example.com", Role.ADMIN)
    ids: dict[str, int | str] = {}
    with runtime.service_context(tenant.tenant_id) as ctx:
        webhooks.set_allow_private(ctx, True)
        ids["endpoint_id"] = webhooks.add_endpoint(
            ctx, webhooks.NewEndpoint(url="http://127.0.0.1:9/hook", event_types=["*"])
        ).id
    with TestClient(app) as client:
        csrf = sign_in(client, owner)
        run = client.post(
            "/bill-runs/new",
            data={"csrf_token": csrf, "target_date": "2026-02-01"},
            follow_redirects=False,
        )
        ids["run_id"] = int(run.headers["location"].rsplit("/", 1)[1])
        jobs.run_until_idle()
        invoices = client.get("/invoices?status=Posted").text
        ids["invoice_id"] = int(re.findall(r'href="/invoices/(\d+)"', invoices)[0])
        ids["account_id"] = int(re.findall(r'href="/accounts/(\d+)"', invoices)[0])
        job = client.post(
            "/bulk-jobs/new",
            data={"csrf_token": csrf, "invoice_ids": str(ids["invoice_id"])},
            follow_redirects=False,
        )
        ids["job_id"] = int(job.headers["location"].rsplit("/", 1)[1])
        ids["payment_id"] = 10**9  # no payment in the demo: the id of none is 404 too
        events = client.get(f"/events?object_type=bill_run&object_id={ids['run_id']}").text
        ids["event_id"] = re.findall(r'href="/events/(evt_[0-9A-Z]+)"', events)[0]
    before = _snapshot(runtime, tenant.tenant_id, ids)
    routes = _routes_with_ids()
    assert len(routes) >= 28
    assert ("GET", "/events/{event_id}") in routes
    assert ("GET", "/webhooks/{endpoint_id}") in routes
    for action in ("enable", "disable", "remove", "test", "events/{event_id}/redeliver"):
        assert ("POST", "/webhooks/{endpoint_id}/" + action) in routes
    with TestClient(app) as client:
        csrf = sign_in(client, intruder)
        for method, path in routes:
            url = path
            for name, value in ids.items():
                url = url.replace("{" + name + "}", str(value))
            response = client.request(
                method, url, data={"csrf_token": csrf} if method == "POST" else None
            )
            assert response.status_code == 404, (method, url, response.status_code)
            assert "Request id" in response.text
            assert "Traceback" not in response.text
    assert _snapshot(runtime, tenant.tenant_id, ids) == before


def _snapshot(runtime: Runtime, tenant_id: int, ids: dict[str, int | str]) -> tuple[str, ...]:
    from billcycle.billruns import service as bill_runs
    from billcycle.bulkjobs import service as jobs
    from billcycle.invoicing import service as invoicing

    with runtime.service_context(tenant_id) as ctx:
        endpoint_id = int(ids["endpoint_id"])
        return (
            bill_runs.find_bill_run(ctx, ids["run_id"]).status,
            jobs.get_job(ctx, ids["job_id"]).status,
            invoicing.get_invoice(ctx, ids["invoice_id"]).status,
            str(webhooks.get_endpoint(ctx, endpoint_id).enabled),
            str(len(webhooks.deliveries(ctx, endpoint_id))),
        )


def test_a_viewer_sees_no_buttons_and_is_refused_when_posting(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, jobs: ManualDispatcher
) -> None:
    demo_data(runtime, tenant.tenant_id)
    viewer = add_user(runtime, tenant.tenant_id, "viewer@example.com", Role.VIEWER)
    with TestClient(app) as client:
        csrf = sign_in(client, viewer)
        invoices = client.get("/invoices?status=Posted").text
        invoice_id = int(re.findall(r'href="/invoices/(\d+)"', invoices)[0])
        page = client.get(f"/invoices/{invoice_id}").text
        assert 'id="write-off-invoice"' not in page
        assert 'id="email-invoice"' not in page
        assert 'id="new-bill-run"' not in client.get("/bill-runs").text
        assert 'id="new-bulk-job"' not in client.get("/bulk-jobs").text
        assert 'id="save-settings"' not in client.get("/settings").text
        assert 'id="new-payment-run"' not in client.get("/payment-runs").text
        for read_only in ("/events", "/webhooks"):
            assert 'method="post"' not in client.get(read_only).text.split("<main>")[1]
        assert 'id="new-webhook"' not in client.get("/webhooks").text
        assert 'id="advance-clock"' not in client.get("/clock").text
        refused = client.post(f"/invoices/{invoice_id}/write-off", data={"csrf_token": csrf})
        assert refused.status_code == 403
        assert "viewer" in refused.text
        refused = client.post(
            "/bill-runs/new", data={"csrf_token": csrf, "target_date": "2026-02-01"}
        )
        assert refused.status_code == 403
        refused = client.post("/settings", data={"csrf_token": csrf, "invoice_footer": "x"})
        assert refused.status_code == 403
        page = client.get(f"/invoices/{invoice_id}").text
        assert "$0.00</dd>" not in page.split('id="invoice-balance">')[1][:20]


def test_posts_without_the_csrf_token_change_nothing(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    demo_data(runtime, tenant.tenant_id)
    operator = add_user(runtime, tenant.tenant_id, "op@example.com", Role.OPERATOR)
    with TestClient(app) as client:
        sign_in(client, operator)
        invoices = client.get("/invoices?status=Posted").text
        invoice_id = int(re.findall(r'href="/invoices/(\d+)"', invoices)[0])
        before = client.get(f"/invoices/{invoice_id}").text.split('id="invoice-balance">')[1][:30]
        for data in ({}, {"csrf_token": "forged"}):
            refused = client.post(f"/invoices/{invoice_id}/write-off", data=data)
            assert refused.status_code == 403
            assert "expired" in refused.text
        after = client.get(f"/invoices/{invoice_id}").text.split('id="invoice-balance">')[1][:30]
        assert after == before
        # Sign-in itself needs its form's token.
        client.cookies.clear()
        refused = client.post(
            "/signin", data={"email": operator.email, "password": operator.password}
        )
        assert refused.status_code == 403


def test_sign_in_out_wrong_password_and_tenant_switch(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    person = add_user(runtime, tenant.tenant_id, "multi@example.com", Role.OPERATOR)
    with unit_of_work(runtime.session_factory) as session:
        second = create_tenant(session, runtime.clock, f"zz second {tenant.tenant_id}")
    from billcycle.users import service as users

    with unit_of_work(runtime.session_factory) as session:
        users.create_user(
            session, runtime.clock, tenant_id=second.tenant_id, email=person.email, role=Role.VIEWER
        )
    with TestClient(app) as client:
        form = client.get("/signin")
        wrong = client.post(
            "/signin",
            data={"email": person.email, "password": "nope" * 4, "csrf_token": csrf_of(form.text)},
        )
        assert wrong.status_code == 400
        assert "wrong" in wrong.text
        csrf = sign_in(client, person)
        cookie = client.cookies.get("billcycle_console")
        assert cookie
        home = client.get("/")
        assert 'id="tenant-switcher"' in home.text
        assert "operator" in home.text
        switched = client.post(
            "/tenant", data={"csrf_token": csrf, "tenant_id": str(second.tenant_id)}
        )
        assert switched.status_code == 200
        assert f"zz second {tenant.tenant_id}" in switched.text
        assert "viewer" in switched.text
        refused = client.post("/tenant", data={"csrf_token": csrf, "tenant_id": "999999"})
        assert refused.status_code == 403
        out = client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303
        assert client.get("/", follow_redirects=False).status_code == 303


def test_session_cookie_flags(app: FastAPI, runtime: Runtime, tenant: NewTenant) -> None:
    person = add_user(runtime, tenant.tenant_id, "flags@example.com", Role.OPERATOR)
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        with TestClient(app, base_url=base) as client:
            form = client.get("/signin")
            response = client.post(
                "/signin",
                data={
                    "email": person.email,
                    "password": person.password,
                    "csrf_token": csrf_of(form.text),
                },
                follow_redirects=False,
            )
            header = next(
                v
                for k, v in response.headers.multi_items()
                if k == "set-cookie" and v.startswith("billcycle_console=")
            )
            assert "HttpOnly" in header
            assert "SameSite=lax" in header.replace("Lax", "lax")
            assert ("Secure" in header) is secure


def test_error_pages_show_a_request_id_and_no_traceback(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, monkeypatch: object
) -> None:
    person = add_user(runtime, tenant.tenant_id, "err@example.com", Role.OPERATOR)
    with TestClient(app, raise_server_exceptions=False) as client:
        sign_in(client, person)
        missing = client.get("/no/such/page")
        assert missing.status_code == 404
        assert "Request id" in missing.text
        assert missing.headers["x-request-id"] in missing.text
        assert client.get("/invoices/abc").status_code == 404
        # A 500: the page of an invoice whose template cannot render (a broken service).
        from billcycle.console.pages import accounts as page_module

        def broken(*_args: object, **_kwargs: object) -> object:
            raise RuntimeError("secret internal detail")

        monkeypatch.setattr(page_module.reports, "accounts", broken)  # type: ignore[attr-defined]
        crashed = client.get("/accounts")
        assert crashed.status_code == 500
        assert "secret internal detail" not in crashed.text
        assert "Traceback" not in crashed.text
        assert crashed.headers["x-request-id"] in crashed.text
