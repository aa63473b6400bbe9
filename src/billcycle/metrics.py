"""The process's Prometheus metrics: counters and histograms every layer may bump.

Only what a process counts as it goes lives here (requests, chunks, invoices, gateway
calls, webhook deliveries, pool connections). What the database already knows (runs by
status, queue depth) is read when ``/metrics`` is scraped (see
``billcycle.operations.collector``), so no process has to keep it in step.

Multiprocess mode: when ``PROMETHEUS_MULTIPROC_DIR`` is set before this module is first
imported (``billcycle serve --workers N`` sets it for its server processes; an operator
may set it for ``billcycle worker`` processes on the same machine), every process writes
its values to files there and ``/metrics`` sums them. Gauges say how they are summed.

Label values are bounded: route templates (never raw paths), dialects, statuses, task
kinds, outcomes; never a tenant, object id, or anything a client chooses.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# No ``*_created`` series: they double the scrape for a timestamp nobody graphs.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Request latencies: most answers take a few milliseconds; bulk uploads take seconds.
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_GATEWAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "billcycle_http_requests",
    "HTTP requests answered, by dialect, route template, method and status code.",
    ["dialect", "route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "billcycle_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by dialect and route.",
    ["dialect", "route", "method"],
    buckets=_HTTP_BUCKETS,
)

CHUNKS_CLAIMED = Counter(
    "billcycle_chunks_claimed",
    "Work chunks claimed by a worker, by kind (bill_run, bill_run_post, bulk jobs, ...).",
    ["kind"],
)
CHUNKS_COMPLETED = Counter(
    "billcycle_chunks_completed", "Work chunks done (their work committed), by kind.", ["kind"]
)
CHUNKS_RETRIED = Counter(
    "billcycle_chunks_retried",
    "Work chunks given back after a failure or a lost lease, to be claimed again, by kind.",
    ["kind"],
)
CHUNKS_FAILED = Counter(
    "billcycle_chunks_failed", "Work chunks that failed every attempt, by kind.", ["kind"]
)

INVOICES_GENERATED = Counter(
    "billcycle_invoices_generated", "Invoices generated (committed), by bill runs or the API."
)
INVOICE_ITEMS_GENERATED = Counter(
    "billcycle_invoice_items_generated", "Invoice items generated (committed)."
)

GATEWAY_CALLS = Counter(
    "billcycle_gateway_calls",
    "Calls to payment gateways, by gateway type, operation and outcome "
    "(approved, declined, pending, unknown, error, no_answer).",
    ["gateway", "operation", "outcome"],
)
GATEWAY_DURATION = Histogram(
    "billcycle_gateway_call_duration_seconds",
    "Time a payment gateway took to answer, by gateway type and operation.",
    ["gateway", "operation"],
    buckets=_GATEWAY_BUCKETS,
)

# Bumped by webhook delivery (outcome: delivered, failed, timeout, ...).
WEBHOOK_DELIVERIES = Counter(
    "billcycle_webhook_deliveries",
    "Webhook delivery attempts, by outcome.",
    ["outcome"],
)

# Bumped when the scheduler's webhook fan-out finds SQLite's write lock held by another
# writer and leaves its events to the next tick (not an error: nothing is lost).
WEBHOOK_FAN_OUT_SKIPPED = Counter(
    "billcycle_webhook_fan_out_skipped",
    "Webhook fan-out batches a scheduler tick left to the next one (SQLite writer busy).",
)

DB_POOL_IN_USE = Gauge(
    "billcycle_db_pool_connections_in_use",
    "Database connections checked out of the pools of live processes.",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "billcycle_db_pool_size",
    "Connections the pools of live processes keep (not counting overflow).",
    multiprocess_mode="livesum",
)
DB_POOL_CHECKOUTS = Counter(
    "billcycle_db_pool_checkouts", "Connections checked out of a database pool."
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> bytes:
    """The counters of this process, or of every process sharing the multiprocess
    directory, in the Prometheus text format."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def mark_process_dead(pid: int | None = None) -> None:
    """Drop a finished process's live gauges (pool usage) from the multiprocess sums."""
    directory = multiprocess_dir()
    if directory is not None:
        multiprocess.mark_process_dead(pid if pid is not None else os.getpid(), directory)  # type: ignore[no-untyped-call]


def watch_pool(engine: Any) -> None:
    """Count the connections ``engine``'s pool hands out (a SQLAlchemy Engine)."""
    from sqlalchemy import event

    pool = engine.pool
    size = getattr(pool, "size", None)
    if callable(size):
        DB_POOL_SIZE.inc(size())

    def checkout(*_args: Any) -> None:
        DB_POOL_IN_USE.inc()
        DB_POOL_CHECKOUTS.inc()

    def checkin(*_args: Any) -> None:
        DB_POOL_IN_USE.dec()

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    # A connection taken out of the pool for good (db.direct) is no longer the pool's.
    event.listen(engine, "detach", checkin)


def gateway_label(gateway: object) -> str:
    """A gateway's label value: its adapter's class (bounded by the code, not by data)."""
    return str(getattr(gateway, "metrics_name", None) or type(gateway).__name__)


@contextmanager
def timed_gateway_call(gateway: str, operation: str) -> Iterator[list[str]]:
    """Time one gateway call; the caller appends its outcome to the yielded list
    (``error`` when the block raises, ``no_answer`` when it says nothing)."""
    outcome: list[str] = []
    started = time.perf_counter()
    try:
        yield outcome
    except BaseException:
        outcome.append("error")
        raise
    finally:
        GATEWAY_DURATION.labels(gateway, operation).observe(time.perf_counter() - started)
        GATEWAY_CALLS.labels(gateway, operation, outcome[0] if outcome else "no_answer").inc()
