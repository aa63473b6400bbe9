"""A payment run's slice writes each payment once, at its finish, with its outcome; from
its begin to then the slice is in flight (``payments_in_flight``): its records name
payments that do not exist yet. In flight, its invoices are awaited and its orders
taken by every other charger; a worker that dies then leaves the slice for the chunk's
next worker (or the reconciler's sweep), which writes its payments Processing with the
same numbers and attempt keys: the reconciler asks the gateway, nothing is charged
twice, nothing is lost."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.paymentruns import collect
from billcycle.payments import charging, pending_repository, reconciler
from billcycle.payments.charging import ChargeRequest
from billcycle.payments.inputs import InvoiceApplication
from billcycle.payments.statuses import GatewayState, PaymentStatus
from billcycle.runtime import Runtime
from tests.paymentruns.helpers import (
    balance,
    claim_collect_chunk,
    customer,
    default_gateway,
    gateway_charges,
    payments_of,
    read,
    records,
    started_run,
)
from tests.payments.helpers import check_invariants
from tests.support.api import Api


def test_a_worker_dead_with_a_slice_in_flight_leaves_one_charge_each_recorded_once(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    clock: FrozenClock,
    machine_clock: FrozenClock,
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    paid = customer(runtime, tenant_id, ["10.00"])
    declined = customer(runtime, tenant_id, ["20.00"], "tok_chargeDeclined")
    run_key, run_id = started_run(api, jobs, runtime, tenant_id)
    # A worker claims the chunk, begins and sends its slice, and dies before its finish.
    chunk = claim_collect_chunk(runtime, run_id, "doomed", machine_clock)
    begun = collect.begin_chunk(runtime, tenant_id, run_id, chunk.first_id, chunk.last_id)
    assert begun is not None
    assert begun.run_slice is not None
    sent = collect.send_chunk(runtime, tenant_id, begun, in_flight=4)
    assert sent.staged is not None
    assert sorted(sent.staged.kinds) == ["A", "F"]
    assert gateway_charges(runtime, tenant_id) == 2
    invoices = [paid.invoice_ids[0], declined.invoice_ids[0]]

    # In flight: no payment written, the records Processing, the invoices awaited.
    assert payments_of(runtime, tenant_id) == []
    assert [r["result"] for r in records(api, run_key)] == ["Processing", "Processing"]
    with runtime.service_context(tenant_id) as ctx:
        assert charging.invoices_awaiting_settlement(ctx, invoices) == set(invoices)
        assert pending_repository.pending_on_invoice(ctx.session, tenant_id, invoices[0]) == {
            None: 1000
        }
    # A client's charge of an in-flight invoice, or under an in-flight order, is refused.
    whole = charging.charge_now(
        runtime,
        tenant_id,
        ChargeRequest(
            account_id=paid.account_id,
            amount_minor=1000,
            invoices=(InvoiceApplication(invoices[0], Decimal("10.00")),),
        ),
    )
    assert whole.error is not None
    assert whole.payment_id is None
    order = begun.run_slice.numbers[0]
    again = charging.charge_now(
        runtime,
        tenant_id,
        ChargeRequest(
            account_id=paid.account_id, amount_minor=500, invoices=(), gateway_order_id=order
        ),
    )
    assert again.error is not None
    assert "still processing" in again.error.render()
    assert gateway_charges(runtime, tenant_id) == 2

    # The lease runs out; the chunk's next worker writes the slice's payments
    # Processing, with the numbers and attempt keys the gateway was sent.
    machine_clock.advance(timedelta(seconds=runtime.settings.worker_lease_seconds + 1))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    assert read(api, f"/{run_key}")["status"] == "Completed"
    written = {p.id: p for p in payments_of(runtime, tenant_id)}
    assert sorted(written) == sorted(begun.run_slice.payment_ids)
    for i, payment_id in enumerate(begun.run_slice.payment_ids):
        payment = written[payment_id]
        assert payment.status == PaymentStatus.PROCESSING
        assert payment.number == begun.run_slice.numbers[i]
        assert payment.attempt_key == begun.run_slice.keys[i]
        assert payment.payment_method_id == begun.run_slice.methods[i]
    assert [balance(runtime, tenant_id, i) for i in invoices] == [1000, 2000]
    assert gateway_charges(runtime, tenant_id) == 2

    # The reconciler asks the gateway by those keys: one charge recorded, one failure.
    clock.advance(timedelta(seconds=runtime.settings.payment_reconcile_after_seconds + 1))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    by_account = {p.account_id: p for p in payments_of(runtime, tenant_id)}
    assert by_account[paid.account_id].status == PaymentStatus.PROCESSED
    assert by_account[paid.account_id].gateway_state == GatewayState.SETTLED
    assert by_account[declined.account_id].status == PaymentStatus.ERROR
    assert [r["result"] for r in records(api, run_key)] == ["Processed", "Error"]
    assert [balance(runtime, tenant_id, i) for i in invoices] == [0, 2000]
    assert gateway_charges(runtime, tenant_id) == 2
    with runtime.service_context(tenant_id) as ctx:
        check_invariants(ctx)
        assert charging.invoices_awaiting_settlement(ctx, invoices) == set()


def test_a_slice_left_in_flight_is_written_by_the_reconcilers_sweep(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    clock: FrozenClock,
    machine_clock: FrozenClock,
) -> None:
    """No worker retakes the chunk (its lease still runs): the reconciler's sweep writes
    the slice's payments and settles them by asking the gateway; the slice's own finish,
    arriving after, finds them settled and records nothing twice."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    c = customer(runtime, tenant_id, ["10.00"])
    _run_key, run_id = started_run(api, jobs, runtime, tenant_id)
    chunk = claim_collect_chunk(runtime, run_id, "slow", machine_clock)
    begun = collect.begin_chunk(runtime, tenant_id, run_id, chunk.first_id, chunk.last_id)
    assert begun is not None
    sent = collect.send_chunk(runtime, tenant_id, begun, in_flight=4)
    clock.advance(timedelta(seconds=runtime.settings.payment_reconcile_after_seconds + 1))
    outcomes = reconciler.reconcile_due(runtime, tenant_id=tenant_id)
    assert [o.status for o in outcomes] == [PaymentStatus.PROCESSED]
    assert balance(runtime, tenant_id, c.invoice_ids[0]) == 0

    collect.finish_chunk(runtime, tenant_id, begun, sent)
    (payment,) = payments_of(runtime, tenant_id)
    assert payment.status == PaymentStatus.PROCESSED
    assert balance(runtime, tenant_id, c.invoice_ids[0]) == 0
    assert gateway_charges(runtime, tenant_id) == 1
    with runtime.service_context(tenant_id) as ctx:
        check_invariants(ctx)


def test_another_runs_chunk_does_not_select_an_invoice_in_flight(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    machine_clock: FrozenClock,
) -> None:
    """A second run's chunk selects its records while the first run's slice is in flight
    (its payment not written yet): the invoice is being collected, so it is not a record
    of the second run, as with a Processing payment holding it."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    c = customer(runtime, tenant_id, ["10.00"])
    _first_key, first_id = started_run(api, jobs, runtime, tenant_id)
    chunk = claim_collect_chunk(runtime, first_id, "slow", machine_clock)
    begun = collect.begin_chunk(runtime, tenant_id, first_id, chunk.first_id, chunk.last_id)
    assert begun is not None
    sent = collect.send_chunk(runtime, tenant_id, begun, in_flight=4)
    assert payments_of(runtime, tenant_id) == []

    second_key, _second_id = started_run(api, jobs, runtime, tenant_id)
    assert records(api, second_key) == []

    collect.finish_chunk(runtime, tenant_id, begun, sent)
    assert balance(runtime, tenant_id, c.invoice_ids[0]) == 0
    assert gateway_charges(runtime, tenant_id) == 1
