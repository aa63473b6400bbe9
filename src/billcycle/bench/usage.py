"""``billcycle bench usage``: importing a usage CSV, and a bill run rating the imported
usage.

The data set: N Active accounts (bulk loader), each with one evergreen subscription whose
one charge is a Per Unit usage charge ($0.01 a Call, monthly, in arrears), and a CSV of
R usage records per account dated in January 2026 (quantity 1..10). The import is timed
from the upload (the file stored in pieces, as ``POST /v1/usage`` does) to Completed,
through the import task's code, in this process; the bill run (optional) from the API
call to Completed with the production workers, targeting 2026-02-01: N invoices of one
usage item each, every record bound to its item.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text

from billcycle.bench import bill_run as bench_bill_run
from billcycle.bench import raw_write
from billcycle.bench.harness import Bench, per_second
from billcycle.devtools.dataset import DatasetSpec
from billcycle.jobs import wiring
from billcycle.usage import imports
from billcycle.usage import repository as usage_repo
from billcycle.usage import service as usage_service
from billcycle.usage.inputs import NewUom

PRICE = Decimal("0.01")
UOM = "Call"


@dataclass(frozen=True)
class UsageParams:
    accounts: int
    records: int  # per account
    bill: bool = True
    # Generate the records in the database (one INSERT ... SELECT) instead of importing
    # a CSV: what a 10M-record bill run needs, since its import alone takes minutes.
    generate: bool = False


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _make_usage_charges(bench: Bench) -> None:
    """Turn the loaded flat-fee charges into Per Unit usage charges (catalog and
    subscriptions alike), as the services would have created them."""
    with bench.runtime.engine.begin() as conn:
        for table in ("product_rate_plan_charges", "subscription_charges"):
            conn.execute(
                text(
                    f"UPDATE {table} SET charge_type = 'Usage', "  # noqa: S608 (our names)
                    "charge_model = 'Per Unit Pricing', billing_timing = 'IN_ARREARS', "
                    "uom = :uom WHERE tenant_id = :t"
                ),
                {"uom": UOM, "t": bench.tenant_id},
            )
        conn.execute(
            text("UPDATE subscription_charges SET price = :p WHERE tenant_id = :t"),
            {"p": str(PRICE) if not bench.is_postgres else PRICE, "t": bench.tenant_id},
        )
        conn.execute(
            text(
                "UPDATE product_rate_plan_charge_tiers SET price = :p, price_format = 'Per Unit' "
                "WHERE tenant_id = :t"
            ),
            {"p": str(PRICE) if not bench.is_postgres else PRICE, "t": bench.tenant_id},
        )
    with bench.runtime.service_context(bench.tenant_id) as ctx:
        usage_service.create_uom(ctx, NewUom(UOM, 0))


def _write_csv(bench: Bench, path: Path, records: int) -> tuple[int, int]:
    """The file, and (rows, total quantity). Quantities cycle 1..10; days 1..28."""
    with bench.runtime.engine.connect() as conn:
        owners = conn.execute(
            text(
                "SELECT a.account_number, s.subscription_number, c.charge_number "
                "FROM subscription_charges c JOIN accounts a ON a.id = c.account_id "
                "JOIN subscriptions s ON s.id = c.subscription_id "
                "WHERE c.tenant_id = :t ORDER BY a.id"
            ),
            {"t": bench.tenant_id},
        ).all()
    rows = 0
    total = 0
    with path.open("w") as out:
        out.write("ACCOUNT_ID,UOM,QTY,STARTDATE,ENDDATE,SUBSCRIPTION_ID,CHARGE_ID,DESCRIPTION\n")
        lines: list[str] = []
        for account, subscription, charge in owners:
            for r in range(records):
                quantity = r % 10 + 1
                day = r % 28 + 1
                lines.append(
                    f"{account},{UOM},{quantity},01/{day:02d}/2026,,{subscription},{charge},\n"
                )
                total += quantity
                rows += 1
            if len(lines) >= 50_000:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))
    return rows, total


def _generate_records(bench: Bench, records: int) -> tuple[int, int]:
    """The same records as ``_write_csv`` (quantities 1..10, days 1..28 of January 2026),
    written by the database itself, set-based: one INSERT ... SELECT over the charges and
    a series of R, in slices of accounts so that a transaction stays small."""
    pg = bench.is_postgres
    now = raw_write.storage_value(not pg, bench.runtime.clock.now())
    series = (
        "generate_series(0, :r - 1) AS g(n)"
        if pg
        else "(WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n + 1 < :r)"
        " SELECT n FROM g) AS g"
    )
    if pg:
        quantity = "(g.n % 10 + 1)"
        start = "make_timestamptz(2026, 1, g.n % 28 + 1, 0, 0, 0, 'UTC')"
        day = "make_date(2026, 1, g.n % 28 + 1)"
    else:  # SQLite stores quantities as decimal strings, instants as ISO text
        quantity = "CAST(g.n % 10 + 1 AS TEXT)"
        start = "printf('2026-01-%02d 00:00:00.000000', g.n % 28 + 1)"
        day = "printf('2026-01-%02d', g.n % 28 + 1)"
    insert = text(
        "INSERT INTO usage_records (tenant_id, account_id, subscription_id, "  # noqa: S608
        "subscription_charge_id, uom, quantity, start_date_time, usage_date, source, "
        "created_at, updated_at, late) "
        f"SELECT c.tenant_id, c.account_id, c.subscription_id, c.id, :uom, {quantity}, "
        f"{start}, {day}, 'Import', :now, :now, :no "
        f"FROM subscription_charges c CROSS JOIN {series} "
        "WHERE c.tenant_id = :t AND c.account_id >= :lo AND c.account_id < :hi"
    )
    with bench.runtime.engine.connect() as conn:
        lo, hi = conn.execute(
            text(
                "SELECT min(account_id), max(account_id) FROM subscription_charges "
                "WHERE tenant_id = :t"
            ),
            {"t": bench.tenant_id},
        ).one()
    step = max(1, 1_000_000 // records)
    for first in range(int(lo), int(hi) + 1, step):
        with bench.runtime.engine.begin() as conn:
            conn.execute(
                insert,
                {
                    "t": bench.tenant_id,
                    "uom": UOM,
                    "now": now,
                    "no": False,
                    "r": records,
                    "lo": first,
                    "hi": first + step,
                },
            )
    with bench.runtime.engine.begin() as conn:
        rows = int(
            conn.execute(
                text("SELECT count(*) FROM usage_records WHERE tenant_id = :t"),
                {"t": bench.tenant_id},
            ).scalar_one()
        )
        if pg:
            conn.execute(text("ANALYZE usage_records"))
    per_account = sum(r % 10 + 1 for r in range(records))
    return rows, per_account * (rows // records)


def _pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(imports.PART_BYTES):
            yield piece


def run(bench: Bench, params: UsageParams, work_dir: Path) -> dict[str, Any]:
    dataset, load_seconds = bench.load(
        DatasetSpec(accounts=params.accounts, price=PRICE, start=bench_bill_run.START)
    )
    _make_usage_charges(bench)
    if params.generate:
        return _run_generated(bench, params, dataset.accounts, load_seconds)
    csv_path = work_dir / "usage.csv"
    rows, total_quantity = _write_csv(bench, csv_path, params.records)
    rss_before = _peak_rss_mb()
    errors: list[str] = []

    # The upload enqueues the import task; this process runs its two steps itself.
    dispatcher, _runner = wiring.manual(bench.runtime)
    cpu_started = time.process_time()
    started = time.perf_counter()
    with bench.runtime.service_context(bench.tenant_id) as ctx:
        job_id = imports.start_import(ctx, csv_path.name, _pieces(csv_path)).id
    stored = time.perf_counter()
    with bench.runtime.service_context(bench.tenant_id) as ctx:
        imports.begin_import(ctx, job_id)
    with bench.runtime.service_context(bench.tenant_id) as ctx:
        job = imports.process_import(ctx, job_id)
        status = job.status if job else None
        loaded = job.loaded_records if job else 0
        first_errors = imports.import_errors(job)[:3] if job else []
    import_seconds = time.perf_counter() - started
    import_cpu = time.process_time() - cpu_started
    dispatcher.run_until_idle()  # the queued task finds the import done: a no-op
    if status != "Completed" or loaded != rows:
        errors.append(f"import {status}, {loaded}/{rows} loaded: {first_errors}")
    result: dict[str, Any] = {
        "benchmark": "usage",
        "database": bench.database,
        "accounts": dataset.accounts,
        "records_per_account": params.records,
        "records": rows,
        "file_mb": round(csv_path.stat().st_size / 1024 / 1024, 1),
        "import_seconds": round(import_seconds, 3),
        "import_store_seconds": round(stored - started, 3),
        # This process's CPU time: on a shared machine, what the import itself cost.
        "import_cpu_seconds": round(import_cpu, 3),
        "records_per_second": per_second(rows, import_seconds),
        "peak_rss_mb_before_import": rss_before,
        "peak_rss_mb_after_import": _peak_rss_mb(),
        "load_seconds": round(load_seconds, 2),
    }
    if params.bill:
        result.update(_bill(bench, dataset.accounts, rows, total_quantity, errors))
    result["correct"] = not errors
    result["errors"] = errors
    return result


def _run_generated(
    bench: Bench, params: UsageParams, accounts: int, load_seconds: float
) -> dict[str, Any]:
    started = time.perf_counter()
    rows, total_quantity = _generate_records(bench, params.records)
    generate_seconds = time.perf_counter() - started
    errors: list[str] = []
    if rows != accounts * params.records:
        errors.append(f"records generated: {rows}, expected {accounts * params.records}")
    result: dict[str, Any] = {
        "benchmark": "usage",
        "database": bench.database,
        "accounts": accounts,
        "records_per_account": params.records,
        "records": rows,
        "generated_in_database": True,
        "generate_seconds": round(generate_seconds, 3),
        "load_seconds": round(load_seconds, 2),
    }
    if params.bill:
        result.update(_bill(bench, accounts, rows, total_quantity, errors))
    result["correct"] = not errors
    result["errors"] = errors
    return result


def _bill(
    bench: Bench, accounts: int, rows: int, total_quantity: int, errors: list[str]
) -> dict[str, Any]:
    """The timed bill run over the records, checked: one invoice per account, the exact
    amount, every record bound."""
    with bench.workers() as workers:
        run_id, timing = bench_bill_run.generate(bench, workers)
        worker_count = len(workers.pids())
    invoices = bench.row(
        "SELECT count(*), coalesce(sum(amount_minor), 0) FROM invoices "
        "WHERE tenant_id = :t AND bill_run_id = :r",
        t=bench.tenant_id,
        r=run_id,
    )
    bound = bench.scalar(usage_repo.COUNT_BILLED, tenant=bench.tenant_id)
    # Every account's records sum to the same quantity: one rounding per account.
    per_account = total_quantity // max(1, accounts)
    want_minor = int((PRICE * per_account * 100).to_integral_value()) * accounts
    if int(invoices[0]) != accounts:
        errors.append(f"invoices: {invoices[0]}, expected {accounts}")
    if int(invoices[1]) != want_minor:
        errors.append(f"amount (minor): {invoices[1]}, expected {want_minor}")
    if int(bound) != rows:
        errors.append(f"records bound: {bound}, expected {rows}")
    return {
        "bill_run_workers": worker_count,
        "bill_run_seconds": round(timing.wall_seconds, 3),
        "bill_run_records_per_second": per_second(rows, timing.wall_seconds),
        "bill_run_peak_rss_mb_per_worker": timing.peak_rss_mb_per_worker,
        "invoices": int(invoices[0]),
        "amount": str(Decimal(int(invoices[1])) / 100),
    }
