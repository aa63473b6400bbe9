"""A payment run survives a worker killed mid-chunk without charging twice, and a run
with a runDate starts when the scheduler's tick reaches that hour."""

from __future__ import annotations

from datetime import timedelta

from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.paymentruns import collect
from billcycle.paymentruns import service as paymentruns
from billcycle.runtime import Runtime
from tests.paymentruns.helpers import (
    PAYMENT_RUNS,
    balance,
    claim_collect_chunk,
    create_run,
    customer,
    default_gateway,
    gateway_charges,
    payments_of,
    read,
    records,
)
from tests.support.api import Api


def test_a_chunk_rerun_after_a_crash_charges_nothing_twice(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    clock: FrozenClock,
    machine_clock: FrozenClock,
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    c = customer(runtime, tenant_id, ["10.00", "20.00"])
    run = create_run(api, targetDate="2026-01-10")
    run_id = int(run["id"], 16)
    assert jobs.execute is not None
    jobs.execute(TaskCall("payment_run.start", {"tenant_id": tenant_id, "run_id": run_id}))
    # A worker claims the chunk, begins and sends the charges, and dies before it can
    # record the gateway's answers.
    chunk = claim_collect_chunk(runtime, run_id, "doomed", machine_clock)
    assert collect.take_chunk_records(runtime, tenant_id, run_id, chunk.first_id, chunk.last_id)
    begun = collect.begin_chunk(runtime, tenant_id, run_id, chunk.first_id, chunk.last_id)
    assert begun is not None
    collect.send_chunk(runtime, tenant_id, begun, in_flight=4)
    assert gateway_charges(runtime, tenant_id) == 2

    jobs.run_until_idle()  # the other drains find the chunk leased to the dead worker
    assert read(api, f"/{run['id']}")["status"] == "Processing"
    # The lease runs out; the reaper hands the chunk to a live worker.
    machine_clock.advance(timedelta(seconds=runtime.settings.worker_lease_seconds + 1))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()

    after = read(api, f"/{run['id']}")
    assert after["status"] == "Completed"
    assert gateway_charges(runtime, tenant_id) == 2  # nothing sent again
    assert len(payments_of(runtime, tenant_id)) == 2
    assert [r["result"] for r in records(api, run["id"])] == ["Processing", "Processing"]

    # The reconciler asks the gateway with the same attempt keys and settles them.
    clock.advance(timedelta(seconds=runtime.settings.payment_reconcile_after_seconds + 1))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    assert [r["result"] for r in records(api, run["id"])] == ["Processed", "Processed"]
    assert [balance(runtime, tenant_id, i) for i in c.invoice_ids] == [0, 0]
    assert gateway_charges(runtime, tenant_id) == 2

    # Nothing is left for a later run.
    later = create_run(api, targetDate="2026-01-10")
    jobs.run_until_idle()
    assert read(api, f"/{later['id']}")["progress"]["receivables"] == 0
    assert gateway_charges(runtime, tenant_id) == 2


def test_an_invoice_with_a_processing_payment_is_not_collected_again(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    c = customer(runtime, tenant_id, ["10.00"], "tok_pendingThenSettled")
    first = create_run(api, targetDate="2026-01-10")
    jobs.run_until_idle()
    assert [r["result"] for r in records(api, first["id"])] == ["Processing"]

    second = create_run(api, targetDate="2026-01-10")
    jobs.run_until_idle()
    assert read(api, f"/{second['id']}")["progress"]["receivables"] == 0
    explicit = create_run(
        api, data=[{"documentId": f"{c.invoice_ids[0]:032x}", "documentType": "Invoice"}]
    )
    jobs.run_until_idle()
    (record,) = records(api, explicit["id"])
    assert record["result"] == "Error"
    assert record["errorCode"] == "PaymentPending"
    assert gateway_charges(runtime, tenant_id) == 1


def test_a_run_date_schedules_the_run(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    c = customer(runtime, tenant_id, ["10.00"])
    run = create_run(api, runDate="2026-01-10 11:45:00")  # the clock says 09:00
    assert run["status"] == "Pending"
    assert run["runDate"] == "2026-01-10 11:00:00"  # minutes are ignored
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    assert read(api, f"/{run['id']}")["status"] == "Pending"

    # zuora-sdk sends ISO date-times on update.
    moved = api.client.put(
        f"{PAYMENT_RUNS}/{run['id']}",
        json={"runDate": "2026-01-10T12:30:00"},
        headers=api.zuora_headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["runDate"] == "2026-01-10 12:00:00"

    clock.advance(timedelta(hours=2, minutes=59))  # 11:59: not yet
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    assert read(api, f"/{run['id']}")["status"] == "Pending"
    clock.advance(timedelta(minutes=1))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    done = read(api, f"/{run['id']}")
    assert done["status"] == "Completed"
    assert done["targetDate"] == "2026-01-10"
    assert balance(runtime, tenant_id, c.invoice_ids[0]) == 0


def test_a_pending_run_can_be_canceled_then_deleted(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    customer(runtime, tenant_id, ["10.00"])
    run = create_run(api, runDate="2026-01-11 10:00:00")
    with runtime.service_context(tenant_id) as ctx:
        found = paymentruns.find_payment_run(ctx, run["number"])
        paymentruns.cancel_payment_run(ctx, found)
    assert read(api, f"/{run['id']}")["status"] == "Canceled"
    deleted = api.client.delete(f"{PAYMENT_RUNS}/{run['number']}", headers=api.zuora_headers)
    assert deleted.status_code == 200, deleted.text
    assert (
        api.client.get(f"{PAYMENT_RUNS}/{run['id']}", headers=api.zuora_headers).status_code == 404
    )
    assert gateway_charges(runtime, tenant_id) == 0
