"""The benchmark harness on small data sets, on SQLite and PostgreSQL (one real
`billcycle worker` process): its JSON answers the issue's keys, and its correctness
figures are the data set's. No timings are asserted: they belong to docs/benchmarks.md.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from billcycle.bench import bill_run, bulk_payment, posting, write_off
from billcycle.bench.harness import Bench, BenchConfig
from billcycle.cli.main import app

BILL_RUN_KEYS = {
    "accounts",
    "invoices",
    "items",
    "wall_seconds",
    "invoices_per_second",
    "items_per_second",
    "peak_rss_mb",
    "rss_samples_mb",
    "raw_write_seconds",
    "ratio",
    "database",
    "workers",
}


def _config(database_url: str, **extra: Any) -> BenchConfig:
    # Small chunks, so even a small run spans several chunks and drains.
    return BenchConfig(database_url=database_url, workers=1, chunk_size=100, timeout=120, **extra)


def _backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


def _positive_figures(result: dict[str, Any]) -> None:
    for key in ("wall_seconds", "raw_write_seconds", "ratio", "peak_rss_mb"):
        assert isinstance(result[key], float | int), key
        assert result[key] > 0, key
    assert result["rss_samples_mb"]
    assert all(s > 0 for s in result["rss_samples_mb"])


def test_bill_run_bench_through_the_cli(database_url: str) -> None:
    """One JSON line with every key, and the data set's invoices, items and total."""
    result = CliRunner().invoke(
        app,
        [
            "bench", "bill-run", "--accounts", "1000", "--database", database_url,
            "--chunk-size", "250", "--timeout", "120", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures.keys() >= BILL_RUN_KEYS
    assert figures["correct"] is True, figures["errors"]
    assert figures["database"] == _backend(database_url)
    assert figures["workers"] == 1
    assert (figures["accounts"], figures["invoices"], figures["items"]) == (1000, 1000, 2000)
    assert Decimal(figures["amount"]) == Decimal("60000.00")  # 1000 x 2 periods x $30
    _positive_figures(figures)
    assert figures["invoices_per_second"] == pytest.approx(1000 / figures["wall_seconds"], 0.01)
    # The run's profile, phase by phase, summed over the workers (a PostgreSQL worker is
    # another process), beside the floor's own phases.
    assert set(figures["phases"]) >= {
        "selection",
        "read charges",
        "rating",
        "numbers",
        "formatting",
        "write invoices",
        "write items",
        "watermarks",
        "bookkeeping",
        "claim and commit",
        "idle",
    }
    assert all(p["cpu"] >= 0 and p["wall"] >= 0 for p in figures["phases"].values())
    assert figures["phases"]["write items"]["wall"] > 0
    assert set(figures["raw_write_phases"]) == {
        "write invoices",
        "write items",
        "watermarks",
        "commit",
    }
    if _backend(database_url) == "postgresql":
        assert set(figures["server_settings"]) >= {"max_wal_size", "shared_buffers"}
    else:
        assert figures["server_settings"] is None


def test_repeated_bill_run_bench_reports_the_median_and_every_floor(database_url: str) -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench", "bill-run", "--accounts", "200", "--database", database_url,
            "--chunk-size", "50", "--repeat", "2", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("{")]
    summary = json.loads(lines[-1])
    assert summary["correct"] is True, summary["errors"]
    assert summary["repeat"] == 2
    assert len(summary["wall_seconds_runs"]) == len(summary["ratio_runs"]) == 2
    low, high = summary["wall_seconds_min_max"]
    assert low <= summary["wall_seconds"] <= high
    assert summary["raw_write_seconds"] in summary["raw_write_seconds_runs"]


def test_wrong_results_are_reported() -> None:
    """The check compares every figure with the data set's (the harness exits 1)."""
    want = bill_run.Expected.of(bill_run.BillRunParams(10))
    right = bill_run.Outcome(
        invoices=10,
        accounts=10,
        amount_minor=60_000,
        items=20,
        items_amount_minor=60_000,
        watermarks=10,
        run={"invoicesCreated": 10, "accountsFailed": 0,
             "totalAmounts": [{"currency": "USD", "amount": 600.0}]},
    )  # fmt: skip
    assert bill_run.check(right, want, 10) == []
    short = bill_run.Outcome(**{**right.__dict__, "items": 19, "amount_minor": 59_000})
    errors = bill_run.check(short, want, 10)
    assert any(e.startswith("items: 19") for e in errors)
    assert any(e.startswith("invoice total") for e in errors)


def test_post_bench(database_url: str) -> None:
    """Posting a run of several subscriptions and charges per account (the run itself is
    checked against the data set before it is posted)."""
    with Bench(_config(database_url)) as bench:
        result = posting.run(bench, bill_run.BillRunParams(300, subscriptions=3, charges=2))
    assert result["correct"] is True, result["errors"]
    assert result.keys() >= BILL_RUN_KEYS
    assert result["invoices"] == 300  # one invoice per account, all posted
    assert result["items"] == 300 * 3 * 2 * 2
    _positive_figures(result)


def test_write_off_bench(database_url: str) -> None:
    from billcycle.fusebill.routes import bulk_jobs, registry

    if bulk_jobs.router not in registry.FUSEBILL_ROUTERS:
        pytest.skip("the Fusebill bulk-job routes are not registered yet")
    with Bench(_config(database_url, bulk_job_record_limit=300)) as bench:
        result = write_off.run(bench, write_off.WriteOffParams(300))
    assert result["correct"] is True, result["errors"]
    assert (result["invoices"], result["write_offs"]) == (300, 300)
    assert result["validate_seconds"] + result["process_seconds"] == pytest.approx(
        result["wall_seconds"], abs=0.01
    )
    _positive_figures(result)


def test_bulk_payment_bench(database_url: str) -> None:
    """Correct figures, and the phases (create, validate, the Process call, process) add
    up to the timed wall and CPU seconds."""
    with Bench(_config(database_url, bulk_job_record_limit=300)) as bench:
        result = bulk_payment.run(bench, bulk_payment.BulkPaymentParams(300))
    assert result["correct"] is True, result["errors"]
    phases = result["phase_wall_seconds"]
    assert list(phases) == ["create", "validate", "process_call", "process"]
    assert sum(phases.values()) == pytest.approx(result["wall_seconds"], abs=0.05)
    assert sum(result["phase_cpu_seconds"].values()) == pytest.approx(
        result["cpu_seconds"], abs=0.05
    )
    assert result["validate_seconds"] == pytest.approx(
        phases["create"] + phases["validate"], abs=0.01
    )


def test_http_bench(database_url: str) -> None:
    """A short, light load (the figures themselves come from `billcycle bench http`)."""
    from billcycle.bench import http_load

    if database_url.startswith("postgresql"):
        pytest.skip("one backend is enough to check the HTTP harness; it is slow to start")
    params = http_load.HttpParams(duration=1, connections=4, threads=1)
    with Bench(_config(database_url)) as bench:
        result = http_load.run(bench, params)
    assert result["correct"] is True, result["errors"]
    if result["tool"] is None:
        assert "wrk is not installed" in result["skipped"]
        return
    for endpoint in ("get_bill_run", "post_accounts"):
        figures = result[endpoint]
        assert figures["requests"] > 0
        assert figures["errors"] == 0
        assert figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert result["server_errors"] == 0
    assert result["accounts_created"] >= result["post_accounts"]["requests"]


def test_http_bench_post_only(database_url: str) -> None:
    """``--post-only``: the POST figures and their checks, no GET and no floor."""
    from billcycle.bench import http_load

    if database_url.startswith("postgresql"):
        pytest.skip("one backend is enough to check the HTTP harness; it is slow to start")
    params = http_load.HttpParams(duration=1, connections=4, threads=1, post_only=True)
    with Bench(_config(database_url)) as bench:
        result = http_load.run(bench, params)
    assert result["correct"] is True, result["errors"]
    if result["tool"] is None:
        return
    assert "get_bill_run" not in result
    assert "get_floor" not in result
    figures = result["post_accounts"]
    assert figures["requests"] > 0
    assert figures["errors"] == 0
    assert result["accounts_created"] >= figures["requests"]
