"""``billcycle bench test-clock``: a year of billing for a sandbox tenant in one advance.

N autopay accounts on a $30 monthly plan starting the first of next month (sandbox
time), a default card each on the test gateway (every tenth one declines), dunning on
(attempts 1, 3 and 5 days after the due date), and a monthly scheduled bill run that
auto-posts. The timed phase is one ``advance`` of 12 months (365 days): 12 bill runs with
posting, the daily collections (first attempts and retries through payment runs) and the
standing changes. Checked: 12 invoices per account, every invoice of a good card due in
the year paid, every declining card tried on its dunning days and in poor standing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text

from billcycle.bench import raw_write
from billcycle.bench.harness import Bench, BenchError, Stopwatch, per_second
from billcycle.collections import policy
from billcycle.collections.inputs import PolicyChanges
from billcycle.db.session import unit_of_work
from billcycle.devtools.dataset import DatasetSpec
from billcycle.gateways import service as gateways
from billcycle.gateways.inputs import NewGateway
from billcycle.testclocks import service as clocks

YEAR = timedelta(days=365)
DECLINE_EVERY = 10


@dataclass(frozen=True)
class SandboxYearParams:
    accounts: int


def _first_of_next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _prepare(bench: Bench, params: SandboxYearParams) -> date:
    with bench.runtime.service_context(bench.tenant_id) as ctx:
        start = _first_of_next_month(ctx.clock.today())
        gateways.create_gateway(
            ctx, NewGateway(name="bench", type="Test", settings={}, make_default=True)
        )
        policy.set_policy(
            ctx,
            PolicyChanges(
                dunning_enabled=True,
                attempt_days=(1, 3, 5),
                grace_days=400,
                max_consecutive_failures=100,
            ),
        )
    bench.load(DatasetSpec(accounts=params.accounts, start=start))
    now = raw_write.storage_value(not bench.is_postgres, bench.runtime.clock.now())
    with unit_of_work(bench.runtime.session_factory) as session:
        session.execute(
            text("UPDATE accounts SET auto_pay = :yes WHERE tenant_id = :t"),
            {"yes": True, "t": bench.tenant_id},
        )
        session.execute(
            text(
                "INSERT INTO payment_methods (tenant_id, account_id, type, status, is_default, "
                "token, card_type, card_mask, details, use_default_retry_rule, "
                "num_consecutive_failures, total_processed_payments, total_error_payments, "
                "created_at, updated_at) "
                "SELECT tenant_id, id, 'CreditCard', 'Active', :yes, "
                "CASE WHEN id % :every = 0 THEN 'tok_chargeDeclined' ELSE 'tok_visa' END, "
                "'Visa', '************4242', '{}', :yes, 0, 0, 0, :now, :now "
                "FROM accounts WHERE tenant_id = :t"
            ),
            {"yes": True, "now": now, "t": bench.tenant_id, "every": DECLINE_EVERY},
        )
    bench.call(
        "POST",
        "/zuora/v1/bill-runs",
        json={
            "batches": ["AllBatches"],
            "billCycleDay": "AllBillCycleDays",
            "targetDateOffset": 0,
            "invoiceDateOffset": 0,
            "autoPost": True,
            "schedule": {"repeatFrom": start.isoformat(), "repeatType": "Monthly", "runTime": 6},
        },
    )
    return start


def run(bench: Bench, params: SandboxYearParams) -> dict[str, Any]:
    if not bench.config.sandbox:
        raise BenchError("the test-clock benchmark needs a sandbox tenant")
    _prepare(bench, params)
    t = bench.tenant_id
    with bench.workers() as workers, Stopwatch(workers) as timing:
        done = clocks.advance_by(bench.runtime, t, YEAR)
    invoices = int(bench.scalar("SELECT count(*) FROM invoices WHERE tenant_id = :t", t=t))
    unposted = int(
        bench.scalar(
            "SELECT count(*) FROM invoices WHERE tenant_id = :t AND status <> 'Posted'", t=t
        )
    )
    paid = int(
        bench.scalar(
            "SELECT count(*) FROM payments WHERE tenant_id = :t AND status = 'Processed'", t=t
        )
    )
    declined = int(
        bench.scalar("SELECT count(*) FROM payments WHERE tenant_id = :t AND status = 'Error'", t=t)
    )
    open_good = int(
        bench.scalar(
            "SELECT count(*) FROM invoices i JOIN payment_methods m "
            "ON m.account_id = i.account_id AND m.is_default = :yes "
            "WHERE i.tenant_id = :t AND m.token = 'tok_visa' AND i.due_date < :last "
            "AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.invoice_id = i.id "
            "AND e.entry_type = 'Payment')",
            t=t,
            yes=True,
            last=(done.now - timedelta(days=1)).date(),
        )
    )
    n = params.accounts
    errors: list[str] = []
    if invoices != 12 * n or unposted:
        errors.append(f"invoices: {invoices} ({unposted} not posted), expected {12 * n} posted")
    if done.bill_runs != 12:
        errors.append(f"bill runs started: {done.bill_runs}, expected 12")
    if open_good:
        errors.append(f"{open_good} invoices of good cards due in the year were not paid")
    if declined == 0 and n >= DECLINE_EVERY:
        errors.append("no declined attempt was recorded")
    wall = timing.wall_seconds
    return {
        "benchmark": "test-clock",
        "database": bench.database,
        "accounts": n,
        "months": 12,
        "invoices": invoices,
        "payments_processed": paid,
        "payments_declined": declined,
        "bill_runs": done.bill_runs,
        "days": done.days,
        "collections_days_evaluated": done.evaluations,
        "steps": done.steps,
        "wall_seconds": round(wall, 3),
        "invoices_per_second": per_second(invoices, wall),
        "peak_rss_mb": timing.peak_rss_mb,
        "errors": errors,
    }
