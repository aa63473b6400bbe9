"""A slice's decision read taken ahead (``paymentruns.ahead``, SQLite): while the unit of
work before a slice's begin runs, another thread reads the slice's decisions on a
connection of its own; the begin uses them only when nothing but that unit committed
since (``PRAGMA data_version`` on the collecting thread's pinned connection) and that
unit could not have moved them. A payment another connection commits meanwhile makes the
begin read again under the write lock: nothing is collected twice. PostgreSQL reads
under its own transaction, as before."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billcycle.clock import FrozenClock
from billcycle.context import ServiceContext
from billcycle.jobs import chunks
from billcycle.jobs.chunks import ClaimedChunk
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.paymentruns import ahead, collect
from billcycle.payments import charging
from billcycle.payments.models import Payment
from billcycle.payments.statuses import PaymentStatus
from billcycle.runtime import Runtime
from tests.paymentruns.helpers import (
    Customer,
    balance,
    claim_collect_chunk,
    collect_one_record_a_slice,
    customer,
    default_gateway,
    gateway_charges,
    payments_of,
    records,
    started_run,
)
from tests.payments.helpers import pay
from tests.support.api import Api


@pytest.fixture(autouse=True)
def _every_finish_renews(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every finish renews the chunk's lease too, so that the n-th renewal is the unit
    of work ``_collect`` names (a finish otherwise renews only an old lease)."""
    monkeypatch.setattr(collect, "FINISH_RENEWS_AFTER_SECONDS", 0.0)


def _customers(runtime: Runtime, tenant_id: int, count: int) -> list[Customer]:
    return [customer(runtime, tenant_id, ["10.00"], "tok_visa") for _ in range(count)]


def _results(api: Api, run_key: str) -> dict[int, tuple[str, str | None]]:
    return {
        int(r["documentId"], 16): (r["result"], r.get("errorCode")) for r in records(api, run_key)
    }


def _collect(
    runtime: Runtime,
    tenant_id: int,
    run_id: int,
    chunk: ClaimedChunk,
    machine_clock: FrozenClock,
    reader: ahead.DecisionsAhead,
    at_renewal: dict[int, collect.KeepLease] | None = None,
) -> None:
    """The chunk collected in slices of two accounts (in flight 1), through ``reader``;
    ``at_renewal``: work done at the n-th lease renewal (1: begin 1, 2: begin 2,
    3: finish 1, 4: begin 3, 5: finish 2, ...), before the lease is written."""
    renewals: list[int] = []

    def keep(ctx: ServiceContext) -> bool:
        renewals.append(len(renewals) + 1)
        work = (at_renewal or {}).get(len(renewals))
        if work is not None:
            work(ctx)
        return chunks.extend_lease(
            ctx.session,
            chunk.id,
            worker="ahead",
            now=machine_clock.now(),
            lease=timedelta(seconds=runtime.settings.worker_lease_seconds),
        )

    try:
        collect_one_record_a_slice(runtime, tenant_id, run_id, chunk, keep, ahead=reader)
    finally:
        reader.close()


