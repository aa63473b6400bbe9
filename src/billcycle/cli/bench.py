"""``billcycle bench``: the performance benchmarks of issue 5 (see bench/README.md).

Each command builds its data set with the bulk loader (not timed), drives the real API
and workers, prints one JSON line with ``--json`` (a table otherwise), and exits 1 when
the work's result is wrong (2 when the benchmark could not run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from billcycle.bench.harness import Bench, BenchConfig, BenchError
from billcycle.cli.common import console, err_console

app = typer.Typer(
    help="Benchmarks: bill runs, posting, bulk write-offs, HTTP.", no_args_is_help=True
)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="SQLAlchemy URL (sqlite:///file.db or postgresql://...); "
        "default: a fresh temporary SQLite file",
    ),
]
Workers = Annotated[
    int, typer.Option(help="PostgreSQL: `billcycle worker` processes (SQLite: the embedded one)")
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON line")]
ChunkSize = Annotated[
    int | None, typer.Option(help="Accounts per bill-run chunk (default: settings, 1000)")
]
Timeout = Annotated[float, typer.Option(help="Seconds allowed for each timed phase")]
Accounts = Annotated[int, typer.Option(min=1, help="Accounts in the data set")]
Subscriptions = Annotated[int, typer.Option(min=1, help="Subscriptions per account")]
Charges = Annotated[int, typer.Option(min=1, help="Monthly charges per subscription")]
Fresh = Annotated[
    bool,
    typer.Option(
        "--fresh-database",
        help="Drop and re-create the --database first (PostgreSQL database or SQLite file): "
        "its data is lost",
    ),
]
Raw = Annotated[bool, typer.Option("--raw/--no-raw", help="Measure the raw-write floor")]


def _emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result, separators=(",", ":")))
    else:
        table = Table(title=f"bench {result.get('benchmark', '')}", show_header=False)
        for key, value in result.items():
            table.add_row(key, json.dumps(value) if isinstance(value, list) else str(value))
        console.print(table)
    if result.get("correct") is False:
        err_console.print("[red]WRONG RESULT:[/red] " + "; ".join(result.get("errors", [])))
        raise typer.Exit(1)


def _run(config: BenchConfig, body: Callable[[Bench], dict[str, Any]], as_json: bool) -> None:
    try:
        with Bench(config) as bench:
            result = body(bench)
    except BenchError as exc:
        err_console.print(f"[red]bench failed:[/red] {exc}")
        raise typer.Exit(2) from exc
    _emit(result, as_json)


@app.command("bill-run")
def bill_run(
    accounts: Accounts = 1000,
    subscriptions: Subscriptions = 1,
    charges: Charges = 1,
    database: DatabaseUrl = None,
    workers: Workers = 1,
    chunk_size: ChunkSize = None,
    raw: Raw = True,
    timeout: Timeout = 1800.0,
    fresh: Fresh = False,
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            max=9,
            help="Runs, each in a fresh process; prints the median run (by wall time) with "
            "its floor, and every run's wall time, floor and ratio",
        ),
    ] = 1,
    as_json: Json = False,
) -> None:
    """A real bill run (API call -> Completed) over N accounts, against raw writes."""
    from billcycle.bench import bill_run as bench_bill_run

    if repeat > 1:
        from billcycle.bench import report

        try:
            runs = [
                report.bill_run_subprocess(
                    accounts,
                    subscriptions=subscriptions,
                    charges=charges,
                    database=database,
                    workers=workers,
                    raw=raw,
                    timeout=timeout,
                    fresh=fresh,
                    chunk_size=chunk_size,
                )
                for _ in range(repeat)
            ]
        except BenchError as exc:
            err_console.print(f"[red]bench failed:[/red] {exc}")
            raise typer.Exit(2) from exc
        summary = report.median_summary(runs)
        if not as_json:
            console.print(report.median_line(summary), soft_wrap=True)
        _emit(summary, as_json)
        return
    params = bench_bill_run.BillRunParams(accounts, subscriptions, charges, raw=raw)
    config = BenchConfig(database, workers, chunk_size, timeout, fresh_database=fresh)
    _run(config, lambda bench: bench_bill_run.run(bench, params), as_json)


@app.command()
def post(
    accounts: Accounts = 1000,
    subscriptions: Subscriptions = 1,
    charges: Charges = 1,
    database: DatabaseUrl = None,
    workers: Workers = 1,
    chunk_size: ChunkSize = None,
    raw: Raw = True,
    timeout: Timeout = 1800.0,
    fresh: Fresh = False,
    invoice_events: Annotated[
        bool,
        typer.Option(
            "--invoice-events/--no-invoice-events",
            help="A webhook endpoint subscribes to invoice.posted: one event per invoice",
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Posting a Completed run of N invoices (PUT .../post -> Posted)."""
    from billcycle.bench import bill_run as bench_bill_run
    from billcycle.bench import posting

    params = bench_bill_run.BillRunParams(accounts, subscriptions, charges, raw=raw)
    config = BenchConfig(database, workers, chunk_size, timeout, fresh_database=fresh)
    _run(
        config,
        lambda bench: posting.run(bench, params, invoice_events=invoice_events),
        as_json,
    )


