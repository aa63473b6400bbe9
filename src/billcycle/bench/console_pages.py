"""Server time of the console's pages on an existing data set (``billcycle bench console``).

Every list page is timed on its first page and on its LAST page under each sort order
(keyset paging: the last page must cost what the first does), plus the newest bill run's
page, its live progress fragment and its history and emails tabs, the newest invoice's
page and its account's page (object pages with their history), and the payment runs,
events, webhooks and test clock pages, and the receivables drill-down to accounts of each
currency and bucket (and "all"), largest and smallest first, first and last page (the
buckets are first moved to the business date, as a day's first read does). Requests go
through the whole ASGI app in process (httpx's ASGI transport, no socket), signed in as a
benchmark user of the tenant.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from billcycle.console.pages.common import PAGE_SIZE
from billcycle.db.session import read_only_unit, unit_of_work
from billcycle.reports import service as reports
from billcycle.runtime import Runtime
from billcycle.users.roles import Role
from billcycle.users.service import ensure_user
from billcycle.web.app import create_app

USER = "bench-console@billcycle.invalid"
PASSWORD = "bench-console-password"

# list path -> (sort keys, the row attribute each key sorts on)
LISTS: dict[str, dict[str, str]] = {
    "/invoices": {
        "date": "invoice_date",
        "due": "due_date",
        "number": "invoice_number",
        "amount": "amount_minor",
    },
    "/accounts": {"number": "account_number", "name": "name", "created": "id"},
    "/payments": {"date": "effective_date", "number": "number", "amount": "amount_minor"},
    "/bill-runs": {"created": "id", "number": "bill_run_number", "target": "target_date"},
}


def _last_page_cursor(
    runtime: Runtime, tenant_id: int, path: str, key: str, descending: bool
) -> str | None:
    """The cursor that opens the last page in this order: the row just before the last
    PAGE_SIZE rows (read in the opposite order)."""
    reverse = reports.Sorting(key, not descending)
    with read_only_unit(runtime.session_factory) as session:
        ctx = runtime.context(session, tenant_id)
        fetch: dict[str, Callable[[], Any]] = {
            "/invoices": lambda: reports.invoices(
                ctx, reports.InvoiceFilter(), sort=reverse, after=None, limit=PAGE_SIZE + 1
            ),
            "/accounts": lambda: reports.accounts(
                ctx, query=None, status=None, sort=reverse, after=None, limit=PAGE_SIZE + 1
            ),
            "/payments": lambda: reports.payments(
                ctx,
                status=None,
                account_id=None,
                currency=None,
                sort=reverse,
                after=None,
                limit=PAGE_SIZE + 1,
            ),
            "/bill-runs": lambda: reports.bill_runs(
                ctx, scheduled=False, sort=reverse, limit=PAGE_SIZE + 1
            ),
        }
        rows = fetch[path]().rows
    if len(rows) <= PAGE_SIZE:
        return None
    row = rows[PAGE_SIZE]
    value = getattr(row, LISTS[path][key])
    return reports.encode_cursor(value, row.id)


def _receivables_urls(runtime: Runtime, tenant_id: int) -> list[str]:
    """The drill-down of every currency in the aging report, each bucket and "all", each
    order, first page and last page (cursor computed from the reverse order)."""
    with runtime.service_context(tenant_id) as ctx:
        reports.age_receivables(ctx)
    urls: list[str] = []
    with read_only_unit(runtime.session_factory) as session:
        ctx = runtime.context(session, tenant_id)
        for row in reports.aging(ctx):
            for bucket in (*range(len(reports.AGING_BUCKETS)), None):
                query = "all" if bucket is None else str(bucket)
                for descending in (True, False):
                    sort = "-balance" if descending else "balance"
                    base = f"/receivables/{row.currency}?bucket={query}&sort={sort}"
                    urls.append(base)
                    found = reports.aging_accounts(
                        ctx,
                        currency=row.currency,
                        bucket=bucket,
                        sort=reports.Sorting("balance", not descending),
                        limit=PAGE_SIZE + 1,
                    )
                    if found is not None and len(found.rows) > PAGE_SIZE:
                        last = found.rows[PAGE_SIZE]
                        urls.append(f"{base}&after={reports.encode_cursor(last[3], last[0])}")
    return urls


def _time(client: TestClient, url: str, runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 1),
    }


def run(runtime: Runtime, tenant_id: int, runs: int) -> dict[str, Any]:
    with unit_of_work(runtime.session_factory) as session:
        ensure_user(
            session,
            runtime.clock,
            tenant_id=tenant_id,
            email=USER,
            role=Role.VIEWER,
            password=PASSWORD,
        )
    urls: list[str] = [
        "/",
        "/collections",
        "/receivables",
        "/bulk-jobs",
        "/catalog",
        "/payment-runs",
        "/events",
        "/webhooks",
        "/clock",
    ]
    for path, keys in LISTS.items():
        for key in keys:
            for descending in (False, True):
                sort = ("-" if descending else "") + key
                urls.append(f"{path}?sort={sort}")
                cursor = _last_page_cursor(runtime, tenant_id, path, key, descending)
                if cursor is not None:
                    urls.append(f"{path}?sort={sort}&after={cursor}")
    with read_only_unit(runtime.session_factory) as session:
        ctx = runtime.context(session, tenant_id)
        newest = reports.bill_runs(ctx, limit=1).rows
        invoice = reports.invoices(
            ctx,
            reports.InvoiceFilter(),
            sort=reports.Sorting("number", True),
            after=None,
            limit=1,
        ).rows
    urls += _receivables_urls(runtime, tenant_id)
    if newest:
        run = f"/bill-runs/{newest[0].id}"
        urls += [run, f"{run}/progress", f"{run}?tab=history", f"{run}?tab=emails"]
    if invoice:
        # An object page with its history: the newest invoice and its account.
        urls += [f"/invoices/{invoice[0].id}", f"/accounts/{invoice[0].account_id}"]
    app = create_app(runtime)
    pages: dict[str, dict[str, float]] = {}
    with TestClient(app) as client:
        form = client.get("/signin")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        signed = client.post(
            "/signin",
            data={"email": USER, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        if signed.status_code != 303:
            raise RuntimeError("the benchmark user could not sign in")
        for url in urls:
            client.get(url)  # warm up
            pages[url] = _time(client, url, runs)
    slowest = max(pages.values(), key=lambda p: p["p95_ms"]) if pages else {}
    return {
        "benchmark": "console_pages",
        "runs": runs,
        "database": runtime.engine.dialect.name,
        "pages": pages,
        "slowest": slowest,
    }
