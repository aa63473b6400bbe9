"""The done-when test of charging: a process killed between the gateway's approval and
billcycle's commit (a real subprocess, see ``tests/support/charge_crash.py``) leaves a
Processing payment; the reconciler, run by the scheduler's tick after the restart, asks
the gateway and settles it. One charge at the gateway, the invoice paid once, on both
databases."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.ledger import service as ledger
from billcycle.payments.statuses import GatewayState, PaymentStatus
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.charging.helpers import balance, charge_rows, payment, setup
from tests.payments.helpers import check_invariants

ROOT = Path(__file__).resolve().parents[2]


def test_killed_between_approval_and_commit_charges_once(
    runtime: Runtime,
    tenant: NewTenant,
    database_url: str,
    clock: FrozenClock,
    jobs: ManualDispatcher,
) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["100", "40"])
    invoice, other = s.invoice_ids
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    crashed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.charge_crash",
            database_url,
            str(t),
            str(s.account_id),
            str(invoice),
            "10000",
            clock.now().isoformat(),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert crashed.returncode == 137, crashed.stderr
    payment_id = int(crashed.stdout.split()[-1])
    # After the crash: the gateway charged, billcycle still waits; nothing counts as paid.
    (charge,) = charge_rows(runtime, t)
    assert charge.state == "Approved"
    assert payment(runtime, t, payment_id).status == PaymentStatus.PROCESSING
    assert balance(runtime, t, invoice) == 10000
    # Restart: the scheduler's tick runs the reconciler once the payment is old enough.
    # (Other tests' payments share the database and may stay Processing: the sweep's
    # batch covers them all.)
    runtime.settings.payment_reconcile_batch = 1_000_000
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    assert payment(runtime, t, payment_id).status == PaymentStatus.PROCESSING
    clock.advance(timedelta(seconds=runtime.settings.payment_reconcile_after_seconds))
    for _ in range(2):  # a second sweep changes nothing
        jobs.dispatch(TaskCall("tick"))
        jobs.run_until_idle()
    settled = payment(runtime, t, payment_id)
    assert settled.status == PaymentStatus.PROCESSED
    assert settled.gateway_state == GatewayState.SETTLED
    assert settled.gateway_transaction_id == f"tgch_{charge.id}"
    assert len(charge_rows(runtime, t)) == 1
    assert balance(runtime, t, invoice) == 0
    assert balance(runtime, t, other) == 4000
    with runtime.service_context(t) as ctx:
        applied = ledger.payment_applications(ctx.session, t, payment_id)
        assert applied == [(invoice, None, 10000)]
        check_invariants(ctx)
