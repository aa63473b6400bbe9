"""A selecting run's records are written by its chunks, each its own as its first step
(``paymentruns.selection``), not by the run's start: once per chunk, whatever crashes,
counted in the run's progress as they are written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billcycle.clock import FrozenClock
from billcycle.errors import Conflict
from billcycle.invoicing import service as invoicing
from billcycle.invoicing.models import Invoice
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.paymentruns import collect
from billcycle.runtime import Runtime
from tests.paymentruns.helpers import (
    add_method,
    balance,
    claim_collect_chunk,
    create_run,
    customer,
    default_gateway,
    gateway_charges,
    payments_of,
    read,
    records,
    set_auto_pay,
)
from tests.payments.helpers import posted_invoices
from tests.support.api import Api


def _start(api: Api, jobs: ManualDispatcher, tenant_id: int) -> tuple[str, int]:
    run = create_run(api, targetDate="2026-01-10")
    run_id = int(run["id"], 16)
    assert jobs.execute is not None
    jobs.execute(TaskCall("payment_run.start", {"tenant_id": tenant_id, "run_id": run_id}))
    return run["id"], run_id


def test_the_start_writes_no_record_and_each_chunk_counts_its_own(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    runtime.settings = runtime.settings.model_copy(
        update={"payment_run_chunk_size": 1, "payment_run_chunk_size_sqlite": 1}
    )
    first = customer(runtime, tenant_id, ["10.00", "20.00"])
    second = customer(runtime, tenant_id, ["30.00"])
    key, _run_id = _start(api, jobs, tenant_id)
    started = read(api, f"/{key}")
    assert started["status"] == "Processing"
    assert started["progress"]["chunksTotal"] == 2  # one account each
    assert started["progress"]["receivables"] == 0
    assert records(api, key) == []

    jobs.run_until_idle()
    done = read(api, f"/{key}")
    assert done["status"] == "Completed"
    assert done["progress"]["receivables"] == 3
    assert done["progress"]["processed"] == 3
    invoices = [*first.invoice_ids, *second.invoice_ids]
    assert sorted(int(r["documentId"], 16) for r in records(api, key)) == sorted(invoices)
    assert [balance(runtime, tenant_id, i) for i in invoices] == [0, 0, 0]
    assert gateway_charges(runtime, tenant_id) == 3


def test_a_chunk_retaken_after_its_records_were_written_writes_none_again(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    """The first owner writes the chunk's records (committed) and dies; the next owner
    finds them and collects each once."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    c = customer(runtime, tenant_id, ["10.00", "20.00"])
    key, run_id = _start(api, jobs, tenant_id)
    chunk = claim_collect_chunk(runtime, run_id, "doomed", machine_clock)
    taken = collect.take_chunk_records(runtime, tenant_id, run_id, chunk.first_id, chunk.last_id)
    assert taken == 2
    assert read(api, f"/{key}")["progress"]["receivables"] == 2
    # A second take (the same chunk again) writes nothing.
    assert (
        collect.take_chunk_records(runtime, tenant_id, run_id, chunk.first_id, chunk.last_id) == 0
    )

    machine_clock.advance(timedelta(seconds=runtime.settings.worker_lease_seconds + 1))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    done = read(api, f"/{key}")
    assert done["status"] == "Completed"
    assert done["progress"]["receivables"] == 2
    assert [r["result"] for r in records(api, key)] == ["Processed", "Processed"]
    assert [balance(runtime, tenant_id, i) for i in c.invoice_ids] == [0, 0]
    assert gateway_charges(runtime, tenant_id) == 2
    assert len(payments_of(runtime, tenant_id)) == 2


def test_records_a_failed_take_rolled_back_are_written_by_the_next_owner(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    """A worker that fails while writing the chunk's records (its unit of work rolled
    back) leaves none; and a worker whose lease was taken over writes none. The chunk's
    next owner writes and collects them."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    c = customer(runtime, tenant_id, ["10.00", "20.00"])
    key, run_id = _start(api, jobs, tenant_id)
    chunk = claim_collect_chunk(runtime, run_id, "doomed", machine_clock)

    class Crash(Exception):
        pass

    def crash(_ctx: object) -> bool:
        raise Crash

    with pytest.raises(Crash):
        collect.take_chunk_records(runtime, tenant_id, run_id, chunk.first_id, chunk.last_id, crash)
    with pytest.raises(Conflict):  # collect.ChunkTakenOver
        collect.take_chunk_records(
            runtime, tenant_id, run_id, chunk.first_id, chunk.last_id, lambda _ctx: False
        )
    assert records(api, key) == []
    assert read(api, f"/{key}")["progress"]["receivables"] == 0

    machine_clock.advance(timedelta(seconds=runtime.settings.worker_lease_seconds + 1))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    done = read(api, f"/{key}")
    assert done["status"] == "Completed"
    assert done["progress"]["receivables"] == 2
    assert [r["result"] for r in records(api, key)] == ["Processed", "Processed"]
    assert [balance(runtime, tenant_id, i) for i in c.invoice_ids] == [0, 0]
    assert gateway_charges(runtime, tenant_id) == 2


def test_an_invoice_posted_after_the_run_started_is_not_the_runs(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    """As when every record was selected at the start: an account between two of the
    chunk's whose invoice is posted after the start (before the chunk runs) is not
    collected by the run; the next run collects it."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    before = customer(runtime, tenant_id, ["10.00"])
    drafted = posted_invoices(runtime, tenant_id, ["20.00"], status="Draft")
    set_auto_pay(runtime, tenant_id, drafted.account_id)
    add_method(runtime, tenant_id, drafted.account_id, "tok_visa")
    after = customer(runtime, tenant_id, ["30.00"])
    key, _run_id = _start(api, jobs, tenant_id)
    assert read(api, f"/{key}")["progress"]["chunksTotal"] == 1

    clock.advance(timedelta(minutes=1))
    with runtime.service_context(tenant_id) as ctx:
        invoice = ctx.session.get(Invoice, drafted.invoice_ids[0])
        assert invoice is not None
        invoicing.post_invoice(ctx, invoice)
    jobs.run_until_idle()
    collected = sorted(int(r["documentId"], 16) for r in records(api, key))
    assert collected == sorted([before.invoice_ids[0], after.invoice_ids[0]])
    assert balance(runtime, tenant_id, drafted.invoice_ids[0]) == 2000

    later = create_run(api, targetDate="2026-01-10")
    jobs.run_until_idle()
    assert [int(r["documentId"], 16) for r in records(api, later["id"])] == drafted.invoice_ids
    assert balance(runtime, tenant_id, drafted.invoice_ids[0]) == 0
