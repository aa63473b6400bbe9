"""``billcycle bench bill-run``: a real bill run over a bulk-loaded data set, timed from
the API call that creates it to Completed, checked against what the data set implies,
and compared with writing the same rows straight into the database.

The data set: N Active accounts (bill cycle day 1), each with K evergreen subscriptions
of C flat $30 monthly charges, in advance, from 2026-01-01. A run targeting 2026-02-01
bills two periods of every charge: N invoices, N x K x C x 2 items, N x K x C x $60.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from billcycle import phases
from billcycle.bench import raw_write
from billcycle.bench.harness import (
    Bench,
    BenchError,
    Stopwatch,
    Timing,
    Workers,
    peak_rss_mb,
    per_second,
)
from billcycle.billruns.pipeline import PIPELINE
from billcycle.db import server_settings
from billcycle.devtools.dataset import DatasetSpec
from billcycle.ids import parse_zuora_id, to_zuora_id

START = date(2026, 1, 1)
TARGET_DATE = date(2026, 2, 1)
INVOICE_DATE = date(2026, 2, 1)
PERIODS = ((date(2026, 1, 1), date(2026, 2, 1)), (date(2026, 2, 1), date(2026, 3, 1)))
BILLED_THROUGH = date(2026, 3, 1)
PRICE = Decimal("30")
PRICE_MINOR = 3000
BILL_RUNS = "/zuora/v1/bill-runs"
HELPER = "helper: "


@dataclass(frozen=True)
class BillRunParams:
    accounts: int
    subscriptions: int = 1  # per account
    charges: int = 1  # per subscription
    raw: bool = True  # measure the raw-write floor too

    def spec(self) -> DatasetSpec:
        return DatasetSpec(
            accounts=self.accounts,
            subscriptions_per_account=self.subscriptions,
            charges_per_subscription=self.charges,
            price=PRICE,
            start=START,
        )


@dataclass(frozen=True)
class Expected:
    invoices: int
    items: int
    amount_minor: int
    charges: int

    @classmethod
    def of(cls, params: BillRunParams) -> Expected:
        charges = params.accounts * params.subscriptions * params.charges
        return cls(
            invoices=params.accounts,
            items=charges * len(PERIODS),
            amount_minor=charges * len(PERIODS) * PRICE_MINOR,
            charges=charges,
        )


@dataclass(frozen=True)
class Outcome:
    invoices: int
    accounts: int
    amount_minor: int
    items: int
    items_amount_minor: int
    watermarks: int
    run: dict[str, Any]


def run_status(bench: Bench, run_id: int) -> str | None:
    status: str | None = bench.scalar("SELECT status FROM bill_runs WHERE id = :id", id=run_id)
    return status


def generate(bench: Bench, workers: Workers) -> tuple[int, Timing]:
    """Create the run through the API and wait for Completed; timed."""
    with Stopwatch(workers) as timing:
        body = bench.call(
            "POST",
            BILL_RUNS,
            json={
                "batches": ["AllBatches"],
                "billCycleDay": "AllBillCycleDays",
                "targetDate": TARGET_DATE.isoformat(),
                "invoiceDate": INVOICE_DATE.isoformat(),
            },
        )
        run_id = parse_zuora_id(str(body.get("id", "")))
        if run_id is None:
            raise BenchError(f"POST {BILL_RUNS} answered no id: {body}")
        bench.wait_for(
            lambda: run_status(bench, run_id),
            ["Completed"],
            failed=["Error", "Canceled"],
            workers=workers,
            what="the bill run",
        )
    return run_id, timing


def outcome(bench: Bench, run_id: int) -> Outcome:
    invoices = bench.row(
        "SELECT count(*), count(DISTINCT account_id), coalesce(sum(amount_minor), 0) "
        "FROM invoices WHERE tenant_id = :t AND bill_run_id = :r",
        t=bench.tenant_id,
        r=run_id,
    )
    items = bench.row(
        "SELECT count(*), coalesce(sum(ii.amount_minor), 0) FROM invoice_items ii "
        "JOIN invoices i ON i.id = ii.invoice_id "
        "WHERE i.tenant_id = :t AND i.bill_run_id = :r AND NOT ii.voided",
        t=bench.tenant_id,
        r=run_id,
    )
    watermarks = bench.scalar(
        "SELECT count(*) FROM subscription_charges WHERE tenant_id = :t AND billed_through = :d",
        t=bench.tenant_id,
        d=BILLED_THROUGH,
    )
    api = bench.call("GET", f"{BILL_RUNS}/{to_zuora_id(run_id)}")
    return Outcome(
        invoices=int(invoices[0]),
        accounts=int(invoices[1]),
        amount_minor=int(invoices[2]),
        items=int(items[0]),
        items_amount_minor=int(items[1]),
        watermarks=int(watermarks),
        run=api,
    )


def check(got: Outcome, want: Expected, accounts: int) -> list[str]:
    """Every way the run could be wrong, as messages (none: correct)."""
    errors: list[str] = []

    def same(what: str, value: Any, expected: Any) -> None:
        if value != expected:
            errors.append(f"{what}: {value}, expected {expected}")

    same("invoices", got.invoices, want.invoices)
    same("accounts invoiced", got.accounts, accounts)
    same("invoice total (minor units)", got.amount_minor, want.amount_minor)
    same("items", got.items, want.items)
    same("item total (minor units)", got.items_amount_minor, want.amount_minor)
    same("charges billed through 2026-03-01", got.watermarks, want.charges)
    same("API invoicesCreated", got.run.get("invoicesCreated"), want.invoices)
    same("API accountsFailed", got.run.get("accountsFailed"), 0)
    totals = {t["currency"]: Decimal(str(t["amount"])) for t in got.run.get("totalAmounts", [])}
    same("API totalAmounts USD", totals.get("USD"), Decimal(want.amount_minor) / 100)
    return errors


def raw_floor(bench: Bench, invoice_date: date = INVOICE_DATE) -> raw_write.RawWriteResult:
    return raw_write.measure(
        bench.runtime.engine,
        raw_write.RawWriteSpec(
            tenant_id=bench.tenant_id,
            periods=PERIODS,
            billed_through=BILLED_THROUGH,
            invoice_date=invoice_date,
            price=PRICE,
            price_minor=PRICE_MINOR,
        ),
    )


def base_result(bench: Bench, params: BillRunParams, workers: int) -> dict[str, Any]:
    return {
        "database": bench.database,
        "workers": workers,
        "accounts": params.accounts,
        "subscriptions_per_account": params.subscriptions,
        "charges_per_subscription": params.charges,
        "chunk_size": bench.runtime.settings.bill_run_chunk_size,
    }


@contextmanager
def phase_profile() -> Iterator[dict[str, dict[str, float]]]:
    """Turn on ``billcycle.phases`` for the run (this process's embedded worker, and
    worker processes started inside the block); on leaving, fills the dict with each
    phase's CPU and wall seconds summed over every worker."""
    found: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="billcycle-phases-") as directory:
        previous = os.environ.get(phases.ENV)
        os.environ[phases.ENV] = directory
        phases.enable()
        phases.reset()
        try:
            yield found
        finally:
            if previous is None:
                os.environ.pop(phases.ENV, None)
            else:
                os.environ[phases.ENV] = previous
            sums = [phases.totals()]
            phases.disable()
            sums += [json.loads(path.read_text()) for path in Path(directory).glob("*.json")]
            for totals in sums:
                for name, (cpu, wall, _laps) in totals.items():
                    entry = found.setdefault(name, {"cpu": 0.0, "wall": 0.0})
                    entry["cpu"] += cpu
                    entry["wall"] += wall


