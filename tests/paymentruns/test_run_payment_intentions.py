"""A payment run's payment holds its one intention (its whole amount to its invoice) on
its own row rather than as an intention row (migration 0036): while it is Processing
every availability check sees its invoice as being paid, nothing is counted as paid, the
reconciler settles it onto that invoice once, and a failure frees the invoice. Both
databases."""

from __future__ import annotations

from datetime import timedelta

from billcycle.clock import FrozenClock
from billcycle.gateways.interface import VoidRequest
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.ledger import service as ledger
from billcycle.payments import charging, reconciler
from billcycle.payments.charging import ChargeRequest
from billcycle.payments.inputs import InvoiceApplication
from billcycle.payments.statuses import PaymentStatus
from billcycle.runtime import Runtime
from tests.charging.helpers import Sleeps
from tests.gateways.helpers import SETTLE_AFTER, open_test_gateway
from tests.paymentruns.helpers import (
    balance,
    create_run,
    customer,
    default_gateway,
    gateway_charges,
    payments_of,
    read,
    records,
)
from tests.payments.helpers import check_invariants
from tests.support.api import Api


def _sweep(runtime: Runtime, tenant_id: int) -> list[charging.ChargeOutcome]:
    return reconciler.reconcile_due(
        runtime, older_than=timedelta(0), sleep=Sleeps(), tenant_id=tenant_id
    )


def test_a_processing_run_payment_holds_its_invoice_until_the_reconciler_settles_it(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    c = customer(runtime, t, ["10.00"], "tok_pendingThenSettled")
    (invoice,) = c.invoice_ids
    run = create_run(api, targetDate="2026-01-10")
    jobs.run_until_idle()
    assert [r["result"] for r in records(api, run["id"])] == ["Processing"]
    (paying,) = payments_of(runtime, t)
    assert paying.status == PaymentStatus.PROCESSING

    with runtime.service_context(t) as ctx:
        # Being paid, not paid: nothing on the invoice, nothing on the account.
        assert charging.invoices_awaiting_settlement(ctx, [invoice]) == {invoice}
        assert ledger.invoice_balance(ctx.session, t, invoice) == 1000
        check_invariants(ctx)
    # Another charge of the invoice finds nothing left to take.
    other = charging.charge_now(
        runtime,
        t,
        ChargeRequest(
            account_id=c.account_id,
            amount_minor=500,
            invoices=(InvoiceApplication(invoice, None),),
        ),
        sleep=Sleeps(),
    )
    assert other.error is not None
    assert "not already being paid" in other.error.render()
    assert gateway_charges(runtime, t) == 1

    # The gateway settles it; the reconciler applies it to its invoice, once.
    machine_clock.advance(timedelta(seconds=SETTLE_AFTER))
    (done,) = _sweep(runtime, t)
    assert done.succeeded
    assert _sweep(runtime, t) == []
    (paid,) = [p for p in payments_of(runtime, t) if p.id == paying.id]
    assert paid.status == PaymentStatus.PROCESSED
    assert balance(runtime, t, invoice) == 0
    with runtime.service_context(t) as ctx:
        assert charging.invoices_awaiting_settlement(ctx, [invoice]) == set()
        check_invariants(ctx)
    wire = api.client.get(f"/zuora/v1/payments/{paid.number}", headers=api.zuora_headers)
    assert wire.status_code == 200, wire.text
    assert (wire.json()["appliedAmount"], wire.json()["unappliedAmount"]) == (10, 0)
    assert gateway_charges(runtime, t) == 1


def test_a_run_payment_that_fails_later_frees_its_invoice_for_the_next_run(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    c = customer(runtime, t, ["10.00"], "tok_pendingThenSettled")
    (invoice,) = c.invoice_ids
    create_run(api, targetDate="2026-01-10")
    jobs.run_until_idle()
    (paying,) = payments_of(runtime, t)
    assert paying.gateway_transaction_id is not None
    # While it is Processing a later run does not select the invoice.
    blocked = create_run(api, targetDate="2026-01-10")
    jobs.run_until_idle()
    assert read(api, f"/{blocked['id']}")["progress"]["receivables"] == 0

    gateway = open_test_gateway(runtime, t, Sleeps())
    voided_at = paying.gateway_transaction_id
    gateway.void(VoidRequest(idempotency_key="void-1", transaction_id=voided_at))
    (voided,) = _sweep(runtime, t)
    assert voided.status == PaymentStatus.ERROR
    assert balance(runtime, t, invoice) == 1000
    with runtime.service_context(t) as ctx:
        assert charging.invoices_awaiting_settlement(ctx, [invoice]) == set()
        check_invariants(ctx)
    # Free again: the next run collects it (and its payment holds the invoice in turn).
    again = create_run(api, targetDate="2026-01-10")
    jobs.run_until_idle()
    assert read(api, f"/{again['id']}")["progress"]["receivables"] == 1
    assert gateway_charges(runtime, t) == 3  # the first sale, its void, the new sale
    with runtime.service_context(t) as ctx:
        assert charging.invoices_awaiting_settlement(ctx, [invoice]) == {invoice}
