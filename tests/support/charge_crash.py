"""A process that dies between the gateway's approval and billcycle's commit.

Run as ``python -m tests.support.charge_crash DATABASE_URL TENANT ACCOUNT INVOICE
AMOUNT_MINOR NOW_ISO``: it begins a charge (Processing, committed), sends it (the test
gateway approves and records it in its own transaction), records the approval in the
finishing unit of work, and is killed (``os._exit(137)``, what SIGKILL leaves) before
that unit of work commits. No fault hook in billcycle: the crash is placed by calling
the three public phases of ``payments.charging`` and stopping before the third commits.
Prints the payment id before dying.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime

from billcycle.clock import FrozenClock
from billcycle.config import Settings
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory
from billcycle.gateways.statuses import GatewayOutcome
from billcycle.payments import charging
from billcycle.payments.inputs import InvoiceApplication
from billcycle.runtime import Runtime

KILLED = 137


def main(argv: list[str]) -> None:
    database_url, tenant, account, invoice, amount, now = argv
    engine = make_engine(database_url)
    instant = datetime.fromisoformat(now)
    runtime = Runtime(
        settings=Settings(database_url=database_url),
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=FrozenClock(instant),
        machine_clock=FrozenClock(instant),
    )
    tenant_id = int(tenant)
    request = charging.ChargeRequest(
        account_id=int(account),
        amount_minor=int(amount),
        invoices=(InvoiceApplication(int(invoice), None),),
    )
    with runtime.service_context(tenant_id) as ctx:
        [pending] = charging.begin_charges(ctx, [request])
    assert pending.error is None, pending.error
    [answer] = charging.send_charges(runtime, tenant_id, [pending])
    assert answer.result is not None
    assert answer.result.outcome is GatewayOutcome.APPROVED
    with runtime.service_context(tenant_id) as ctx:
        [outcome] = charging.finish_charges(ctx, [answer])
        assert outcome.succeeded
        ctx.session.flush()
        print(pending.payment_id, flush=True)
        os._exit(KILLED)  # the approval is recorded, not committed


if __name__ == "__main__":
    main(sys.argv[1:])
