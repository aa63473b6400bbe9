"""The set-based chunk (``paymentruns.setbased``) settles a run exactly as the row-by-row
chunk does: the same mix of customers (approvals, every kind of decline, pending and
timed-out sales, no method, a closed method, a retry rule to ask, two invoices of one
account) is collected once each way, in two tenants, and every record, payment, balance,
gateway charge and collections event comes out the same."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from billcycle.collections.models import CollectionEvent
from billcycle.events.models import Event
from billcycle.gateways.models import TestGatewayCharge
from billcycle.gateways.test_gateway import charge_book
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.ledger.models import LedgerEntry
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.statuses import PaymentMethodStatus
from billcycle.paymentruns import chunk_repository as chunk_repo
from billcycle.paymentruns import setbased
from billcycle.payments import charging
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.gateways.helpers import configure_test_gateway
from tests.paymentruns.helpers import (
    Customer,
    balance,
    customer,
    default_gateway,
    payments_of,
    read,
    records,
    run_to_end,
    set_failures,
    subscribe_all,
)
from tests.support.api import Api, api_for

# (amounts of the account's posted invoices, its default card's token, how it is set up)
MIX: list[tuple[list[str], str | None, str]] = [
    (["10.00"], "tok_visa", ""),
    (["11.00", "4.00"], "tok_visa", ""),
    (["12.00"], "tok_chargeDeclined", ""),
    (["13.00"], "tok_chargeDeclinedInsufficientFunds", ""),
    (["14.00"], "tok_chargeDeclinedExpiredCard", ""),
    (["15.00"], "tok_chargeDeclinedProcessingError", ""),
    (["16.00"], "tok_chargeCustomerFail", ""),
    (["17.00"], "tok_pendingThenSettled", ""),
    (["18.00"], "tok_timeoutThenApproved", ""),
    (["19.00"], None, ""),
    (["20.00"], "tok_visa", "closed"),
    (["21.00"], "tok_visa", "failures"),
    (["22.00"], "tok_mastercard", ""),
]


def _collect(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    gateway_settings: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Set the mix up in ``api``'s tenant, run a payment run, and describe the outcome
    with nothing that differs between tenants (ids, numbers, keys)."""
    tenant_id = api.tenant.tenant_id
    # An endpoint subscribes to every event: the run writes its payments' events.
    subscribe_all(runtime, tenant_id)
    if gateway_settings is None:
        default_gateway(runtime, tenant_id)
    else:
        configure_test_gateway(runtime, tenant_id, "per-call", gateway_settings, make_default=True)
    made: list[Customer] = []
    for amounts, token, how in MIX:
        status = PaymentMethodStatus.CLOSED if how == "closed" else PaymentMethodStatus.ACTIVE
        c = customer(runtime, tenant_id, amounts, token, method_status=status)
        if how == "failures" and c.method_id is not None:
            set_failures(runtime, tenant_id, c.method_id, 10)  # past the default maximum
        made.append(c)
    where = {
        f"{invoice_id:032x}": (i, j)
        for i, c in enumerate(made)
        for j, invoice_id in enumerate(c.invoice_ids)
    }

    run = run_to_end(api, jobs, targetDate="2026-01-10")

    found: dict[tuple[int, int], Any] = {}
    for record in records(api, run["id"]):
        found[where[record["documentId"]]] = (
            record["result"],
            record["errorCode"],
            record["errorMessage"],
            record["amountToCollect"],
            record["amountCollected"],
            [
                (t["type"], t["status"], t["amount"], t.get("applied"))
                for t in record.get("transactions") or []
            ],
        )
    owner = {c.account_id: i for i, c in enumerate(made)}
    payments = sorted(
        (
            owner[p.account_id],
            p.status,
            p.amount_minor,
            p.gateway_response_code,
            p.attempt_source,
            p.gateway_state,
            p.gateway_response,
            p.decline_category,
            p.settled_at is not None,
            p.gateway_transaction_id is not None,
        )
        for p in payments_of(runtime, tenant_id)
    )
    with charge_book(runtime.engine)() as book:
        charges = sorted(
            book.execute(
                select(TestGatewayCharge.state, TestGatewayCharge.amount_minor).where(
                    TestGatewayCharge.tenant_id == tenant_id
                )
            ).all()
        )
    with runtime.service_context(tenant_id) as ctx:
        events = Counter(
            dict(
                ctx.session.execute(
                    select(CollectionEvent.event_type, func.count())
                    .where(CollectionEvent.tenant_id == tenant_id)
                    .group_by(CollectionEvent.event_type)
                ).all()
            )
        )
        # Each outcome event's words and details, as the payment's outcome gave them.
        outcome_events = sorted(
            (
                owner[e.account_id],
                e.event_type,
                e.gateway_code,
                e.message,
                e.to_value,
                json.dumps(e.details, sort_keys=True),
            )
            for e in ctx.session.scalars(
                select(CollectionEvent).where(
                    CollectionEvent.tenant_id == tenant_id,
                    CollectionEvent.payment_id.is_not(None),
                )
            )
        )
        # The AR summaries moved with the ledger, whichever way the run went.
        drift = open_balances.differences(ctx.session, tenant_id)
        drift_accounts = open_balances.account_differences(ctx.session, tenant_id)
        methods = sorted(
            (
                owner[m.account_id],
                m.num_consecutive_failures,
                m.total_processed_payments,
                m.total_error_payments,
                m.last_transaction,
                m.last_failed_sale_at is not None,
            )
            for m in ctx.session.scalars(
                select(PaymentMethod).where(PaymentMethod.tenant_id == tenant_id)
            )
        )
        outbox = Counter(
            dict(
                ctx.session.execute(
                    select(Event.type, func.count())
                    .where(Event.tenant_id == tenant_id, Event.type.like("payment.%"))
                    .group_by(Event.type)
                ).all()
            )
        )
        entries = sorted(
            (owner[e.account_id], e.entry_type, e.amount_minor, e.invoice_id is not None)
            for e in ctx.session.scalars(
                select(LedgerEntry).where(
                    LedgerEntry.tenant_id == tenant_id, LedgerEntry.payment_id.is_not(None)
                )
            )
        )
    progress = run["progress"]
    # The run's summary (counts and totals per currency) as the API answers it.
    summary = {
        k: v
        for k, v in read(api, f"/{run['id']}/summary").items()
        if k not in ("paymentRunId", "paymentRunNumber", "id", "number")
    }
    return {
        "status": run["status"],
        "summary": summary,
        "progress": {k: v for k, v in progress.items() if not k.startswith("chunks")},
        "records": found,
        "payments": payments,
        "balances": [[balance(runtime, tenant_id, i) for i in c.invoice_ids] for c in made],
        "charges": charges,
        "collections": events,
        "outcome_events": outcome_events,
        "drift": drift,
        "drift_accounts": drift_accounts,
        "methods": methods,
        "events": outbox,
        "entries": entries,
    }


