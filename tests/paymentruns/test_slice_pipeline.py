"""A chunk collected in several slices, pipelined (``collect.collect_pipelined``: slice
N+1 begun and N-1 finished while N's calls are out in a thread of their own): every
slice ends as it would alone, a failure mid-pipeline records the calls already out and
charges nothing more, and a worker that dies with slices in flight leaves nothing a
re-run charges twice. On SQLite a chunk is several slices by default
(``payment_run_chunk_size_sqlite``); here slices of two accounts make it so on both
databases."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from billcycle.clock import FrozenClock
from billcycle.context import ServiceContext
from billcycle.jobs import chunks
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.paymentruns import collect
from billcycle.paymentruns import repository as runs_repo
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
    read,
    records,
    started_run,
)
from tests.support.api import Api

# Slices of max(2 * in_flight, slice_records) = 2 records: one invoice an account, so
# two accounts a slice.
SMALL_SLICES = {"payment_run_slice_records": 1, "payment_run_in_flight": 1}


def _small_slices(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(update=SMALL_SLICES)


def _customers(runtime: Runtime, tenant_id: int, tokens: list[str]) -> list[Customer]:
    return [customer(runtime, tenant_id, ["10.00"], token) for token in tokens]


def _results(api: Api, run_key: str) -> dict[int, str]:
    return {int(r["documentId"], 16): r["result"] for r in records(api, run_key)}


def test_a_chunk_of_several_slices_ends_as_each_slice_would_alone(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """Seven accounts in one chunk, four slices, a decline in the second slice and one in
    the last (the slice still out when the loop ends): each record ends with its own
    payment's outcome, each invoice charged once."""
    tenant_id = api.tenant.tenant_id
    _small_slices(runtime)
    default_gateway(runtime, tenant_id)
    tokens = [
        "tok_visa",
        "tok_visa",
        "tok_chargeDeclined",
        "tok_visa",
        "tok_visa",
        "tok_visa",
        "tok_chargeDeclined",
    ]
    customers = _customers(runtime, tenant_id, tokens)
    run_key, run_id = started_run(api, jobs, runtime, tenant_id)
    with runtime.service_context(tenant_id) as ctx:
        assert read(api, f"/{run_key}")["status"] == "Processing"
        slices = runs_repo.open_slices(
            ctx.session,
            tenant_id,
            run_id,
            customers[0].account_id,
            customers[-1].account_id,
            2,
        )
    assert len(slices) == 4  # several slices, one chunk
    jobs.run_until_idle()

    after = read(api, f"/{run_key}")
    assert after["status"] == "Completed"
    results = _results(api, run_key)
    for c, token in zip(customers, tokens, strict=True):
        expected = "Error" if token == "tok_chargeDeclined" else "Processed"
        assert results[c.invoice_ids[0]] == expected
        assert balance(runtime, tenant_id, c.invoice_ids[0]) == (1000 if expected == "Error" else 0)
    assert gateway_charges(runtime, tenant_id) == len(tokens)
    statuses = sorted(p.status for p in payments_of(runtime, tenant_id))
    assert statuses == ["Error", "Error"] + ["Processed"] * 5