@app.command("write-off")
def write_off(
    invoices: Annotated[int, typer.Option(min=1, help="Posted invoices to write off")] = 1000,
    accounts: Annotated[
        int | None, typer.Option(help="Accounts owning them (default: invoices / 10)")
    ] = None,
    database: DatabaseUrl = None,
    workers: Workers = 1,
    chunk_size: ChunkSize = None,
    raw: Raw = True,
    timeout: Timeout = 1800.0,
    fresh: Fresh = False,
    as_json: Json = False,
) -> None:
    """A Fusebill BulkWriteOff of N posted invoices: create -> Validated -> Processed."""
    from billcycle.bench import write_off as bench_write_off

    params = bench_write_off.WriteOffParams(invoices, accounts, raw=raw)
    config = BenchConfig(
        database,
        workers,
        chunk_size,
        timeout,
        bulk_job_record_limit=invoices,
        fresh_database=fresh,
    )
    _run(config, lambda bench: bench_write_off.run(bench, params), as_json)


@app.command("payment-run")
def payment_run(
    accounts: Accounts = 1000,
    latency_ms: Annotated[
        int, typer.Option(min=0, help="Test gateway round trip per call, milliseconds")
    ] = 0,
    in_flight: Annotated[
        int | None, typer.Option(min=1, help="Gateway calls in flight per worker (default 64)")
    ] = None,
    gateway_batch: Annotated[
        bool,
        typer.Option(
            help="The test gateway takes a batch of sales in one call (one round trip); "
            "default: one call per sale, as a gateway without a batch API (Stripe)"
        ),
    ] = False,
    rate_limit: Annotated[
        int, typer.Option(min=0, help="The gateway's max_calls_per_second (0: none)")
    ] = 0,
    database: DatabaseUrl = None,
    workers: Workers = 1,
    chunk_size: ChunkSize = None,
    raw: Raw = True,
    timeout: Timeout = 1800.0,
    fresh: Fresh = False,
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            max=9,
            help="Runs, each in a fresh process; prints the median run (by wall time) with "
            "its floor and ratio, every run's wall, floor and ratio, and the median CPU",
        ),
    ] = 1,
    as_json: Json = False,
) -> None:
    """A Zuora payment run over N autopay accounts' posted invoices (API call ->
    Completed) through the test gateway, against raw writes of the same rows."""
    from billcycle.bench import payment_run as bench_payment_run

    if repeat > 1:
        argv = [
            "--accounts",
            str(accounts),
            "--latency-ms",
            str(latency_ms),
            "--rate-limit",
            str(rate_limit),
            "--workers",
            str(workers),
            "--timeout",
            str(timeout),
            "--gateway-batch" if gateway_batch else "--no-gateway-batch",
            "--raw" if raw else "--no-raw",
        ]
        if in_flight is not None:
            argv += ["--in-flight", str(in_flight)]
        if database:
            argv += ["--database", database]
        if fresh:
            argv.append("--fresh-database")
        if chunk_size is not None:
            argv += ["--chunk-size", str(chunk_size)]
        try:
            summary = bench_payment_run.repeated(argv, repeat, timeout)
        except BenchError as exc:
            err_console.print(f"[red]bench failed:[/red] {exc}")
            raise typer.Exit(2) from exc
        if not as_json:
            console.print(bench_payment_run.median_line(summary), soft_wrap=True)
        _emit(summary, as_json)
        return
    params = bench_payment_run.PaymentRunParams(
        accounts,
        latency_ms,
        in_flight,
        raw=raw,
        gateway_batch=gateway_batch,
        rate_limit=rate_limit,
    )
    config = BenchConfig(database, workers, chunk_size, timeout, fresh_database=fresh)
    _run(config, lambda bench: bench_payment_run.run(bench, params), as_json)


