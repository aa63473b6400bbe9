"""Events of other capabilities: bulk jobs (status changes; per-invoice write-offs only
for a subscribing tenant) and invoices written off or cancelled one by one."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi.testclient import TestClient

from billcycle.events.payloads import snapshot
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.payments.models import Payment
from billcycle.runtime import Runtime
from billcycle.webhooks import service as webhooks
from tests.billruns.helpers import create_run as create_bill_run
from tests.billruns.helpers import customers
from tests.bulkjobs.helpers import create, ok, poll, posted_invoices, process
from tests.events.helpers import all_events
from tests.fusebill_payments.helpers import customer_with, fget, fpost
from tests.fusebill_payments.helpers import ok as fok
from tests.invoicing.factories import make_account, make_invoice, make_subscription, monthly
from tests.paymentruns.helpers import default_gateway, run_to_end
from tests.support.api import Api


def _events(admin: TestClient, tenant_id: int, **params: Any) -> list[dict[str, Any]]:
    response = admin.get(
        f"/billcycle/v1/tenants/{tenant_id}/events", params={"limit": 100, **params}
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_a_bulk_write_off_job_reports_its_statuses_and_per_invoice_events_when_subscribed(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, admin: TestClient
) -> None:
    tenant_id = api.tenant.tenant_id
    unsubscribed = posted_invoices(runtime, tenant_id, 2)
    job_id = create(api, unsubscribed.invoice_ids)["id"]
    jobs.run_until_idle()
    ok(process(api, job_id))
    jobs.run_until_idle()
    assert poll(api, job_id, full=False)["status"] == "Processed"
    statuses = [
        (e["data"]["previous_status"], e["data"]["status"])
        for e in _events(admin, tenant_id, type="bulk_job.status_changed")
    ]
    assert statuses[0] == (None, "Validating")
    assert statuses[-1][1] == "Processed"
    assert {e["object_id"] for e in _events(admin, tenant_id, object="bulk_job")} == {job_id}
    assert _events(admin, tenant_id, type="invoice.written_off") == []

    with runtime.service_context(tenant_id) as ctx:
        webhooks.set_allow_private(ctx, True)
        webhooks.add_endpoint(
            ctx,
            webhooks.NewEndpoint(url="http://127.0.0.1:9/x", event_types=["invoice.written_off"]),
        )
    subscribed = posted_invoices(runtime, tenant_id, 3)
    second = create(api, subscribed.invoice_ids)["id"]
    jobs.run_until_idle()
    ok(process(api, second))
    jobs.run_until_idle()
    written = _events(admin, tenant_id, type="invoice.written_off")
    assert sorted(e["object_id"] for e in written) == sorted(subscribed.invoice_ids)
    # As a single write-off's: the invoice, and the write-off with its entry and amount.
    assert {e["data"]["bulk_job_id"] for e in written} == {second}
    for event in written:
        assert event["data"]["object"]["id"] == event["object_id"]
        assert event["data"]["object"]["status"] == "Posted"
        write_off = event["data"]["write_off"]
        assert write_off["amount_minor"] == event["data"]["object"]["amount_minor"] > 0
        assert write_off["amount"] == event["data"]["object"]["amount"]
        assert isinstance(write_off["entry_id"], int)


def _draft(runtime: Runtime, tenant_id: int) -> tuple[int, str]:
    with runtime.service_context(tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        invoice = make_invoice(
            ctx, billed.account, [monthly(billed.charge, date(2026, 1, 1), "100")]
        )
        return invoice.id, invoice.invoice_number


def test_posting_cancelling_and_writing_off_through_zuora_write_their_events(
    api: Api, runtime: Runtime, admin: TestClient
) -> None:
    tenant_id = api.tenant.tenant_id
    posted_id, posted_number = _draft(runtime, tenant_id)
    cancelled_id, cancelled_number = _draft(runtime, tenant_id)
    headers = api.zuora_headers
    for number, action, body in (
        (posted_number, "post", {}),
        (cancelled_number, "cancel", None),
        (posted_number, "write-off", {}),
    ):
        response = api.client.put(
            f"/zuora/v1/invoices/{number}/{action}", json=body, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json().get("success") is not False, response.text
    [posted] = _events(admin, tenant_id, type="invoice.posted")
    assert posted["object_id"] == posted_id
    assert posted["data"]["object"]["status"] == "Posted"
    assert posted["data"]["object"]["amount"] == "100.00"
    [cancelled] = _events(admin, tenant_id, type="invoice.cancelled")
    assert cancelled["object_id"] == cancelled_id
    assert cancelled["data"]["object"]["status"] == "Canceled"
    [written] = _events(admin, tenant_id, type="invoice.written_off")
    assert written["object_id"] == posted_id
    assert written["data"]["write_off"]["amount"] == "100.00"
    # Nothing was written twice, and nothing in a dialect's shape.
    assert all(len(str(e["object_id"])) < 32 for e in _events(admin, tenant_id))


def test_a_payment_run_writes_one_event_per_status_change(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, admin: TestClient
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    customers(api, runtime, 2, price="30")
    create_bill_run(api, autoPost=True, targetDate="2026-02-01")
    jobs.run_until_idle()
    run = run_to_end(api, jobs, targetDate="2026-12-31")
    assert run["status"] == "Completed"
    changes = all_events(admin, tenant_id, type="payment_run.status_changed")
    assert [(e["data"]["previous_status"], e["data"]["status"]) for e in changes] == [
        (None, "Pending"),
        ("Pending", "Processing"),
        ("Processing", "Completed"),
    ]
    assert {e["object_type"] for e in changes} == {"payment_run"}
    assert len({e["object_id"] for e in changes}) == 1
    assert changes[-1]["data"]["object"]["status"] == "Completed"


def test_a_bulk_payment_job_writes_payment_created_per_payment_when_subscribed(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, admin: TestClient
) -> None:
    tenant_id = api.tenant.tenant_id

    def paid_by_bulk_job(amounts: list[str]) -> tuple[int, list[int]]:
        billed = customer_with(runtime, api, amounts)
        data = [
            {
                "customerId": billed.account_id,
                "amount": amount,
                "paymentMethod": "Check",
                "source": "Import",
                "reference": f"check {n}",
                "paymentAllocations": [{"invoiceId": invoice_id, "amount": amount}],
            }
            for n, (amount, invoice_id) in enumerate(zip(amounts, billed.invoice_ids, strict=True))
        ]
        job = fok(fpost(api, "/v1/BulkApi", {"accountUploadType": "BulkPayment", "data": data}))
        jobs.run_until_idle()
        fok(fpost(api, "/v1/BulkApi/Process", {"id": job["id"]}))
        jobs.run_until_idle()
        done = fok(fget(api, f"/v1/BulkApi/{job['id']}", view="Full"))
        assert done["status"] == "Processed"
        return job["id"], [r["createdEntityId"] for r in done["records"]]

    paid_by_bulk_job(["30"])
    assert all_events(admin, tenant_id, type="payment.created") == []

    with runtime.service_context(tenant_id) as ctx:
        webhooks.set_allow_private(ctx, True)
        webhooks.add_endpoint(
            ctx, webhooks.NewEndpoint(url="http://127.0.0.1:9/x", event_types=["payment.created"])
        )
    job_id, payment_ids = paid_by_bulk_job(["30", "12.50", "7"])
    created = all_events(admin, tenant_id, type="payment.created")
    assert sorted(e["object_id"] for e in created) == sorted(payment_ids)
    with runtime.service_context(tenant_id) as ctx:
        # The payload the database built is the one a payment recorded alone gets.
        expected = {i: snapshot(ctx.session.get_one(Payment, i)) for i in payment_ids}
    for event in created:
        assert event["object_type"] == "payment"
        assert event["data"] == {"object": expected[event["object_id"]], "bulk_job_id": job_id}
    assert sorted(e["data"]["object"]["amount"] for e in created) == ["12.50", "30.00", "7.00"]
