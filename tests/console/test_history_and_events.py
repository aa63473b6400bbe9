"""Object pages show their history (console actions from the audit log, changes from the
events outbox); the payment runs list is keyset-paged; the events page filters and pages
the outbox and shows each payload; webhook endpoints and their deliveries are readable."""

from __future__ import annotations

import re
from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient

from billcycle.events.statuses import EventType
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.paymentruns import service as payment_runs
from billcycle.paymentruns.spec import PaymentRunSpec
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from billcycle.users.roles import Role
from billcycle.webhooks import service as webhooks
from tests.console.helpers import add_user, demo_data, sign_in

_EVENT_LINK = re.compile(r'href="/events/(evt_[0-9A-Z]+)" class="event-link"')


def _history(html: str) -> str:
    assert 'id="history"' in html
    return html.split('id="history"')[1].split("</table>")[0]


def test_object_pages_show_actions_and_events_newest_first(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, jobs: ManualDispatcher
) -> None:
    demo_data(runtime, tenant.tenant_id)
    person = add_user(runtime, tenant.tenant_id, "hist@example.com", Role.OPERATOR)
    with TestClient(app) as client:
        csrf = sign_in(client, person)
        created = client.post(
            "/bill-runs/new",
            data={"csrf_token": csrf, "target_date": "2026-03-01"},
            follow_redirects=False,
        )
        url = created.headers["location"]
        jobs.run_until_idle()
        client.post(url + "/post", data={"csrf_token": csrf})
        jobs.run_until_idle()
        client.post(url + "/post", data={"csrf_token": csrf})  # stale: refused
        history = _history(client.get(url + "?tab=history").text)
        rows = re.findall(r"<tr class=\"history-(\w+)\">.*?</tr>", history, re.S)
        assert rows.count("action") == 3  # create, post, the refused post
        assert "history-event" in history
        assert person.email in history
        assert "refused" in history
        assert history.index("refused") < history.index(">create<")  # newest first
        assert EventType.BILL_RUN_STATUS_CHANGED.value in history
        event_id = re.findall(r'href="/events/(evt_[0-9A-Z]+)"', history)[0]
        event = client.get(f"/events/{event_id}")
        assert event.status_code == 200
        assert f'href="{url}"' in event.text  # the event links back to its object
        assert "Posted" in event.text.split('id="event-payload"')[1]
        # The default tab does not read the history (the page stays one read for the run).
        assert 'id="history"' not in client.get(url).text

        invoices = client.get("/invoices?status=Posted&sort=number").text
        invoice_id = re.findall(r'href="/invoices/(\d+)"', invoices)[0]
        account_id = re.findall(r'href="/accounts/(\d+)"', invoices)[0]
        client.post(f"/invoices/{invoice_id}/write-off", data={"csrf_token": csrf})
        invoice_history = _history(client.get(f"/invoices/{invoice_id}").text)
        assert ">write_off<" in invoice_history
        assert EventType.INVOICE_WRITTEN_OFF.value in invoice_history
        account_history = _history(client.get(f"/accounts/{account_id}").text)
        assert EventType.ACCOUNT_CREATED.value in account_history

        job = client.post(
            "/bulk-jobs/new",
            data={"csrf_token": csrf, "invoice_ids": invoice_id},
            follow_redirects=False,
        )
        job_history = _history(client.get(job.headers["location"]).text)
        assert ">create<" in job_history

        run = client.post(
            "/payment-runs/new",
            data={"csrf_token": csrf, "target_date": "2026-02-01"},
            follow_redirects=False,
        )
        run_url = run.headers["location"]
        client.post(run_url + "/cancel", data={"csrf_token": csrf})
        run_history = _history(client.get(run_url).text)
        assert ">cancel<" in run_history
        assert ">create<" in run_history


def test_the_payment_runs_list_is_keyset_paged(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        made = [
            payment_runs.create_payment_run(
                ctx, PaymentRunSpec(target_date=date(2026, 2, 1)), created_by="test"
            ).payment_run_number
            for _ in range(53)
        ]
    viewer = add_user(runtime, tenant.tenant_id, "prv@example.com", Role.VIEWER)
    with TestClient(app) as client:
        sign_in(client, viewer)
        seen: list[str] = []
        url: str | None = "/payment-runs?status=Pending"
        while url is not None:
            html = client.get(url).text
            assert "offset=" not in html
            seen += re.findall(r'href="/payment-runs/\d+">([^<]+)</a>', html)
            found = re.search(r'href="([^"]+)" id="next-page"', html)
            url = found.group(1).replace("&amp;", "&") if found else None
        assert seen == sorted(made, reverse=True)
        assert client.get("/payment-runs?status=Completed").text.count('href="/payment-runs/') == 0


def test_the_events_page_filters_pages_and_shows_payloads(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    demo_data(runtime, tenant.tenant_id, accounts=60)
    viewer = add_user(runtime, tenant.tenant_id, "ev@example.com", Role.VIEWER)
    with TestClient(app) as client:
        sign_in(client, viewer)
        seen: list[str] = []
        url: str | None = "/events?type=account.created"
        while url is not None:
            html = client.get(url).text
            seen += _EVENT_LINK.findall(html)
            found = re.search(r'href="([^"]+)" id="next-page"', html)
            url = found.group(1).replace("&amp;", "&") if found else None
        assert len(seen) == len(set(seen)) == 60
        one = client.get(f"/events/{seen[-1]}")
        assert one.status_code == 200
        payload = one.text.split('id="event-payload">')[1].split("</pre>")[0]
        assert "&#34;" in payload or "&quot;" in payload  # JSON, escaped in the page
        account_id = re.search(r'href="/accounts/(\d+)" id="event-object"', one.text)
        assert account_id is not None
        by_object = client.get(f"/events?object_type=account&object_id={account_id.group(1)}").text
        assert _EVENT_LINK.findall(by_object) == [seen[-1]]
        assert _EVENT_LINK.findall(client.get("/events?since=2999-01-01").text) == []
        assert client.get("/events?type=no.such").status_code == 400
        assert client.get("/events?since=yesterday").status_code == 400
        assert client.get("/events/evt_" + "0" * 26).status_code == 404


def test_webhook_endpoints_and_deliveries_are_shown_without_their_secret(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        webhooks.set_allow_private(ctx, True)  # the test machine resolves no public name
        endpoint = webhooks.add_endpoint(
            ctx,
            webhooks.NewEndpoint(
                url="http://127.0.0.1:9/billing",
                event_types=[EventType.ACCOUNT_CREATED.value],
            ),
        )
        endpoint_id, secret = endpoint.id, endpoint.secret
    demo_data(runtime, tenant.tenant_id, accounts=2)
    viewer = add_user(runtime, tenant.tenant_id, "wh@example.com", Role.VIEWER)
    with TestClient(app) as client:
        sign_in(client, viewer)
        listing = client.get("/webhooks").text
        assert "http://127.0.0.1:9/billing" in listing
        assert f'href="/webhooks/{endpoint_id}"' in listing
        page = client.get(f"/webhooks/{endpoint_id}").text
        assert 'id="deliveries-table"' in page
        assert secret not in page + listing
        assert secret.removeprefix("whsec_") not in page + listing
        assert client.get("/webhooks/999999999").status_code == 404
