"""The done-when crash test for card BulkPayment: a worker killed between the gateway's
approval and the commit while it processes a card BulkPayment job (a real subprocess,
``tests/fusebill_payments/bulk_charge_crash.py``) leaves Processing payments named on
their records; after the restart the chunk's re-run charges nothing again, the records
end Processed with their payments, the reconciler settles the payments, and each invoice
is paid once. Both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.payments.statuses import PaymentStatus
from billcycle.runtime import Runtime
from tests.charging.helpers import add_method, payment
from tests.fusebill_payments.helpers import balances, customer_with, fget, fpost, ok
from tests.gateways.helpers import configure_test_gateway
from tests.paymentruns.helpers import gateway_charges
from tests.payments.helpers import check_invariants
from tests.support.api import Api

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_killed_between_approval_and_commit_charges_each_record_once(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    database_url: str,
    clock: FrozenClock,
    machine_clock: FrozenClock,
) -> None:
    t = api.tenant.tenant_id
    configure_test_gateway(runtime, t, make_default=True)
    one = customer_with(runtime, api, ["30", "20"])
    two = customer_with(runtime, api, ["50"])
    add_method(runtime, t, one.account_id, "tok_visa")
    add_method(runtime, t, two.account_id, "tok_visa")
    card = {"paymentMethod": "CreditCard", "useDefaultPaymentMethod": True, "source": "Import"}
    data = [  # chunks of two (conftest): the two card records are the first chunk
        {
            **card,
            "customerId": one.account_id,
            "amount": 30,
            "paymentAllocations": [{"invoiceId": one.invoice_ids[0], "amount": 30}],
        },
        {
            **card,
            "customerId": two.account_id,
            "amount": 50,
            "paymentAllocations": [{"invoiceId": two.invoice_ids[0], "amount": 50}],
        },
        {
            "customerId": one.account_id,
            "amount": 20,
            "paymentMethod": "Check",
            "source": "Import",
            "paymentAllocations": [{"invoiceId": one.invoice_ids[1], "amount": 20}],
        },
    ]
    job = ok(fpost(api, "/v1/BulkApi", {"accountUploadType": "BulkPayment", "data": data}))
    jobs.run_until_idle()
    assert ok(fget(api, f"/v1/BulkApi/{job['id']}"))["status"] == "Validated"
    # Process is asked; its drains stay queued here while the doomed worker takes the
    # first chunk in its own process.
    ok(fpost(api, "/v1/BulkApi/Process", {"id": job["id"]}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    crashed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fusebill_payments.bulk_charge_crash",
            database_url,
            str(job["id"]),
            clock.now().isoformat(),
            machine_clock.now().isoformat(),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == 137, crashed.stderr
    payment_ids = [int(p) for p in crashed.stdout.split()]
    assert len(payment_ids) == 2
    # After the crash: the gateway charged both, billcycle still waits; nothing is paid.
    assert gateway_charges(runtime, t) == 2
    assert [payment(runtime, t, p).status for p in payment_ids] == [PaymentStatus.PROCESSING] * 2
    assert balances(api, [one.invoice_ids[0], two.invoice_ids[0]]) == [
        (0, 30, "Overdue"),
        (0, 50, "Overdue"),
    ]

    # Restart: the queued drains find the first chunk leased to the dead worker (they do
    # the second); once the lease runs out the reaper hands it to a live worker.
    jobs.run_until_idle()
    assert ok(fget(api, f"/v1/BulkApi/{job['id']}"))["status"] == "Processing"
    machine_clock.advance(timedelta(seconds=runtime.settings.worker_lease_seconds + 1))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    done = ok(fget(api, f"/v1/BulkApi/{job['id']}", view="Full"))
    assert done["status"] == "Processed"
    assert [(r["status"], r.get("createdEntityId")) for r in done["records"][:2]] == [
        ("Processed", payment_ids[0]),
        ("Processed", payment_ids[1]),
    ]
    assert gateway_charges(runtime, t) == 2  # nothing sent again

    # The reconciler asks the gateway with the same attempt keys and settles them.
    runtime.settings.payment_reconcile_batch = 1_000_000  # other tests' payments too
    clock.advance(timedelta(seconds=runtime.settings.payment_reconcile_after_seconds + 1))
    for _ in range(2):  # a second sweep changes nothing
        jobs.dispatch(TaskCall("tick"))
        jobs.run_until_idle()
    assert [payment(runtime, t, p).status for p in payment_ids] == [PaymentStatus.PROCESSED] * 2
    assert gateway_charges(runtime, t) == 2
    assert balances(api, one.invoice_ids) == [(30, 0, "Paid"), (20, 0, "Paid")]
    assert balances(api, two.invoice_ids) == [(50, 0, "Paid")]
    with runtime.service_context(t) as ctx:
        check_invariants(ctx)
