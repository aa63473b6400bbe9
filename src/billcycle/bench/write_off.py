"""``billcycle bench write-off``: a Fusebill BulkWriteOff of N posted invoices, timed from
``POST /fusebill/v1/BulkApi`` through Validated and ``POST /fusebill/v1/BulkApi/Process``
to Processed.

The posted invoices are inserted set-based by the bulk loader (a write-off looks only at
an invoice's status, amount and ledger), over accounts built the same way; the tenant's
``bulk_job_record_limit`` is raised to N. The request body is serialised before the
clock starts. The floor: N ledger rows written straight into a scratch table shaped
like ``ledger_entries``, plus the job's records moved twice (validated, processed) by
set-based UPDATEs, as the job does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text

from billcycle.bench import raw_write
from billcycle.bench.harness import Bench, BenchError, Stopwatch, Workers, per_second
from billcycle.bulkjobs.statuses import BulkJobStatus, BulkJobType, RecordStatus
from billcycle.db.session import unit_of_work
from billcycle.devtools.dataset import DatasetSpec, load_posted_invoices
from billcycle.ledger.models import LedgerEntry

BULK_API = "/fusebill/v1/BulkApi"
AMOUNT_MINOR = 3000
BATCH = 50_000
LEDGER_COLUMNS = (
    "id",
    "tenant_id",
    "account_id",
    "invoice_id",
    "entry_type",
    "amount_minor",
    "currency",
    "effective_date",
    "reference",
    "source",
    "created_at",
)


@dataclass(frozen=True)
class WriteOffParams:
    invoices: int
    accounts: int | None = None  # default: invoices / 10
    raw: bool = True

    @property
    def account_count(self) -> int:
        return self.accounts or max(1, self.invoices // 10)


def job_status(bench: Bench, job_id: int) -> str | None:
    status: str | None = bench.scalar("SELECT status FROM bulk_jobs WHERE id = :id", id=job_id)
    return status


def _prepare(bench: Bench, params: WriteOffParams) -> tuple[list[int], list[int], float]:
    started = time.perf_counter()
    bench.load(DatasetSpec(accounts=params.account_count))
    with bench.runtime.engine.connect() as conn:
        accounts = list(
            conn.execute(
                text("SELECT id FROM accounts WHERE tenant_id = :t ORDER BY id"),
                {"t": bench.tenant_id},
            ).scalars()
        )
    with unit_of_work(bench.runtime.session_factory) as session:
        invoices = load_posted_invoices(
            session, bench.tenant_id, accounts, params.invoices, amount_minor=AMOUNT_MINOR
        )
    return accounts, invoices, time.perf_counter() - started


def _write_off(bench: Bench, workers: Workers, body: bytes) -> tuple[int, float]:
    """Create the job, wait for Validated, process it, wait for Processed; returns the
    job id and the seconds to Validated (the caller's stopwatch times the whole)."""
    started = time.perf_counter()
    job = bench.call("POST", BULK_API, content=body, fusebill=True)
    job_id = int(job["id"])
    bench.wait_for(
        lambda: job_status(bench, job_id),
        [BulkJobStatus.VALIDATED],
        failed=[
            BulkJobStatus.VALIDATED_WITH_ERRORS,
            BulkJobStatus.FAILED,
            BulkJobStatus.PROCESSED_WITH_ERRORS,
        ],
        workers=workers,
        what="the bulk job's validation",
    )
    validated = time.perf_counter() - started
    bench.call("POST", f"{BULK_API}/Process", json={"id": job_id}, fusebill=True)
    bench.wait_for(
        lambda: job_status(bench, job_id),
        [BulkJobStatus.PROCESSED],
        failed=[BulkJobStatus.PROCESSED_WITH_ERRORS],
        workers=workers,
        what="the bulk job's processing",
    )
    return job_id, validated


def _ledger_batches(
    bench: Bench, accounts: list[int], invoices: list[int]
) -> Iterator[list[tuple[Any, ...]]]:
    sqlite = not bench.is_postgres
    day = raw_write.storage_value(sqlite, date(2026, 2, 1))
    now = raw_write.storage_value(sqlite, datetime.now(UTC))
    owners = len(accounts)
    for start in range(0, len(invoices), BATCH):
        yield [
            (
                i + 1,
                bench.tenant_id,
                accounts[i % owners],
                invoices[i],
                "WriteOff",
                AMOUNT_MINOR,
                "USD",
                day,
                "Bulk write off",
                "Fusebill",
                now,
            )
            for i in range(start, min(start + BATCH, len(invoices)))
        ]


def run(bench: Bench, params: WriteOffParams) -> dict[str, Any]:
    accounts, invoices, load_seconds = _prepare(bench, params)
    body = json.dumps({"accountUploadType": BulkJobType.BULK_WRITE_OFF, "data": invoices}).encode()
    with bench.workers() as workers:
        with Stopwatch(workers) as timing:
            job_id, validate_seconds = _write_off(bench, workers, body)
        worker_count = len(workers.pids())
    entries, total = bench.row(
        "SELECT count(*), coalesce(sum(amount_minor), 0) FROM ledger_entries "
        "WHERE tenant_id = :t AND entry_type = 'WriteOff'",
        t=bench.tenant_id,
    )
    processed = bench.scalar("SELECT processed_records FROM bulk_jobs WHERE id = :j", j=job_id)
    errors: list[str] = []
    if int(entries) != params.invoices:
        errors.append(f"write-offs: {entries}, expected {params.invoices}")
    if int(total) != params.invoices * AMOUNT_MINOR:
        errors.append(f"written off (minor units): {total}, expected {params.invoices * 3000}")
    if int(processed or 0) != params.invoices:
        errors.append(f"processed records: {processed}, expected {params.invoices}")
    raw_seconds: float | None = None
    if params.raw:
        copied, rows = raw_write.copy_rows(
            bench.runtime.engine,
            LedgerEntry,
            LEDGER_COLUMNS,
            _ledger_batches(bench, accounts, invoices),
        )
        if rows != params.invoices:
            raise BenchError(f"raw write wrote {rows} ledger rows")
        updates = raw_write.timed_statements(
            bench.runtime.engine,
            [
                (
                    "UPDATE bulk_job_records SET status = :s, details = NULL "
                    "WHERE bulk_job_id = :j",
                    {"s": status, "j": job_id},
                )
                for status in (RecordStatus.PASSED_VALIDATION, RecordStatus.PROCESSED)
            ],
        )
        raw_seconds = copied + updates
    wall = timing.wall_seconds
    return {
        "benchmark": "write-off",
        "database": bench.database,
        "workers": worker_count,
        "accounts": len(accounts),
        "invoices": params.invoices,
        "write_offs": int(entries),
        "wall_seconds": round(wall, 3),
        "validate_seconds": round(validate_seconds, 3),
        "process_seconds": round(wall - validate_seconds, 3),
        "invoices_per_second": per_second(params.invoices, wall),
        "peak_rss_mb": timing.peak_rss_mb,
        "peak_rss_mb_per_worker": timing.peak_rss_mb_per_worker,
        "rss_samples_mb": timing.rss_samples_mb,
        "raw_write_seconds": round(raw_seconds, 3) if raw_seconds is not None else None,
        "ratio": round(wall / raw_seconds, 2) if raw_seconds else None,
        "chunk_size": bench.runtime.settings.bulk_job_chunk_size,
        "load_seconds": round(load_seconds, 2),
        "worker_kind": workers.kind,
        "correct": not errors,
        "errors": errors,
    }