def test_a_failure_mid_pipeline_records_the_calls_out_and_charges_nothing_more(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    machine_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chunk's lease is taken over when the third slice begins: the first slice is
    finished, the second (its calls out) is finished on the way out, the third and
    fourth are not charged; the new owner charges those, and no invoice twice."""
    # Every finish renews the lease too (however recent the begin's renewal).
    monkeypatch.setattr(collect, "FINISH_RENEWS_AFTER_SECONDS", 0.0)
    tenant_id = api.tenant.tenant_id
    _small_slices(runtime)
    default_gateway(runtime, tenant_id)
    customers = _customers(runtime, tenant_id, ["tok_visa"] * 8)
    run_key, run_id = started_run(api, jobs, runtime, tenant_id)
    chunk = claim_collect_chunk(runtime, run_id, "first", machine_clock)
    lease = timedelta(seconds=runtime.settings.worker_lease_seconds)
    renewals: list[str] = []

    def lease_of(worker: str, steal_at: int | None = None) -> collect.KeepLease:
        def keep(phase: ServiceContext) -> bool:
            renewals.append(worker)
            if steal_at is not None and len(renewals) == steal_at:
                # The lease ran out meanwhile and another worker claimed the chunk.
                machine_clock.advance(lease + timedelta(seconds=1))
                assert claim_collect_chunk(runtime, run_id, "second", machine_clock).id == chunk.id
            return chunks.extend_lease(
                phase.session, chunk.id, worker=worker, now=machine_clock.now(), lease=lease
            )

        return keep

    # Renewals: begin 1, begin 2, finish 1, begin 3 (taken over here).
    with pytest.raises(collect.ChunkTakenOver):
        collect_one_record_a_slice(runtime, tenant_id, run_id, chunk, lease_of("first", steal_at=4))
    results = _results(api, run_key)
    invoices = [c.invoice_ids[0] for c in customers]
    assert [results[i] for i in invoices[:4]] == ["Processed"] * 4
    assert [results[i] for i in invoices[4:]] == [None] * 4  # never begun
    assert gateway_charges(runtime, tenant_id) == 4
    assert [balance(runtime, tenant_id, i) for i in invoices] == [0] * 4 + [1000] * 4

    collect_one_record_a_slice(runtime, tenant_id, run_id, chunk, lease_of("second"))
    results = _results(api, run_key)
    assert [results[i] for i in invoices] == ["Processed"] * 8
    assert gateway_charges(runtime, tenant_id) == 8
    assert len(payments_of(runtime, tenant_id)) == 8
    assert [balance(runtime, tenant_id, i) for i in invoices] == [0] * 8


def test_each_begin_renews_the_lease_a_finish_only_when_the_last_renewal_is_old(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    machine_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four slices: each begin renews the chunk's lease (and checks it is still ours);
    a finish renews it only when the last renewal is ``FINISH_RENEWS_AFTER_SECONDS``
    old, so with a long interval none of the four finishes does, with none each does."""
    tenant_id = api.tenant.tenant_id
    _small_slices(runtime)
    default_gateway(runtime, tenant_id)
    _customers(runtime, tenant_id, ["tok_visa"] * 8)
    run_key, run_id = started_run(api, jobs, runtime, tenant_id)
    chunk = claim_collect_chunk(runtime, run_id, "first", machine_clock)
    lease = timedelta(seconds=runtime.settings.worker_lease_seconds)
    renewed: list[datetime] = []

    def keep(phase: ServiceContext) -> bool:
        renewed.append(machine_clock.now())
        return chunks.extend_lease(
            phase.session, chunk.id, worker="first", now=machine_clock.now(), lease=lease
        )

    monkeypatch.setattr(collect, "FINISH_RENEWS_AFTER_SECONDS", 3600.0)
    collect_one_record_a_slice(runtime, tenant_id, run_id, chunk, keep)
    assert len(renewed) == 4  # the four begins
    assert set(_results(api, run_key).values()) == {"Processed"}
    assert gateway_charges(runtime, tenant_id) == 8

    # A re-run of the chunk (nothing left to charge, the same four slices): each begin
    # and each finish renews when every renewal counts as old.
    monkeypatch.setattr(collect, "FINISH_RENEWS_AFTER_SECONDS", 0.0)
    renewed.clear()
    collect_one_record_a_slice(runtime, tenant_id, run_id, chunk, keep)
    assert len(renewed) == 8
    assert gateway_charges(runtime, tenant_id) == 8


def test_a_worker_dying_with_slices_in_flight_leaves_nothing_charged_twice(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    clock: FrozenClock,
    machine_clock: FrozenClock,
) -> None:
    """What the pipeline leaves when its worker dies between phases: slice 1 finished,
    slice 2 begun and sent (its answers never recorded), slice 3 begun (its calls never
    sent), slice 4 untouched. The chunk's next owner charges slice 4 only; slices 2 and
    3 stay Processing until the reconciler asks the gateway with their attempt keys."""
    tenant_id = api.tenant.tenant_id
    _small_slices(runtime)
    default_gateway(runtime, tenant_id)
    customers = _customers(runtime, tenant_id, ["tok_visa"] * 8)
    run_key, run_id = started_run(api, jobs, runtime, tenant_id)
    chunk = claim_collect_chunk(runtime, run_id, "doomed", machine_clock)
    with runtime.service_context(tenant_id) as ctx:
        slices = runs_repo.open_slices(
            ctx.session, tenant_id, run_id, chunk.first_id, chunk.last_id, 2
        )
    assert len(slices) == 4
    begun = [collect.begin_chunk(runtime, tenant_id, run_id, lo, hi) for lo, hi in slices[:3]]
    assert all(b is not None for b in begun)
    first, second, _third = begun
    assert first is not None
    assert second is not None
    sent = collect.send_chunk(runtime, tenant_id, first, in_flight=1)
    collect.send_chunk(runtime, tenant_id, second, in_flight=1)
    collect.finish_chunk(runtime, tenant_id, first, sent)
    assert gateway_charges(runtime, tenant_id) == 4  # the worker dies here

    machine_clock.advance(timedelta(seconds=runtime.settings.worker_lease_seconds + 1))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    assert read(api, f"/{run_key}")["status"] == "Completed"
    invoices = [c.invoice_ids[0] for c in customers]
    results = _results(api, run_key)
    assert [results[i] for i in invoices] == ["Processed"] * 2 + ["Processing"] * 4 + [
        "Processed"
    ] * 2
    assert gateway_charges(runtime, tenant_id) == 6  # slice 4's two, nothing again
    assert len(payments_of(runtime, tenant_id)) == 8

    # The reconciler asks the gateway with each attempt key: slice 2's sales were
    # booked (approved), slice 3's never reached it (failed, the invoices open again).
    clock.advance(timedelta(seconds=runtime.settings.payment_reconcile_after_seconds + 1))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    results = _results(api, run_key)
    assert [results[i] for i in invoices] == ["Processed"] * 4 + ["Error"] * 2 + ["Processed"] * 2
    assert [balance(runtime, tenant_id, i) for i in invoices] == [0] * 4 + [1000] * 2 + [0] * 2
    assert gateway_charges(runtime, tenant_id) == 6
    assert (
        sorted(p.status for p in payments_of(runtime, tenant_id))
        == ["Error"] * 2 + ["Processed"] * 6
    )
