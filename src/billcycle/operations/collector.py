"""Metrics read from the database when ``/metrics`` is scraped: runs and jobs by status,
a running bill run's progress, open chunks, the job queue, live workers.

The database is the source of truth for these, so every server process answers the
same numbers (no per-process gauge to keep in step, nothing lost on a restart). A few
indexed aggregate queries in one read-only unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from billcycle.db.bulk import is_postgres
from billcycle.db.session import read_only_unit
from billcycle.operations import repository as repo
from billcycle.runtime import Runtime

log = logging.getLogger(__name__)


def _by_status(name: str, documentation: str, counts: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    for status, count in sorted(counts.items()):
        family.add_metric([status], count)
    return family


class DatabaseCollector(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        runtime = self.runtime
        up = GaugeMetricFamily(
            "billcycle_database_up", "1 when the database answered this scrape's queries."
        )
        try:
            families = list(self._read(runtime))
        except Exception:
            log.warning("metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self, runtime: Runtime) -> Iterator[Any]:
        postgres = is_postgres(runtime.engine)
        with read_only_unit(runtime.session_factory) as session:
            found = repo.snapshot(
                session,
                postgres=postgres,
                fresh_seconds=runtime.settings.worker_lease_seconds,
            )
        bill_runs, payment_runs, bulk_jobs = found.bill_runs, found.payment_runs, found.bulk_jobs
        progress, open_chunks, queue, workers = (
            found.progress,
            found.open_chunks,
            found.queue,
            found.live_workers,
        )
        yield _by_status("billcycle_bill_runs", "Bill runs by status.", bill_runs)
        yield _by_status("billcycle_payment_runs", "Payment runs by status.", payment_runs)
        yield _by_status("billcycle_bulk_jobs", "Fusebill bulk jobs by status.", bulk_jobs)
        fields = {
            "runs": "Bill runs generating invoices now.",
            "accounts_total": "Accounts selected by the bill runs generating invoices now.",
            "accounts_processed": "Accounts those runs have processed so far.",
            "chunks_total": "Chunks of those runs.",
            "chunks_done": "Chunks of those runs done so far.",
            "invoices_created": "Invoices those runs have created so far.",
            "items_created": "Invoice items those runs have created so far.",
        }
        for field, documentation in fields.items():
            family = GaugeMetricFamily(f"billcycle_bill_runs_processing_{field}", documentation)
            family.add_metric([], getattr(progress, field))
            yield family
        chunk_family = GaugeMetricFamily(
            "billcycle_work_chunks_open",
            "Work chunks waiting (pending) or being worked on (claimed), by kind.",
            labels=["kind", "status"],
        )
        for (kind, status), count in sorted(open_chunks.items()):
            chunk_family.add_metric([kind, status], count)
        yield chunk_family
        if queue is not None:
            depth = GaugeMetricFamily(
                "billcycle_queue_jobs", "Jobs in the PostgreSQL queue, by state.", labels=["state"]
            )
            depth.add_metric(["waiting"], queue.waiting)
            depth.add_metric(["running"], queue.running)
            yield depth
            oldest = GaugeMetricFamily(
                "billcycle_queue_oldest_waiting_seconds",
                "How long the oldest job due to run has waited for a worker (0: none waits).",
            )
            oldest.add_metric([], queue.oldest_wait_seconds)
            yield oldest
        else:
            waiting = _embedded_queue_length(runtime)
            if waiting is not None:
                depth = GaugeMetricFamily(
                    "billcycle_queue_jobs",
                    "Jobs queued for this process's embedded worker.",
                    labels=["state"],
                )
                depth.add_metric(["waiting"], waiting)
                yield depth
        if workers is not None:
            live = GaugeMetricFamily(
                "billcycle_workers_alive",
                "`billcycle worker` processes with a heartbeat younger than a lease.",
            )
            live.add_metric([], workers)
            yield live


def _embedded_queue_length(runtime: Runtime) -> int | None:
    queued = getattr(runtime.dispatcher, "queued", None)
    return int(queued()) if callable(queued) else None


def database_exposition(runtime: Runtime) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(runtime))
    return generate_latest(registry)
