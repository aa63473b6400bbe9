"""``billcycle bench payment-run``: a real payment run over N autopay accounts with one
posted $30 invoice each and a default card on the test gateway (``tok_visa``), timed
from the API call that creates it to Completed, checked (N payments Processed, every
invoice paid, N Processed records), and compared with writing the same payment and
application rows straight into the database (a payment row, its PaymentReceived entry
and its application entry per invoice).

``--latency-ms`` gives the test gateway a round trip per call: the run then keeps
``payment_run_in_flight`` calls in flight per worker, and payments/s is the figure. By
default each sale is its own call with its own round trip (a gateway without a batch
API, as Stripe is); ``--gateway-batch`` uses the test gateway's batch API instead (a
batch of up to ``in_flight`` sales in one call, one round trip). ``--rate-limit`` sets
the gateway's ``max_calls_per_second``, which the run honours.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from billcycle.bench import raw_write
from billcycle.bench.harness import Bench, BenchError, Stopwatch, per_second, process_cpu_seconds
from billcycle.db.session import unit_of_work
from billcycle.devtools.dataset import DatasetSpec, load_posted_invoices, vacuum_analyze
from billcycle.gateways import service as gateways
from billcycle.gateways.inputs import NewGateway
from billcycle.ids import parse_zuora_id
from billcycle.ledger.models import LedgerEntry
from billcycle.paymentruns.statuses import PaymentRunStatus
from billcycle.paymentruns.tasks import chunk_size
from billcycle.payments.models import Payment

PAYMENT_RUNS = "/zuora/v1/payment-runs"
AMOUNT_MINOR = 3000
BATCH = 50_000
PAYMENT_COLUMNS = (
    "id",
    "tenant_id",
    "account_id",
    "number",
    "amount_minor",
    "currency",
    "effective_date",
    "payment_type",
    "status",
    "gateway_order_id",
    "created_at",
    "updated_at",
)
LEDGER_COLUMNS = (
    "id",
    "tenant_id",
    "account_id",
    "invoice_id",
    "payment_id",
    "entry_type",
    "amount_minor",
    "currency",
    "effective_date",
    "reference",
    "source",
    "created_at",
)


@dataclass(frozen=True)
class PaymentRunParams:
    accounts: int
    latency_ms: int = 0
    in_flight: int | None = None  # default: settings (64)
    raw: bool = True
    # The test gateway's batch API (one round trip for a batch of sales); False: one
    # call per sale, each its own round trip, as a gateway without one (Stripe).
    gateway_batch: bool = False
    rate_limit: int = 0  # the gateway's max_calls_per_second (0: none)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of each of ``pids`` that is still there, from /proc
    (Linux; {} elsewhere)."""
    seconds = {pid: process_cpu_seconds(pid) for pid in pids}
    return {pid: cpu for pid, cpu in seconds.items() if cpu is not None}


def _backend_pids(bench: Bench) -> list[int]:
    """The PostgreSQL server processes serving the bench's database (same machine)."""
    if not bench.is_postgres:
        return []
    with bench.runtime.engine.connect() as connection:
        return [
            int(pid)
            for pid in connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_type = 'client backend'"
                )
            ).scalars()
        ]


def _cpu_since(before: dict[int, float], after: dict[int, float]) -> float:
    return round(sum(value - before.get(pid, 0.0) for pid, value in after.items()), 2)


def run_status(bench: Bench, run_id: int) -> str | None:
    status: str | None = bench.scalar("SELECT status FROM payment_runs WHERE id = :id", id=run_id)
    return status


def _prepare(bench: Bench, params: PaymentRunParams) -> tuple[list[int], list[int], float]:
    """Accounts (autopay), one posted invoice each, the test gateway, a default card each."""
    started = time.perf_counter()
    bench.load(DatasetSpec(accounts=params.accounts))
    with unit_of_work(bench.runtime.session_factory) as session:
        session.execute(
            text("UPDATE accounts SET auto_pay = :yes WHERE tenant_id = :t"),
            {"yes": True, "t": bench.tenant_id},
        )
        accounts = list(
            session.execute(
                text("SELECT id FROM accounts WHERE tenant_id = :t ORDER BY id"),
                {"t": bench.tenant_id},
            ).scalars()
        )
        invoices = load_posted_invoices(
            session, bench.tenant_id, accounts, len(accounts), amount_minor=AMOUNT_MINOR
        )
    with bench.runtime.service_context(bench.tenant_id) as ctx:
        gateways.create_gateway(
            ctx,
            NewGateway(
                name="bench",
                type="Test",
                settings={
                    "latency_ms": params.latency_ms,
                    "batch_sales": int(params.gateway_batch),
                    "max_calls_per_second": params.rate_limit,
                },
                make_default=True,
            ),
        )
    now = raw_write.storage_value(not bench.is_postgres, datetime.now(UTC))
    with unit_of_work(bench.runtime.session_factory) as session:
        session.execute(
            text(
                "INSERT INTO payment_methods (tenant_id, account_id, type, status, is_default, "
                "token, card_type, card_mask, details, use_default_retry_rule, "
                "num_consecutive_failures, total_processed_payments, total_error_payments, "
                "created_at, updated_at) "
                "SELECT tenant_id, id, 'CreditCard', 'Active', :yes, 'tok_visa', 'Visa', "
                "'************4242', '{}', :yes, 0, 0, 0, :now, :now "
                "FROM accounts WHERE tenant_id = :t"
            ),
            {"yes": True, "now": now, "t": bench.tenant_id},
        )
    # What autovacuum does a little after a bulk load (PostgreSQL): the accounts' autopay
    # UPDATE left a dead version of every account, and the rows just written carry no
    # hint bits yet; otherwise the run's first reads pay for both (every account's key
    # looked up through two index entries, the run's foreign key checks among them).
    vacuum_analyze(
        bench.runtime.engine,
        ("accounts", "invoices", "payment_methods", "open_balances", "open_account_balances"),
    )
    return accounts, invoices, time.perf_counter() - started


