"""Payment runs end to end through the Zuora API and the real job runner: collecting a
posted bill run's invoices, declines, validation, and what each endpoint answers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from billcycle.collections.models import CollectionEvent
from billcycle.collections.statuses import CollectionEventType
from billcycle.events import service as events
from billcycle.events.statuses import ObjectType
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.billruns.helpers import create_run as create_bill_run
from tests.billruns.helpers import customers
from tests.billruns.helpers import get_run as get_bill_run
from tests.paymentruns.helpers import (
    PAYMENT_RUNS,
    add_method,
    balance,
    create_run,
    customer,
    default_gateway,
    gateway_charges,
    payments_of,
    read,
    records,
    run_to_end,
    set_auto_pay,
    subscribe_all,
)
from tests.support.api import Api, api_for


def test_a_payment_run_pays_a_posted_bill_runs_invoices(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    accounts = customers(api, runtime, 3, price="30")
    bill_run = create_bill_run(api, autoPost=True, targetDate="2026-02-01")
    jobs.run_until_idle()
    assert get_bill_run(api, bill_run["id"])["status"] == "Posted"
    for account_id, _ in accounts[:2]:
        set_auto_pay(runtime, tenant_id, account_id)
        add_method(runtime, tenant_id, account_id, "tok_visa")
    # The third account has no autopay: the run leaves it alone.
    add_method(runtime, tenant_id, accounts[2][0], "tok_visa")

    run = run_to_end(
        api, jobs, targetDate="2026-12-31", billingRunId=bill_run["id"], consolidatedPayment=True
    )

    assert run["status"] == "Completed"
    assert run["number"].startswith("PR-")
    assert run["executedOn"]
    assert run["completedOn"]
    assert run["progress"]["receivables"] == 2
    assert run["progress"]["processed"] == 2
    assert run["progress"]["chunksDone"] == run["progress"]["chunksTotal"]
    found = records(api, run["id"])
    assert [r["result"] for r in found] == ["Processed", "Processed"]
    assert all(r["amountCollected"] == r["amountToCollect"] > 0 for r in found)
    assert all(r["transactions"][0]["type"] == "Payment" for r in found)
    assert all(r["transactions"][0]["status"] == "Processed" for r in found)
    invoices = api.client.get(
        f"/zuora/v1/accounts/{accounts[0][1]}/summary", headers=api.zuora_headers
    )
    assert invoices.status_code == 200
    summary = read(api, f"/{run['number']}/summary")
    assert summary["numberOfReceivables"] == 2
    assert summary["numberOfPayments"] == 2
    assert summary["numberOfErrors"] == 0
    assert summary["numberOfUnprocessedInvoices"] == 0
    assert summary["totalValues"][0]["totalValueOfPayments"] == "120 USD"  # 2 months x 30 x 2
    assert gateway_charges(runtime, tenant_id) == 2

    # A second run finds nothing left to collect: paid invoices have no balance.
    again = run_to_end(api, jobs, targetDate="2026-12-31")
    assert again["status"] == "Completed"
    assert again["progress"]["receivables"] == 0
    assert gateway_charges(runtime, tenant_id) == 2


def test_declines_stay_open_with_the_gateway_code(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    good = customer(runtime, tenant_id, ["10.00"])
    bad = customer(runtime, tenant_id, ["20.00", "5.00"], "tok_chargeDeclinedInsufficientFunds")

    run = run_to_end(api, jobs, targetDate="2026-01-10")

    assert run["status"] == "Completed"
    by_invoice = {r["documentId"]: r for r in records(api, run["id"])}
    assert len(by_invoice) == 3
    assert balance(runtime, tenant_id, good.invoice_ids[0]) == 0
    for invoice_id in bad.invoice_ids:
        record = by_invoice[f"{invoice_id:032x}"]
        assert record["result"] == "Error"
        assert record["errorCode"] == "insufficient_funds"
        assert record["errorMessage"]
        assert record["amountCollected"] == 0
        assert record["transactions"][0]["status"] == "Error"
        assert balance(runtime, tenant_id, invoice_id) > 0
    summary = read(api, f"/{run['id']}/summary")
    assert summary["numberOfErrors"] == 2
    assert summary["totalValues"][0]["totalValueOfErrors"] == "25 USD"
    assert run["progress"]["errors"] == 2


def test_explicit_records_collect_exactly_what_they_name(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    # Not autopay: explicit records are collected anyway.
    c = customer(runtime, tenant_id, ["40.00", "15.00"], auto_pay=False)
    run = run_to_end(
        api,
        jobs,
        data=[
            {
                "accountId": f"{c.account_id:032x}",
                "documentId": f"{c.invoice_ids[0]:032x}",
                "documentType": "Invoice",
                "amount": 12.5,
                "comment": "part",
            }
        ],
    )
    assert run["status"] == "Completed"
    (record,) = records(api, run["id"])
    assert record["amount"] == 12.5
    assert record["amountCollected"] == 12.5
    assert record["comment"] == "part"
    assert balance(runtime, tenant_id, c.invoice_ids[0]) == 2750
    assert balance(runtime, tenant_id, c.invoice_ids[1]) == 1500
    summary = read(api, f"/{run['id']}/summary")
    assert summary["numberOfInputData"] == 1
    assert summary["numberOfProcessedInputData"] == 1


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    return str(body["reasons"][0]["message"])


def test_bad_requests_are_clear_4xx_and_change_nothing(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    c = customer(runtime, tenant_id, ["10.00"])
    post = api.client.post
    h = api.zuora_headers
    account = f"{c.account_id:032x}"
    message = _error(
        post(
            PAYMENT_RUNS,
            json={"targetDate": "2026-01-10", "accountId": account, "batch": "Batch1"},
            headers=h,
        ),
        400,
    )
    assert "accountId" in message
    assert "batch" in message
    assert "billCycleDay" in _error(
        post(PAYMENT_RUNS, json={"targetDate": "2026-01-10", "billCycleDay": "32"}, headers=h), 400
    )
    assert "runDate" in _error(
        post(PAYMENT_RUNS, json={"runDate": "2025-01-01 10:00:00"}, headers=h), 400
    )
    _error(post(PAYMENT_RUNS, json={}, headers=h), 400)
    too_much = {
        "data": [{"accountId": account, "documentId": f"{c.invoice_ids[0]:032x}", "amount": 10.01}]
    }
    assert "balance" in _error(post(PAYMENT_RUNS, json=too_much, headers=h), 400)
    assert read(api)["paymentRuns"] == []

    running = create_run(api, targetDate="2026-01-10")
    # Still Pending (its start task has not run): it can be updated, not deleted.
    assert "Canceled or Error" in _error(
        api.client.delete(f"{PAYMENT_RUNS}/{running['id']}", headers=h), 400
    )
    jobs.run_until_idle()
    done = read(api, f"/{running['id']}")
    assert done["status"] == "Completed"
    assert "Pending" in _error(
        api.client.put(
            f"{PAYMENT_RUNS}/{running['id']}", json={"targetDate": "2026-01-11"}, headers=h
        ),
        400,
    )
    missing = api.client.get(f"{PAYMENT_RUNS}/PR-00009999", headers=h)
    assert missing.status_code == 404


def test_another_tenants_run_is_not_found(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, other_tenant: Any
) -> None:
    default_gateway(runtime, api.tenant.tenant_id)
    run = create_run(api, targetDate="2026-01-10")
    other = api_for(api.client, other_tenant)
    response = other.client.get(f"{PAYMENT_RUNS}/{run['id']}", headers=other.zuora_headers)
    assert response.status_code == 404
    response = other.client.get(f"{PAYMENT_RUNS}/{run['number']}", headers=other.zuora_headers)
    assert response.status_code == 404


def test_every_payment_a_run_writes_is_in_the_outbox(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """For a tenant whose endpoint subscribes to them, each payment the run charges
    emits ``payment.created`` (written with the chunk's payments) and then
    ``payment.processed`` or ``payment.failed`` by its outcome."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    subscribe_all(runtime, tenant_id, ["payment.created", "payment.processed", "payment.failed"])
    good = customer(runtime, tenant_id, ["10.00", "12.00"])
    bad = customer(runtime, tenant_id, ["20.00"], "tok_chargeDeclined")

    run = run_to_end(api, jobs, targetDate="2026-01-10")

    assert run["status"] == "Completed"
    paid = {p.id: p for p in payments_of(runtime, tenant_id)}
    assert len(paid) == 3
    with runtime.service_context(tenant_id) as ctx:
        found = events.list_events(ctx, object_type=ObjectType.PAYMENT, limit=100)
    by_type: dict[str, list[int]] = {}
    for event in found:
        by_type.setdefault(event.type, []).append(event.object_id)
    assert sorted(by_type["payment.created"]) == sorted(paid)
    created = {e.object_id: e.payload["object"] for e in found if e.type == "payment.created"}
    assert {created[i]["number"] for i in paid} == {p.number for p in paid.values()}
    assert all(created[i]["status"] == "Processing" for i in paid)
    assert all(created[i]["account_id"] == paid[i].account_id for i in paid)
    # The invoice a run payment holds while Processing is storage, not wire (0035).
    assert not any("pending_invoice_id" in e.payload["object"] for e in found)
    processed = sorted(i for i in paid if paid[i].account_id == good.account_id)
    failed = sorted(i for i in paid if paid[i].account_id == bad.account_id)
    assert sorted(by_type["payment.processed"]) == processed
    assert sorted(by_type["payment.failed"]) == failed


def test_without_a_subscriber_a_run_writes_no_per_payment_events(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """Issue 14's rule for runs: one event per status change, none per payment, unless an
    endpoint subscribes to the per-payment type; then only that type is written.
    Collections' own outcome events are the domain's and are always recorded."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    customer(runtime, tenant_id, ["10.00", "12.00"])
    customer(runtime, tenant_id, ["20.00"], "tok_chargeDeclined")

    run = run_to_end(api, jobs, targetDate="2026-01-10")

    assert run["status"] == "Completed"
    assert len(payments_of(runtime, tenant_id)) == 3
    with runtime.service_context(tenant_id) as ctx:
        found = events.list_events(ctx, limit=100)
        outcomes = ctx.session.scalar(
            select(func.count()).where(
                CollectionEvent.tenant_id == tenant_id,
                CollectionEvent.event_type.in_(
                    [CollectionEventType.PAYMENT_SUCCEEDED, CollectionEventType.PAYMENT_FAILED]
                ),
            )
        )
    assert [e.type for e in found if e.type.startswith("payment.")] == []
    assert {e.type for e in found} >= {"payment_run.status_changed"}
    assert outcomes == 3

    subscribe_all(runtime, tenant_id, ["payment.failed"])
    customer(runtime, tenant_id, ["30.00"], "tok_chargeDeclined")
    customer(runtime, tenant_id, ["31.00"])
    run_to_end(api, jobs, targetDate="2026-01-10")
    with runtime.service_context(tenant_id) as ctx:
        found = events.list_events(ctx, limit=100)
    assert [e.type for e in found if e.type.startswith("payment.")] == ["payment.failed"]