def test_the_set_based_chunk_settles_a_mixed_run_as_row_by_row_does(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    other_tenant: NewTenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sliced: list[int] = []
    real_begin = setbased.begin

    def counted(*args: Any, **kwargs: Any) -> None:
        sliced.append(1)
        real_begin(*args, **kwargs)

    monkeypatch.setattr(setbased, "begin", counted)
    settings = runtime.settings
    runtime.settings = settings.model_copy(update={"payment_run_set_based": False})
    row_by_row = _collect(api, runtime, jobs)
    assert not sliced
    runtime.settings = settings.model_copy(update={"payment_run_set_based": True})
    as_sets = _collect(api_for(api.client, other_tenant), runtime, jobs)
    assert sliced  # the second run went the set-based way

    assert as_sets == row_by_row
    assert as_sets["drift"] == []
    assert as_sets["drift_accounts"] == []
    # And the mix is what it says: approvals paid, each decline its code, pending and
    # timed-out sales still Processing (the reconciler settles them), the retry rule's
    # refusal worded.
    outcome = as_sets["records"]
    assert outcome[(0, 0)][:2] == ("Processed", None)
    assert outcome[(1, 0)][0] == outcome[(1, 1)][0] == "Processed"
    assert outcome[(2, 0)][:2] == ("Error", "generic_decline")
    assert outcome[(3, 0)][:2] == ("Error", "insufficient_funds")
    assert (9, 0) not in outcome
    assert (10, 0) not in outcome
    assert outcome[(11, 0)][:2] == ("Error", "RetryRuleNotMet")
    assert as_sets["balances"][0] == [0]
    assert as_sets["balances"][1] == [0, 0]
    assert as_sets["balances"][2] == [1200]
    processing = [p for p in as_sets["payments"] if p[1] == "Processing"]
    assert sorted(p[0] for p in processing) == [7, 8]


@pytest.mark.parametrize("staged_path", ["charges", "run_slice"])
def test_the_staged_settle_records_every_answer_as_one_by_one_does(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    other_tenant: NewTenant,
    monkeypatch: pytest.MonkeyPatch,
    staged_path: str,
) -> None:
    """The answers of a slice settled as one staged set (``charging._settle_staged`` for
    the row-by-row chunk's charges, ``charging.finish_run_slice`` for the set-based
    chunk's column slice: approvals, declines, pending and timed-out sales) and the
    failed records' results written from their payments
    (``chunk_repository.fail_records``) leave the payments, ledger, AR summaries, method
    counters, events and records exactly as recording each answer on its own
    (``record_answer``) and each record in Python do: the same mix run once each way."""
    staged: list[int] = []
    real = charging._settle_staged
    real_slice = charging.finish_run_slice

    def counted(ctx: Any, answers: Any) -> Any:
        found = real(ctx, answers)
        staged.append(len(found))
        return found

    def counted_slice(ctx: Any, charges: Any, answers: Any, **kwargs: Any) -> Any:
        staged.append(len(charges))
        return real_slice(ctx, charges, answers, **kwargs)

    # The reference: the row-by-row chunk, each answer recorded on its own, and the
    # failed records' results written row by row from the outcomes (``collect._finish``).
    settings = runtime.settings
    monkeypatch.setattr(
        runtime, "settings", settings.model_copy(update={"payment_run_set_based": False})
    )
    monkeypatch.setattr(charging, "_settle_staged", lambda ctx, answers: {})
    real_fail = chunk_repo.fail_records
    monkeypatch.setattr(chunk_repo, "fail_records", lambda *a, **k: set())
    one_by_one = _collect(api, runtime, jobs)
    monkeypatch.setattr(chunk_repo, "fail_records", real_fail)
    if staged_path == "charges":
        monkeypatch.setattr(charging, "_settle_staged", counted)
    else:
        monkeypatch.setattr(charging, "_settle_staged", real)
        monkeypatch.setattr(charging, "finish_run_slice", counted_slice)
        monkeypatch.setattr(
            runtime, "settings", settings.model_copy(update={"payment_run_set_based": True})
        )
    as_set = _collect(api_for(api.client, other_tenant), runtime, jobs)
    assert sum(staged) >= 10  # every sent charge of the mix went the staged way

    assert as_set == one_by_one
    assert as_set["drift"] == []
    assert as_set["drift_accounts"] == []
    assert as_set["events"]["payment.failed"] == 5
    assert as_set["events"]["payment.processed"] == 4


def test_a_gateway_without_a_batch_api_gets_the_slice_call_by_call(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    other_tenant: NewTenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The set-based slice sent to a gateway without a column batch API (the test
    gateway with ``batch_sales: 0``: one call a sale, ``in_flight`` at once, through
    ``charging.send_charges``) settles the mix exactly as the column batch does."""
    per_call: list[int] = []
    real = charging.send_charges

    def counted(*args: Any, **kwargs: Any) -> Any:
        answers = real(*args, **kwargs)
        per_call.append(len(answers))
        return answers

    monkeypatch.setattr(charging, "send_charges", counted)
    batched = _collect(api, runtime, jobs)
    assert per_call == []  # every sale of the mix went by the column batch
    called = _collect(
        api_for(api.client, other_tenant),
        runtime,
        jobs,
        {"settle_after_seconds": 600, "batch_sales": 0},
    )
    assert sum(per_call) >= 10

    assert called == batched