def phase_table(
    found: dict[str, dict[str, float]], wall: float, workers: int
) -> dict[str, dict[str, float]]:
    """Rounded phases, plus ``idle``: the workers' share of the run's wall time that no
    phase accounts for (waiting for work, between chunks, or for a CPU). The SQLite
    helper process's phases ("helper: ...", billruns.pipeline) run beside the worker's
    and are listed apart, outside ``idle``'s sum."""
    table = {
        name: {"cpu": round(v["cpu"], 3), "wall": round(v["wall"], 3)}
        for name, v in sorted(found.items(), key=lambda kv: -kv[1]["wall"])
    }
    busy = sum(v["wall"] for k, v in found.items() if not k.startswith(HELPER))
    table["idle"] = {"cpu": 0.0, "wall": round(max(0.0, wall * workers - busy), 3)}
    return table


def run(bench: Bench, params: BillRunParams) -> dict[str, Any]:
    """The whole benchmark; the result is one JSON object (``correct`` false and
    ``errors`` listed when the run's figures do not match the data set)."""
    dataset, load_seconds = bench.load(params.spec())
    load_before = os.getloadavg()[0]
    with phase_profile() as found, bench.workers() as workers:
        run_id, timing = generate(bench, workers)
        worker_count = len(workers.pids())
        helper = PIPELINE.helper_pid
        helper_rss = peak_rss_mb(helper) if helper is not None else None
    load_after = os.getloadavg()[0]
    got = outcome(bench, run_id)
    want = Expected.of(params)
    errors = check(got, want, dataset.accounts)
    raw = raw_floor(bench) if params.raw else None
    wall = timing.wall_seconds
    result: dict[str, Any] = {
        "benchmark": "bill-run",
        **base_result(bench, params, worker_count),
        "invoices": got.invoices,
        "items": got.items,
        "amount": str(Decimal(got.amount_minor) / 100),
        "wall_seconds": round(wall, 3),
        "invoices_per_second": per_second(got.invoices, wall),
        "items_per_second": per_second(got.items, wall),
        "peak_rss_mb": timing.peak_rss_mb,
        "peak_rss_mb_per_worker": timing.peak_rss_mb_per_worker,
        "rss_samples_mb": timing.rss_samples_mb,
        # SQLite: the process that rated chunk N+1 while the worker wrote chunk N
        "helper_peak_rss_mb": helper_rss,
        "helper_cpu_seconds": round(
            sum(v["cpu"] for k, v in found.items() if k.startswith(HELPER)), 3
        ),
        "raw_write_seconds": round(raw.seconds, 3) if raw else None,
        "ratio": round(wall / raw.seconds, 2) if raw and raw.seconds > 0 else None,
        "phases": phase_table(found, wall, worker_count),
        "raw_write_phases": {k: round(v, 3) for k, v in raw.phases.items()} if raw else None,
        "load_seconds": round(load_seconds, 2),
        # the machine's 1-minute load average before and after the timed run
        "load_average": [round(load_before, 2), round(load_after, 2)],
        # PostgreSQL: the server settings the run had (docs/operations.md)
        "server_settings": server_settings.summary(server_settings.read(bench.runtime.engine))
        or None,
        "worker_kind": workers.kind,
        "correct": not errors,
        "errors": errors,
    }
    if raw is not None and (raw.invoices, raw.items) != (want.invoices, want.items):
        result["errors"].append(f"raw write wrote {raw.invoices}/{raw.items} rows")
        result["correct"] = False
    return result
