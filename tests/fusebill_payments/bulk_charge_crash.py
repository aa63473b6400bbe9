"""A worker that dies between the gateway's approval and the commit while it processes a
card BulkPayment job.

Run as ``python -m tests.fusebill_payments.bulk_charge_crash DATABASE_URL JOB
BUSINESS_NOW_ISO MACHINE_NOW_ISO``: a real job runner drains the job's process chunks
(``bulkjobs.payment_tasks.ProcessPaymentChunk``, the chunk handler ``billcycle worker``
runs). The chunk begins its charges (Processing payments named on their records,
committed), the test gateway approves them (recorded in its own transaction), the
finishing unit of work records the approvals, and the process is killed
(``os._exit(137)``, what SIGKILL leaves) before that unit of work commits. The fault is
placed the way ``tests/support/charge_crash.py`` places it for a single charge: at
``payments.charging.finish_charges``, the phase that records the gateway's answers, here
wrapped so the real phase runs, its rows reach the database's transaction, and the
process dies. Prints the payment ids before dying.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import Any

import billcycle.tasks  # noqa: F401  (registers the chunk handlers, as the worker does)
from billcycle.bulkjobs.tasks import PAYMENT_PROCESS
from billcycle.clock import FrozenClock
from billcycle.config import Settings
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.jobs.runner import JobRunner
from billcycle.payments import charging
from billcycle.runtime import Runtime

KILLED = 137
_finish_charges = charging.finish_charges


def _finish_then_die(ctx: Any, answers: Any) -> Any:
    outcomes = _finish_charges(ctx, answers)
    assert outcomes
    assert all(o.succeeded for o in outcomes), outcomes
    ctx.session.flush()
    print(" ".join(str(o.payment_id) for o in outcomes), flush=True)
    os._exit(KILLED)  # the approvals are recorded, not committed


def main(argv: list[str]) -> None:
    database_url, job, business_now, machine_now = argv
    engine = make_engine(database_url)
    dispatcher = ManualDispatcher()
    runtime = Runtime(
        settings=Settings(database_url=database_url),
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=FrozenClock(datetime.fromisoformat(business_now)),
        machine_clock=FrozenClock(datetime.fromisoformat(machine_now)),
        dispatcher=dispatcher,
    )
    charging.finish_charges = _finish_then_die  # type: ignore[assignment]
    JobRunner(runtime, dispatcher).drain(PAYMENT_PROCESS, int(job))
    print(f"job {job}: no charge was finished", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
