"""``/metrics``: requests by route template, a bill run's progress while it runs, chunks,
invoices, gateway calls, pool and queue gauges; label values stay bounded; a scrape is
cheap. On both databases, through the HTTP API and the real job runner."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from billcycle.clock import FrozenClock
from billcycle.db.bulk import is_postgres
from billcycle.ids import to_zuora_id
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.accounts.factories import new_account
from tests.billruns.helpers import create_run, customers, get_run
from tests.charging.helpers import add_method
from tests.gateways.helpers import configure_test_gateway
from tests.ops.helpers import serving, value
from tests.paymentruns.helpers import default_gateway, run_to_end
from tests.payments.helpers import posted_invoices
from tests.support.api import Api
from tests.webhooks.helpers import add_endpoint, deliver, receiver

ACCOUNT = "/zuora/v1/accounts/{account_key}"
DOCS = Path(__file__).resolve().parents[2] / "docs"


def scrape(api: Api) -> str:
    response = api.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_requests_are_counted_by_route_template_never_by_raw_path(api: Api) -> None:
    before = scrape(api)
    for key in ("A99999991", "A99999992", "A99999993"):
        response = api.client.get(f"/zuora/v1/accounts/{key}", headers=api.zuora_headers)
        assert response.status_code == 404
    api.client.get("/zuora/v1/no-such-thing/12345", headers=api.zuora_headers)
    api.client.get("/fusebill/v1/customers/987654", headers=api.fusebill_headers)
    after = scrape(api)
    labels = {"dialect": "zuora", "route": ACCOUNT, "method": "GET", "status": "404"}
    assert (
        value(after, "billcycle_http_requests_total", **labels)
        - value(before, "billcycle_http_requests_total", **labels)
        == 3
    )
    histogram = {"dialect": "zuora", "route": ACCOUNT, "method": "GET"}
    assert value(after, "billcycle_http_request_duration_seconds_count", **histogram) >= 3
    unmatched = {"dialect": "zuora", "route": "unmatched"}
    assert value(after, "billcycle_http_requests_total", **unmatched) > value(
        before, "billcycle_http_requests_total", **unmatched
    )
    assert value(after, "billcycle_http_requests_total", dialect="fusebill") > value(
        before, "billcycle_http_requests_total", dialect="fusebill"
    )
    # No id, key or number a client sent is a label value (the labels only: a sample's
    # value, such as a duration sum 0.0153917269912345, may hold any digits).
    label_text = "".join(
        line.partition("{")[2].rpartition("}")[0]
        for line in after.splitlines()
        if line.startswith("billcycle_http")
    )
    for secret_ish in ("A9999999", "12345", "987654"):
        assert secret_ish not in label_text


def test_a_bill_runs_progress_shows_while_it_runs(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    customers(api, runtime, 15)  # 3 chunks of 7 accounts (the suite's chunk size)
    before = scrape(api)
    run = create_run(api)
    # The start task cuts the run into chunks; no drain has run yet.
    assert [call.name for call in jobs.pending] == ["bill_run.start"]
    with pytest.raises(RuntimeError, match="more than 1 tasks"):
        jobs.run_until_idle(max_tasks=1)  # the start only: its drains stay queued
    assert {call.name for call in jobs.pending} == {"drain"}
    during = scrape(api)
    assert value(during, "billcycle_bill_runs", status="Processing") >= 1
    assert value(during, "billcycle_bill_runs_processing_accounts_total") >= 15
    assert value(during, "billcycle_bill_runs_processing_chunks_total") >= 3
    assert value(during, "billcycle_work_chunks_open", kind="bill_run", status="pending") >= 3
    assert value(during, "billcycle_database_up") == 1
    jobs.run_until_idle()
    assert get_run(api, run["id"])["status"] == "Completed"
    after = scrape(api)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("billcycle_chunks_claimed_total", kind="bill_run") == 3
    assert delta("billcycle_chunks_completed_total", kind="bill_run") == 3
    assert delta("billcycle_invoices_generated_total") == 15
    assert delta("billcycle_invoice_items_generated_total") >= 15
    assert value(after, "billcycle_bill_runs", status="Completed") >= 1
    # Its own chunks all closed: another test's run left in the shared database (the
    # suite's database lives for a worker's whole session) is not this run's.
    assert delta("billcycle_work_chunks_open", kind="bill_run") == 0


def test_gateway_calls_are_counted_by_outcome(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    billed = posted_invoices(runtime, tenant_id, ["25"])
    configure_test_gateway(runtime, tenant_id, make_default=True)
    method = add_method(runtime, tenant_id, billed.account_id, "tok_visa")
    before = scrape(api)
    response = api.client.post(
        "/zuora/v1/payments",
        json={
            "accountId": to_zuora_id(billed.account_id),
            "amount": 25,
            "currency": "USD",
            "type": "Electronic",
            "effectiveDate": "2026-01-10",
            "paymentMethodId": to_zuora_id(method),
            "invoices": [{"invoiceId": to_zuora_id(billed.invoice_ids[0]), "amount": 25}],
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    after = scrape(api)
    labels = {"operation": "sale", "outcome": "approved"}
    assert (
        value(after, "billcycle_gateway_calls_total", **labels)
        - value(before, "billcycle_gateway_calls_total", **labels)
        == 1
    )
    # A gateway that takes sales in batches (the test gateway) is timed per batch.
    timed = sum(
        value(after, "billcycle_gateway_call_duration_seconds_count", operation=operation)
        for operation in ("sale", "sale_batch")
    )
    assert timed >= 1


def test_pool_queue_and_worker_gauges(api: Api, runtime: Runtime) -> None:
    text = scrape(api)
    assert value(text, "billcycle_db_pool_size") > 0
    assert value(text, "billcycle_db_pool_checkouts_total") > 0
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    assert "billcycle_db_pool_connections_in_use" in names
    assert "billcycle_webhook_deliveries_total" in text or "billcycle_webhook_deliveries" in text
    if is_postgres(runtime.engine):
        assert "billcycle_queue_jobs" in names
        assert "billcycle_queue_oldest_waiting_seconds" in names
        assert "billcycle_workers_alive" in names


@pytest.mark.slow
def test_server_processes_share_their_counters(database_url: str, tmp_path: Path) -> None:
    """``serve --workers 2``: whichever process answers ``/metrics`` counts the requests
    every process answered (prometheus-client's multiprocess mode)."""
    if database_url.startswith("postgresql"):
        pytest.skip("one backend is enough for the process plumbing")
    with serving(database_url, tmp_path / "server.log", "--workers", "2") as (base, _server):
        with httpx.Client(base_url=base) as client:
            before = value(
                client.get("/metrics").text, "billcycle_http_requests_total", route="/healthz"
            )
            for _ in range(40):
                assert client.get("/healthz").status_code == 200
        # New connections: the kernel spreads them over both processes.
        scrapes = [
            value(
                httpx.get(f"{base}/metrics").text, "billcycle_http_requests_total", route="/healthz"
            )
            for _ in range(6)
        ]
    # Each scrape sees all 40 (plus the health checks of start-up), whichever process answered.
    assert all(seen - before >= 40 for seen in scrapes), (before, scrapes)
    assert len(set(scrapes)) == 1, scrapes


def test_the_grafana_dashboard_graphs_metrics_that_exist(api: Api, runtime: Runtime) -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    names = {name for expr in exprs for name in re.findall(r"billcycle_[a-z_]+", expr)}
    text = scrape(api)
    # PostgreSQL (or the embedded worker of `serve`, which this in-process app has not).
    postgres_only = {
        "billcycle_queue_jobs",
        "billcycle_queue_oldest_waiting_seconds",
        "billcycle_workers_alive",
    }
    missing = {
        name
        for name in names
        if re.sub(r"_(bucket|total)$", "", name) not in text
        and not (name in postgres_only and not is_postgres(runtime.engine))
    }
    assert missing == set()
    assert len(names) >= 20


def test_webhook_deliveries_by_outcome_and_payment_runs_by_status(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    tenant_id = api.tenant.tenant_id
    with receiver(500) as hook:
        add_endpoint(runtime, tenant_id, hook.url, "account.created")
        with runtime.service_context(tenant_id) as ctx:
            new_account(ctx, name="Counted Ltd")
        before = scrape(api)
        deliver(jobs)  # answered 500: failed, retried later
        machine_clock.advance(timedelta(seconds=5))
        deliver(jobs)  # answered 200
        assert len(hook.received) == 2
    after = scrape(api)
    for outcome in ("failed", "succeeded"):
        name = "billcycle_webhook_deliveries_total"
        # At least ours: a tick also retries other tests' endpoints left in the database.
        assert value(after, name, outcome=outcome) - value(before, name, outcome=outcome) >= 1

    default_gateway(runtime, tenant_id)
    customers(api, runtime, 2, price="30")
    create_run(api, autoPost=True, targetDate="2026-02-01")
    jobs.run_until_idle()
    completed = value(scrape(api), "billcycle_payment_runs", status="Completed")
    assert run_to_end(api, jobs, targetDate="2026-12-31")["status"] == "Completed"
    assert value(scrape(api), "billcycle_payment_runs", status="Completed") == completed + 1
