"""Per-invoice events written set-based by the database (``INSERT ... SELECT``): the
payload the database builds is the one ``payloads.snapshot`` builds from the same row,
on both databases; a bill run's cancel writes ``invoice.cancelled`` for a subscribing
tenant; the event ids stay unique and sorted by time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi.testclient import TestClient

from billcycle.events import service as events
from billcycle.events.payloads import snapshot
from billcycle.invoicing.models import Invoice
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.webhooks import service as webhooks
from tests.billruns.helpers import BILL_RUNS, create_run, customers, get_run
from tests.events.helpers import all_events as _events
from tests.invoicing.factories import make_account, make_invoice, make_subscription, monthly
from tests.support.api import Api


def _subscribe(runtime: Runtime, tenant_id: int, *types: str) -> None:
    with runtime.service_context(tenant_id) as ctx:
        webhooks.set_allow_private(ctx, True)
        webhooks.add_endpoint(
            ctx, webhooks.NewEndpoint(url="http://127.0.0.1:9/x", event_types=list(types))
        )


def test_the_database_builds_the_payload_the_snapshot_builds(
    api: Api, runtime: Runtime, admin: TestClient
) -> None:
    """Currencies of 0, 2 and 3 decimals, negative and sub-unit amounts, instants with and
    without microseconds, missing values, quotes and non-ASCII text."""
    tenant_id = api.tenant.tenant_id
    shapes = [
        # currency, amount_minor, tax_amount_minor, created_at, comments
        ("USD", 6000, 0, datetime(2026, 1, 10, 9, 0, tzinfo=UTC), None),
        ("USD", -50, 7, datetime(2026, 1, 10, 9, 0, 0, 120, tzinfo=UTC), "say \"hi\" \\ 'ok'"),
        ("JPY", -1234, 0, datetime(2026, 1, 10, 23, 59, 59, 999999, tzinfo=UTC), "Ünïcödé ✓"),
        ("KWD", 1005, -1, datetime(2026, 1, 1, tzinfo=UTC), ""),
        ("EUR", 0, 123456789012, datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), "line\nbreak"),
    ]
    with runtime.service_context(tenant_id) as ctx:
        ids = []
        for currency, amount, tax, created, comments in shapes:
            billed = make_subscription(ctx, make_account(ctx, currency=currency))
            invoice = make_invoice(
                ctx, billed.account, [monthly(billed.charge, date(2026, 1, 1), "100")]
            )
            invoice.amount_minor, invoice.tax_amount_minor = amount, tax
            invoice.created_at, invoice.comments = created, comments
            invoice.posted_at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
            ids.append(invoice.id)
        ctx.session.flush()
        before = events.new_event_id(int(ctx.machine_clock.now().timestamp() * 1000))
        assert events.emit_invoices_cancelled(ctx, ids) == len(ids)
        after = events.new_event_id(int(ctx.machine_clock.now().timestamp() * 1000))
    with runtime.service_context(tenant_id) as ctx:
        expected = {i: snapshot(ctx.session.get_one(Invoice, i)) for i in ids}
    written = _events(admin, tenant_id, type="invoice.cancelled")
    assert sorted(e["object_id"] for e in written) == sorted(ids)
    for event in written:
        assert event["object_type"] == "invoice"
        assert event["data"] == {"object": expected[event["object_id"]]}
    assert expected[ids[1]]["amount"] == "-0.50"
    assert expected[ids[2]]["amount"] == "-1234"
    assert expected[ids[3]]["tax_amount"] == "-0.001"
    # Ids: "evt_" + 26 characters, unique, after the ids made before and before those after.
    event_ids = sorted(e["id"] for e in written)
    assert len(set(event_ids)) == len(ids)
    assert all(len(i) == 30 and i.startswith("evt_") for i in event_ids)
    assert before < event_ids[0]
    assert event_ids[-1] < after


def test_a_cancelled_bill_run_writes_invoice_cancelled_per_invoice_only_when_subscribed(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, admin: TestClient
) -> None:
    tenant_id = api.tenant.tenant_id
    customers(api, runtime, 4)

    def generate_and_cancel() -> dict[str, Any]:
        run = create_run(api)
        jobs.run_until_idle()
        assert get_run(api, run["id"])["status"] == "Completed"
        response = api.client.put(
            f"{BILL_RUNS}/{run['id']}/cancel", json={}, headers=api.zuora_headers
        )
        assert response.status_code == 200, response.text
        jobs.run_until_idle()
        assert get_run(api, run["id"])["status"] == "Canceled"
        return run

    generate_and_cancel()
    assert _events(admin, tenant_id, type="invoice.cancelled") == []

    _subscribe(runtime, tenant_id, "invoice.cancelled")
    run = generate_and_cancel()
    cancelled = _events(admin, tenant_id, type="invoice.cancelled")
    assert len(cancelled) == 4
    objects = [e["data"]["object"] for e in cancelled]
    assert {o["status"] for o in objects} == {"Canceled"}
    assert {o["bill_run_id"] for o in objects} == {int(run["id"], 16)}
    assert all(o["canceled_at"] is not None for o in objects)
    assert len({e["id"] for e in cancelled}) == 4