@app.command("bulk-payment")
def bulk_payment(
    payments: Annotated[int, typer.Option(min=1, help="Payments (one per posted invoice)")] = 1000,
    accounts: Annotated[
        int | None, typer.Option(help="Accounts owning the invoices (default: payments / 10)")
    ] = None,
    database: DatabaseUrl = None,
    workers: Workers = 1,
    chunk_size: ChunkSize = None,
    timeout: Timeout = 1800.0,
    fresh: Fresh = False,
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            max=9,
            help="Runs, each in a fresh process; prints the median run (by wall time) with "
            "every run's wall time, CPU seconds and per-phase CPU",
        ),
    ] = 1,
    as_json: Json = False,
) -> None:
    """A Fusebill BulkPayment of N Check payments: create -> Validated -> Processed."""
    from billcycle.bench import bulk_payment as bench_bulk_payment

    if repeat > 1:
        try:
            summary = bench_bulk_payment.repeated(
                payments,
                repeat,
                accounts=accounts,
                database=database,
                workers=workers,
                chunk_size=chunk_size,
                timeout=timeout,
                fresh=fresh,
            )
        except BenchError as exc:
            err_console.print(f"[red]bench failed:[/red] {exc}")
            raise typer.Exit(2) from exc
        _emit(summary, as_json)
        return

    params = bench_bulk_payment.BulkPaymentParams(payments, accounts)
    config = BenchConfig(
        database,
        workers,
        chunk_size,
        timeout,
        bulk_job_record_limit=payments,
        fresh_database=fresh,
    )
    _run(config, lambda bench: bench_bulk_payment.run(bench, params), as_json)


@app.command("test-clock")
def clock_year(
    accounts: Accounts = 1000,
    database: DatabaseUrl = None,
    timeout: Timeout = 1800.0,
    fresh: Fresh = False,
    as_json: Json = False,
) -> None:
    """A sandbox tenant's year in one clock advance: 12 monthly bill runs with posting,
    payments and retries through the test gateway, dunning (every tenth card declines)."""
    from billcycle.bench import sandbox_year

    params = sandbox_year.SandboxYearParams(accounts)
    config = BenchConfig(database, 1, None, timeout, fresh_database=fresh, sandbox=True)
    _run(config, lambda bench: sandbox_year.run(bench, params), as_json)


@app.command()
def webhooks(
    deliveries: Annotated[int, typer.Option(min=1, help="Events delivered")] = 10_000,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Requests in flight (default: settings, 16)")
    ] = None,
    database: DatabaseUrl = None,
    timeout: Timeout = 1800.0,
    as_json: Json = False,
) -> None:
    """N signed webhook deliveries to a local receiver (fan-out -> last one logged)."""
    from billcycle.bench import webhooks as bench_webhooks

    config = BenchConfig(database, 1, None, timeout)
    _run(config, lambda bench: bench_webhooks.run(bench, deliveries, concurrency), as_json)


@app.command()
def http(
    database: DatabaseUrl = None,
    duration: Annotated[int, typer.Option(min=1, max=120, help="Seconds per load test")] = 10,
    connections: Annotated[int, typer.Option(min=1, max=1024, help="Open connections")] = 64,
    threads: Annotated[int, typer.Option(min=1, max=16, help="wrk threads")] = 2,
    server_workers: Annotated[
        int, typer.Option(min=1, max=16, help="Server processes (uvicorn --workers)")
    ] = 1,
    post_only: Annotated[
        bool, typer.Option("--post-only", help="Only POST /zuora/v1/accounts (no GET, no floor)")
    ] = False,
    fresh: Fresh = False,
    as_json: Json = False,
) -> None:
    """GET /zuora/v1/bill-runs/{id} and POST /zuora/v1/accounts under wrk (loopback)."""
    from billcycle.bench import http_load

    params = http_load.HttpParams(
        duration, connections, threads, server_workers, post_only=post_only
    )
    config = BenchConfig(database, fresh_database=fresh)
    _run(config, lambda bench: http_load.run(bench, params), as_json)