def test_each_slice_after_the_first_takes_its_decisions_read_ahead(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    """Eight accounts, four slices: slice 2 read while slice 1 is begun, slices 3 and 4
    while the slice two before is finished; the collecting thread's own commits between
    leave ``data_version`` as it was, so every read ahead is used (SQLite), and each
    record ends as it would without it."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    customers = _customers(runtime, tenant_id, 8)
    run_key, run_id = started_run(api, jobs, runtime, tenant_id)
    chunk = claim_collect_chunk(runtime, run_id, "ahead", machine_clock)
    reader = ahead.DecisionsAhead(runtime, tenant_id)
    _collect(runtime, tenant_id, run_id, chunk, machine_clock, reader)

    sqlite = runtime.engine.dialect.name == "sqlite"
    assert (reader.used, reader.read_again) == ((3, 0) if sqlite else (0, 0))
    results = _results(api, run_key)
    invoices = [c.invoice_ids[0] for c in customers]
    assert [results[i][0] for i in invoices] == ["Processed"] * 8
    assert gateway_charges(runtime, tenant_id) == 8
    assert len(payments_of(runtime, tenant_id)) == 8
    assert [balance(runtime, tenant_id, i) for i in invoices] == [0] * 8


def test_a_payment_another_connection_commits_meanwhile_makes_the_begin_read_again(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    """Slice 3's decisions are read ahead when slice 1's finish starts; then, before
    that finish writes, another connection commits a payment of one of slice 3's
    invoices. The rows read ahead say "charge it": the begin finds ``data_version``
    changed, reads again under the write lock, and the record has nothing to collect:
    the invoice is paid once, not charged on top."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    customers = _customers(runtime, tenant_id, 8)
    run_key, run_id = started_run(api, jobs, runtime, tenant_id)
    chunk = claim_collect_chunk(runtime, run_id, "ahead", machine_clock)
    reader = ahead.DecisionsAhead(runtime, tenant_id)
    paid = customers[4]  # slice 3: accounts 5 and 6

    def pay_meanwhile(_finish: ServiceContext) -> bool:
        reader.wait()  # the rows read ahead: before the payment
        with runtime.service_context(tenant_id) as other:
            pay(other, paid.account_id, "10.00", (paid.invoice_ids[0], None))
        return True

    _collect(runtime, tenant_id, run_id, chunk, machine_clock, reader, {3: pay_meanwhile})

    sqlite = runtime.engine.dialect.name == "sqlite"
    # Slices 2 and 4 read ahead and used; slice 3 read again under the lock.
    assert (reader.used, reader.read_again) == ((2, 1) if sqlite else (0, 0))
    results = _results(api, run_key)
    invoices = [c.invoice_ids[0] for c in customers]
    assert results[paid.invoice_ids[0]] == ("Error", "NothingToCollect")
    assert [results[i][0] for i in invoices if i != paid.invoice_ids[0]] == ["Processed"] * 7
    assert gateway_charges(runtime, tenant_id) == 7
    assert [balance(runtime, tenant_id, i) for i in invoices] == [0] * 8
    mine = [p for p in payments_of(runtime, tenant_id) if p.account_id == paid.account_id]
    assert len(mine) == 1  # the payment taken meanwhile, no charge besides


def test_rows_a_unit_of_work_between_may_have_moved_are_not_used() -> None:
    """The unit between the read and the begin (a finish, the first begin) writes its
    own range's records, its payments' invoices and methods: rows meeting any of those
    are read again (columns 4 and 6 are the row's invoice and method)."""
    between = ahead.Finishing(10, 19, frozenset({100}), frozenset({7}))
    args = {"first_account": 20, "last_account": 29}
    row = (1, "C", 1000, 20, 200, "USD", 8)
    assert not between.touches(args, [row])
    assert between.touches({"first_account": 15, "last_account": 29}, [row])
    assert between.touches({"first_account": 0, "last_account": 10}, [row])
    assert between.touches(args, [row, (2, "C", 1000, 21, 100, "USD", 9)])
    assert between.touches(args, [row, (2, "C", 1000, 21, 201, "USD", 7)])
    assert not between.touches(args, [(3, "M", 1000, 22, 202, "USD", None)])


def test_a_finish_prepared_by_the_send_thread_settles_only_payments_still_processing(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    """The send thread builds the finish's rows for every payment of the slice
    (``charging.prepare_run_slice_finish``); one settled meanwhile (as the reconciler
    would) is left as it is: the finish builds its rows again for the others."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    customers = _customers(runtime, tenant_id, 3)
    _run_key, run_id = started_run(api, jobs, runtime, tenant_id)
    chunk = claim_collect_chunk(runtime, run_id, "ahead", machine_clock)
    begun = collect.begin_chunk(runtime, tenant_id, run_id, chunk.first_id, chunk.last_id)
    assert begun is not None
    assert begun.run_slice is not None
    assert len(begun.run_slice) == 3
    sent = collect.send_chunk(runtime, tenant_id, begun, in_flight=1)
    assert sent.staged is not None
    assert sent.staged.prepared is not None
    assert len(sent.staged.prepared.staged) == 3
    gone = begun.run_slice.payment_ids[1]
    with runtime.service_context(tenant_id) as ctx:
        # A recovery wrote the slice's payments Processing meanwhile (its slice in
        # flight taken: the reconciler's sweep), and the reconciler settled one.
        assert charging.recover_run_slices(ctx, run_id, chunk.first_id, chunk.last_id) == 3
        payment = ctx.session.get(Payment, gone)
        assert payment is not None
        payment.status = PaymentStatus.ERROR.value
        payment.pending_invoice_id = None
    collect.finish_chunk(runtime, tenant_id, begun, sent)

    by_id = {p.id: p.status for p in payments_of(runtime, tenant_id)}
    assert [by_id[i] for i in begun.run_slice.payment_ids] == ["Processed", "Error", "Processed"]
    invoices = [c.invoice_ids[0] for c in customers]
    paid = {invoice: balance(runtime, tenant_id, invoice) for invoice in invoices}
    gone_invoice = begun.run_slice.invoices[1]
    assert paid == {i: (1000 if i == gone_invoice else 0) for i in invoices}