def _raw_batches(
    bench: Bench, accounts: list[int], invoices: list[int]
) -> tuple[Iterator[list[tuple[Any, ...]]], Iterator[list[tuple[Any, ...]]]]:
    sqlite = not bench.is_postgres
    now_value = datetime.now(UTC)
    day = raw_write.storage_value(sqlite, now_value.date())
    now = raw_write.storage_value(sqlite, now_value)
    count = len(invoices)

    def payments() -> Iterator[list[tuple[Any, ...]]]:
        for start in range(0, count, BATCH):
            yield [
                (
                    i + 1,
                    bench.tenant_id,
                    accounts[i],
                    f"P-{i + 1:08d}",
                    AMOUNT_MINOR,
                    "USD",
                    day,
                    "Electronic",
                    "Processed",
                    f"P-{i + 1:08d}",
                    now,
                    now,
                )
                for i in range(start, min(start + BATCH, count))
            ]

    def entries() -> Iterator[list[tuple[Any, ...]]]:
        for start in range(0, count, BATCH // 2):
            rows: list[tuple[Any, ...]] = []
            for i in range(start, min(start + BATCH // 2, count)):
                ref = f"P-{i + 1:08d}"
                rows.append(
                    (
                        2 * i + 1,
                        bench.tenant_id,
                        accounts[i],
                        None,
                        i + 1,
                        "PaymentReceived",
                        AMOUNT_MINOR,
                        "USD",
                        day,
                        ref,
                        "API",
                        now,
                    )
                )
                rows.append(
                    (
                        2 * i + 2,
                        bench.tenant_id,
                        accounts[i],
                        invoices[i],
                        i + 1,
                        "Payment",
                        AMOUNT_MINOR,
                        "USD",
                        day,
                        ref,
                        "API",
                        now,
                    )
                )
            yield rows

    return payments(), entries()


def run(bench: Bench, params: PaymentRunParams) -> dict[str, Any]:
    accounts, invoices, load_seconds = _prepare(bench, params)
    settings = bench.runtime.settings
    in_flight = params.in_flight or settings.payment_run_in_flight
    bench.runtime.settings = settings.model_copy(update={"payment_run_in_flight": in_flight})
    with bench.workers() as workers:
        cpu_before = _cpu_seconds()
        workers_before = _process_cpu(workers.pids())
        backends_before = _process_cpu(_backend_pids(bench))
        with Stopwatch(workers) as timing:
            body = bench.call("POST", PAYMENT_RUNS, json={"targetDate": "2099-12-31"})
            run_id = parse_zuora_id(str(body.get("id", "")))
            if run_id is None:
                raise BenchError(f"POST {PAYMENT_RUNS} answered no id: {body}")
            bench.wait_for(
                lambda: run_status(bench, run_id),
                [PaymentRunStatus.COMPLETED],
                failed=[PaymentRunStatus.ERROR, PaymentRunStatus.CANCELED],
                workers=workers,
                what="the payment run",
            )
        cpu = _cpu_seconds() - cpu_before
        worker_count = len(workers.pids())
        # Worker processes (PostgreSQL) and the database's server processes (those alive
        # at the end; one that exited during the run is not counted).
        worker_cpu = _cpu_since(workers_before, _process_cpu(workers.pids()))
        backend_cpu = _cpu_since(backends_before, _process_cpu(_backend_pids(bench)))
    paid, paid_total = bench.row(
        "SELECT count(*), coalesce(sum(amount_minor), 0) FROM payments "
        "WHERE tenant_id = :t AND status = 'Processed'",
        t=bench.tenant_id,
    )
    applied = bench.scalar(
        "SELECT coalesce(sum(amount_minor), 0) FROM ledger_entries "
        "WHERE tenant_id = :t AND entry_type = 'Payment'",
        t=bench.tenant_id,
    )
    # A record with no result written shows its payment's (paymentruns.service.records).
    processed = bench.scalar(
        "SELECT count(*) FROM payment_run_data d LEFT JOIN payments p ON p.id = d.payment_id "
        "WHERE d.payment_run_id = :r AND (d.result = 'Processed' "
        "OR (d.result IS NULL AND p.status IN ('Processed', 'Posted')))",
        r=run_id,
    )
    n = len(invoices)
    errors: list[str] = []
    if int(paid) != n:
        errors.append(f"payments Processed: {paid}, expected {n}")
    if int(paid_total) != n * AMOUNT_MINOR or int(applied) != n * AMOUNT_MINOR:
        errors.append(f"paid {paid_total} / applied {applied} (minor), expected {n * AMOUNT_MINOR}")
    if int(processed) != n:
        errors.append(f"records Processed: {processed}, expected {n}")
    raw_seconds: float | None = None
    if params.raw:
        pay_rows, entry_rows = _raw_batches(bench, accounts, invoices)
        pay_seconds, pay_count = raw_write.copy_rows(
            bench.runtime.engine, Payment, PAYMENT_COLUMNS, pay_rows
        )
        entry_seconds, entry_count = raw_write.copy_rows(
            bench.runtime.engine, LedgerEntry, LEDGER_COLUMNS, entry_rows
        )
        if (pay_count, entry_count) != (n, 2 * n):
            raise BenchError(f"raw write wrote {pay_count} payments, {entry_count} entries")
        raw_seconds = pay_seconds + entry_seconds
    wall = timing.wall_seconds
    return {
        "benchmark": "payment-run",
        "database": bench.database,
        "workers": worker_count,
        "accounts": len(accounts),
        "invoices": n,
        "latency_ms": params.latency_ms,
        "in_flight": in_flight,
        "gateway_batch": params.gateway_batch,
        "rate_limit": params.rate_limit,
        "payments": int(paid),
        "wall_seconds": round(wall, 3),
        # CPU seconds of this process while the run went: with embedded workers
        # (SQLite) the API, the worker and SQLite itself; the figure to compare on a
        # loaded machine. With worker processes (PostgreSQL) only the API's.
        "cpu_seconds": round(cpu, 2),
        # PostgreSQL: CPU seconds of the worker processes and of the database's server
        # processes while the run went (0 with SQLite's embedded worker).
        "worker_cpu_seconds": worker_cpu,
        "backend_cpu_seconds": backend_cpu,
        "payments_per_second": per_second(int(paid), wall),
        "peak_rss_mb": timing.peak_rss_mb,
        "peak_rss_mb_per_worker": timing.peak_rss_mb_per_worker,
        "rss_samples_mb": timing.rss_samples_mb,
        "raw_write_seconds": round(raw_seconds, 3) if raw_seconds is not None else None,
        "ratio": round(wall / raw_seconds, 2) if raw_seconds else None,
        "chunk_size": chunk_size(bench.runtime),
        "load_seconds": round(load_seconds, 2),
        "worker_kind": workers.kind,
        "correct": not errors,
        "errors": errors,
    }


def repeated(argv: list[str], repeat: int, timeout: float) -> dict[str, Any]:
    """``bench payment-run`` ``repeat`` times, each in a fresh process (``argv``: this
    command's options, without ``--repeat`` and ``--json``): the median run by wall time
    (``report.median_summary``: every run's wall, floor and ratio beside it), and the
    median CPU seconds and CPU per payment, the figures to compare on a loaded machine."""
    from billcycle.bench import report

    command = [sys.executable, "-m", "billcycle.cli.main", "bench", "payment-run", *argv]
    runs = [report.bench_subprocess([*command, "--json"], timeout) for _ in range(repeat)]
    summary = report.median_summary(runs)
    cpus = [float(r["cpu_seconds"]) for r in runs]
    summary["cpu_seconds_runs"] = cpus
    summary["cpu_seconds_median"] = statistics.median(cpus)
    for key in ("worker_cpu_seconds", "backend_cpu_seconds"):
        values = [float(r.get(key) or 0) for r in runs]
        summary[f"{key}_runs"] = values
        summary[f"{key}_median"] = statistics.median(values)
    payments = max(1, int(summary["payments"]))
    summary["cpu_us_per_payment_median"] = round(1e6 * statistics.median(cpus) / payments, 1)
    return summary


def median_line(summary: dict[str, Any]) -> str:
    """One line for people: median wall, spread, floor and ratio, CPU per payment."""
    low, high = summary["wall_seconds_min_max"]
    line = (
        f"payment run {summary['payments']:,} payments, {summary['database']} "
        f"({summary['workers']} worker(s), gateway batch {summary['gateway_batch']}, "
        f"{summary['latency_ms']} ms): median of {summary['repeat']} "
        f"{summary['wall_seconds']:.2f} s (min-max {low:.2f}-{high:.2f} s), "
        f"{summary['payments_per_second']} payments/s"
    )
    if summary.get("raw_write_seconds") is not None:
        line += f", same-run floor {summary['raw_write_seconds']:.2f} s, ratio {summary['ratio']}x"
    line += (
        f"; CPU median {summary['cpu_seconds_median']:.2f} s "
        f"({summary['cpu_us_per_payment_median']} us a payment; this process only)"
    )
    return line