@app.command()
def curve(
    sizes: Annotated[str, typer.Option(help="Comma-separated account counts")] = (
        "10000,100000,1000000"
    ),
    subscriptions: Subscriptions = 1,
    charges: Charges = 1,
    database: Annotated[
        list[str] | None,
        typer.Option(
            "--database",
            help="SQLAlchemy URL; repeat for one curve per database "
            "(default: fresh temporary SQLite files)",
        ),
    ] = None,
    workers: Workers = 1,
    repeat: Annotated[
        int, typer.Option(min=1, max=9, help="Runs per size; the median (by wall time) is kept")
    ] = 1,
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("docs/bill-run-growth.png"),
    raw: Annotated[
        bool, typer.Option("--raw/--no-raw", help="Measure the raw-write floor")
    ] = False,
    timeout: Timeout = 1800.0,
    fresh: Fresh = False,
    as_json: Json = False,
) -> None:
    """The bill-run benchmark at each size (each run in a fresh process), plotted: wall
    time and peak worker memory against accounts, one curve per database."""
    from billcycle.bench import report

    try:
        counts = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"--sizes: {sizes}") from exc
    if not counts or min(counts) < 1:
        raise typer.BadParameter("--sizes: positive account counts")
    series: dict[str, list[dict[str, Any]]] = {}
    urls: list[str | None] = list(database) if database else [None]
    for url in urls:
        for count in counts:
            runs = []
            for _ in range(repeat):
                result = report.bill_run_subprocess(
                    count,
                    subscriptions=subscriptions,
                    charges=charges,
                    database=url,
                    workers=workers,
                    raw=raw,
                    timeout=timeout,
                    fresh=fresh,
                )
                err_console.print(json.dumps(result, separators=(",", ":")))
                runs.append(result)
            median = report.median_run(runs)
            series.setdefault(report.series_label(median), []).append(median)
    report.plot_growth(series, out)
    results = [r for runs in series.values() for r in runs]
    summary: dict[str, Any] = {
        "benchmark": "curve",
        "out": str(out),
        "runs": results,
        "correct": all(r.get("correct") for r in results),
        "errors": [e for r in results for e in r.get("errors", [])],
    }
    if as_json:
        typer.echo(json.dumps(summary, separators=(",", ":")))
    else:
        console.print(f"wrote {out}")
    if not summary["correct"]:
        raise typer.Exit(1)


@app.command("console")
def console_pages(
    tenant: Annotated[str, typer.Option(help="Tenant id or name whose data is read")],
    database: Annotated[
        str | None, typer.Option("--database", help="SQLAlchemy URL of an existing data set")
    ] = None,
    runs: Annotated[int, typer.Option(min=3, max=1000, help="Requests per page")] = 20,
    as_json: Json = False,
) -> None:
    """Console page latency (p50/p95 per page, first and last page of every sort order)
    on an existing data set, through the app in process."""
    from billcycle.bench import console_pages as bench_console
    from billcycle.cli.common import runtime_for, tenant_id_of

    runtime = runtime_for(database)
    try:
        result = bench_console.run(runtime, tenant_id_of(runtime, tenant), runs)
    finally:
        runtime.dispose()
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table("page", "p50 ms", "p95 ms")
    for url, timing in result["pages"].items():
        table.add_row(
            url if len(url) < 70 else url[:67] + "...", str(timing["p50_ms"]), str(timing["p95_ms"])
        )
    console.print(table)


@app.command("usage")
def usage(
    accounts: Accounts = 10_000,
    records: Annotated[int, typer.Option(min=1, help="Usage records per account")] = 100,
    bill: Annotated[
        bool, typer.Option("--bill/--no-bill", help="Also time a bill run rating the usage")
    ] = True,
    generate: Annotated[
        bool,
        typer.Option(
            "--generate",
            help="Write the records in the database (INSERT ... SELECT) instead of importing"
            " a CSV (no import figures; for 10M-record bill runs)",
        ),
    ] = False,
    database: DatabaseUrl = None,
    workers: Workers = 1,
    chunk_size: ChunkSize = None,
    timeout: Timeout = 1800.0,
    fresh: Fresh = False,
    as_json: Json = False,
) -> None:
    """Import N x R usage records from a CSV (upload -> Completed), then a bill run rating
    them (API call -> Completed)."""
    import tempfile

    from billcycle.bench import usage as bench_usage

    params = bench_usage.UsageParams(accounts, records, bill, generate)
    config = BenchConfig(database, workers, chunk_size, timeout, fresh_database=fresh)
    with tempfile.TemporaryDirectory(prefix="bench-usage-") as work:
        _run(config, lambda bench: bench_usage.run(bench, params, Path(work)), as_json)


@app.command("invoice-pdf")
def invoice_pdf(
    invoices: Annotated[int, typer.Option(min=1, help="Invoices (one per account)")] = 20,
    charges: Annotated[
        int, typer.Option(min=1, help="Monthly charges per subscription (2 items each)")
    ] = 3,
    runs: Annotated[int, typer.Option(min=1, max=50, help="Rounds over every invoice")] = 5,
    database: DatabaseUrl = None,
    workers: Workers = 1,
    timeout: Timeout = 600.0,
    fresh: Fresh = False,
    as_json: Json = False,
) -> None:
    """Invoice PDF render time (median of every render, target < 300 ms) and a stored
    version served again."""
    from billcycle.bench import invoice_pdf as bench_invoice_pdf

    params = bench_invoice_pdf.InvoicePdfParams(invoices, charges, runs)
    config = BenchConfig(database, workers, None, timeout, fresh_database=fresh)
    _run(config, lambda bench: bench_invoice_pdf.run(bench, params), as_json)
