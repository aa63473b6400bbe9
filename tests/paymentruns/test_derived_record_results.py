"""A set-based slice writes no result for the records its payments settle: a record's
result is its payment's, derived when read (``paymentruns.service.records``,
``repository.summary_totals``). Through the API: the records and the summary answer what
written results answered, and a payment the reconciler settles after the run shows its
outcome in both. Both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from billcycle.clock import FrozenClock
from billcycle.gateways.interface import VoidRequest
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.paymentruns.models import PaymentRunData
from billcycle.payments import reconciler
from billcycle.runtime import Runtime
from tests.charging.helpers import Sleeps
from tests.gateways.helpers import SETTLE_AFTER, open_test_gateway
from tests.paymentruns.helpers import (
    create_run,
    customer,
    default_gateway,
    payments_of,
    read,
    records,
)
from tests.support.api import Api


def _sweep(runtime: Runtime, tenant_id: int) -> None:
    reconciler.reconcile_due(runtime, older_than=timedelta(0), sleep=Sleeps(), tenant_id=tenant_id)


def _by_invoice(api: Api, run_id: str) -> dict[str, dict[str, Any]]:
    return {r["documentId"]: r for r in records(api, run_id)}


def _written_results(runtime: Runtime, tenant_id: int) -> list[str | None]:
    with runtime.service_context(tenant_id) as ctx:
        return [
            r.result
            for r in ctx.session.query(PaymentRunData).filter(PaymentRunData.tenant_id == tenant_id)
        ]


def test_settled_and_declined_records_answer_their_payments_outcome(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    paid = customer(runtime, t, ["10.00"], "tok_visa")
    declined = customer(runtime, t, ["12.00"], "tok_chargeDeclinedInsufficientFunds")
    run = create_run(api, targetDate="2026-01-10")
    jobs.run_until_idle()
    # Nothing written for either record: both are their payments'.
    assert _written_results(runtime, t) == [None, None]
    found = _by_invoice(api, run["id"])
    ok = found[f"{paid.invoice_ids[0]:032x}"]
    assert (ok["result"], ok["errorCode"], ok["errorMessage"]) == ("Processed", None, None)
    assert (ok["amountToCollect"], ok["amountCollected"]) == (10, 10)
    assert [
        (x["type"], x["status"], x["amount"], x["appliedAmount"]) for x in ok["transactions"]
    ] == [("Payment", "Processed", 10, 10)]
    bad = found[f"{declined.invoice_ids[0]:032x}"]
    assert (bad["result"], bad["errorCode"]) == ("Error", "insufficient_funds")
    assert bad["errorMessage"]
    assert (bad["amountToCollect"], bad["amountCollected"]) == (12, 0)
    assert [(x["status"], x["amount"], x["appliedAmount"]) for x in bad["transactions"]] == [
        ("Error", 12, 0)
    ]
    summary = read(api, f"/{run['id']}/summary")
    assert (summary["numberOfErrors"], summary["numberOfPayments"]) == (1, 2)
    (totals,) = summary["totalValues"]
    assert totals["totalValueOfPayments"] == "10 USD"
    assert totals["totalValueOfErrors"] == "12 USD"
    assert read(api, f"/{run['id']}")["progress"]["processed"] == 1


def test_a_payment_settled_after_the_run_shows_its_outcome_on_the_record(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    """A sale still pending when the run finished: the record shows Processing, then
    what the reconciler settled (approved here, voided for the other), in the records
    and the summary alike."""
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    later = customer(runtime, t, ["10.00"], "tok_pendingThenSettled")
    voided = customer(runtime, t, ["7.00"], "tok_pendingThenSettled")
    run = create_run(api, targetDate="2026-01-10")
    jobs.run_until_idle()
    assert sorted(r["result"] for r in records(api, run["id"])) == ["Processing", "Processing"]
    before = read(api, f"/{run['id']}/summary")
    assert before["numberOfErrors"] == 0
    assert before["totalValues"][0]["totalValueOfPayments"] == "0 USD"

    (void_me,) = [p for p in payments_of(runtime, t) if p.account_id == voided.account_id]
    gateway = open_test_gateway(runtime, t, Sleeps())
    gateway.void(
        VoidRequest(idempotency_key="void-1", transaction_id=void_me.gateway_transaction_id)
    )
    machine_clock.advance(timedelta(seconds=SETTLE_AFTER))
    _sweep(runtime, t)

    found = _by_invoice(api, run["id"])
    ok = found[f"{later.invoice_ids[0]:032x}"]
    assert (ok["result"], ok["amountCollected"]) == ("Processed", 10)
    gone = found[f"{voided.invoice_ids[0]:032x}"]
    assert gone["result"] == "Error"
    assert gone["errorCode"] is not None
    assert gone["errorMessage"] is not None
    assert gone["amountCollected"] == 0
    after = read(api, f"/{run['id']}/summary")
    assert after["numberOfErrors"] == 1
    assert after["totalValues"][0]["totalValueOfPayments"] == "10 USD"
    assert after["totalValues"][0]["totalValueOfErrors"] == "7 USD"
