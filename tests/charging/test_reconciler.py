"""The reconciler on both databases: it asks the gateway about Processing payments by
their attempt key and settles each once; a charge the gateway never received fails, and
its order can be retried with a new key (lago-api #3042); it never charges."""

from __future__ import annotations

import threading
from datetime import timedelta

from billcycle.clock import FrozenClock
from billcycle.gateways.interface import VoidRequest
from billcycle.ledger import service as ledger
from billcycle.payments import charging, reconciler
from billcycle.payments.statuses import GatewayState, PaymentStatus
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.charging.helpers import Sleeps, balance, charge_rows, method, payment, request, setup
from tests.gateways.helpers import SETTLE_AFTER, open_test_gateway
from tests.payments.helpers import check_invariants

NOW = timedelta(0)


def sweep(runtime: Runtime, tenant_id: int) -> list[charging.ChargeOutcome]:
    """One sweep over the tenant's payments (the suite's database is shared by tests)."""
    return reconciler.reconcile_due(runtime, older_than=NOW, sleep=Sleeps(), tenant_id=tenant_id)


def test_a_pending_charge_is_settled_when_the_gateway_settles_it(
    runtime: Runtime, tenant: NewTenant, machine_clock: FrozenClock
) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["100"], token="tok_pendingThenSettled")
    (invoice,) = s.invoice_ids
    outcome = charging.charge_now(runtime, t, request(s, 10000, (invoice, None)))
    assert outcome.pending
    assert outcome.payment_id is not None
    (still,) = sweep(runtime, t)
    assert still.pending
    assert balance(runtime, t, invoice) == 10000
    machine_clock.advance(timedelta(seconds=SETTLE_AFTER))
    (done,) = sweep(runtime, t)
    assert done.succeeded
    assert done.status == PaymentStatus.PROCESSED
    assert balance(runtime, t, invoice) == 0
    assert sweep(runtime, t) == []  # nothing left Processing
    assert len(charge_rows(runtime, t)) == 1
    used = method(runtime, t, s.method_id)
    assert used.total_processed_payments == 1
    with runtime.service_context(t) as ctx:
        check_invariants(ctx)


def test_a_timed_out_charge_is_found_approved(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["100"], token="tok_timeoutThenApproved")
    (invoice,) = s.invoice_ids
    outcome = charging.charge_now(runtime, t, request(s, 10000, (invoice, None)))
    assert outcome.pending
    assert outcome.payment_id is not None
    # Asked twice, settled once.
    assert reconciler.reconcile_payment(runtime, t, outcome.payment_id) is not None
    assert reconciler.reconcile_payment(runtime, t, outcome.payment_id) is None
    assert payment(runtime, t, outcome.payment_id).status == PaymentStatus.PROCESSED
    assert balance(runtime, t, invoice) == 0
    assert len(charge_rows(runtime, t)) == 1
    with runtime.service_context(t) as ctx:
        check_invariants(ctx)


def test_a_charge_never_received_fails_and_its_order_is_retried_with_a_new_key(
    runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["100"])
    (invoice,) = s.invoice_ids
    order = request(s, 10000, (invoice, None), gateway_order_id="INV-2026-1")
    # Begun and committed, then the process died before the gateway heard of it.
    with runtime.service_context(t) as ctx:
        [lost] = charging.begin_charges(ctx, [order])
    assert lost.payment_id is not None
    # While it is Processing, the order cannot be sent again (it might be charged).
    assert charging.charge_now(runtime, t, order).error is not None
    (failed,) = sweep(runtime, t)
    assert failed.status == PaymentStatus.ERROR
    stuck = payment(runtime, t, lost.payment_id)
    assert stuck.gateway_state == GatewayState.NOT_SUBMITTED
    assert charge_rows(runtime, t) == []
    # "Never received" is no sale: the method's counters are untouched.
    assert method(runtime, t, s.method_id).num_consecutive_failures == 0
    retried = charging.charge_now(runtime, t, order)
    assert retried.succeeded
    assert retried.payment_id is not None
    assert payment(runtime, t, retried.payment_id).attempt_key == "INV-2026-1/2"
    assert [row.idempotency_key for row in charge_rows(runtime, t)] == ["INV-2026-1/2"]
    assert balance(runtime, t, invoice) == 0
    with runtime.service_context(t) as ctx:
        check_invariants(ctx)


def test_a_voided_charge_fails(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["100"], token="tok_pendingThenSettled")
    (invoice,) = s.invoice_ids
    outcome = charging.charge_now(runtime, t, request(s, 10000, (invoice, None)))
    assert outcome.transaction_id is not None
    assert outcome.payment_id is not None
    gateway = open_test_gateway(runtime, t, Sleeps())
    gateway.void(VoidRequest(idempotency_key="void-1", transaction_id=outcome.transaction_id))
    (voided,) = sweep(runtime, t)
    assert voided.status == PaymentStatus.ERROR
    assert payment(runtime, t, outcome.payment_id).gateway_state == GatewayState.FAILED_TO_SETTLE
    assert balance(runtime, t, invoice) == 10000
    with runtime.service_context(t) as ctx:
        check_invariants(ctx)
        assert charging.invoices_awaiting_settlement(ctx, [invoice]) == set()


def test_the_reconciler_and_a_late_finish_settle_once(runtime: Runtime, tenant: NewTenant) -> None:
    """The charging process finishes while the reconciler settles the same payment (two
    threads): one Processed payment, its money received once, the invoice paid once."""
    t = tenant.tenant_id
    s = setup(runtime, t, ["100"])
    (invoice,) = s.invoice_ids
    with runtime.service_context(t) as ctx:
        pending = charging.begin_charges(ctx, [request(s, 10000, (invoice, None))])
    answers = charging.send_charges(runtime, t, pending, sleep=Sleeps())
    (charge,) = pending
    assert charge.payment_id is not None
    payment_id = charge.payment_id
    errors: list[BaseException] = []

    def finish() -> None:
        try:
            with runtime.service_context(t) as ctx:
                charging.finish_charges(ctx, answers)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def reconcile() -> None:
        try:
            reconciler.reconcile_payment(runtime, t, payment_id, sleep=Sleeps())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=finish), threading.Thread(target=reconcile)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert payment(runtime, t, payment_id).status == PaymentStatus.PROCESSED
    assert balance(runtime, t, invoice) == 0
    assert method(runtime, t, s.method_id).total_processed_payments == 1
    with runtime.service_context(t) as ctx:
        totals = ledger.payment_totals(ctx.session, t, [payment_id])[payment_id]
        assert totals.by_type == {"PaymentReceived": 10000, "Payment": 10000}
        check_invariants(ctx)
    assert len(charge_rows(runtime, t)) == 1
