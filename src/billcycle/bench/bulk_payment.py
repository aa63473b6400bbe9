"""``billcycle bench bulk-payment``: a Fusebill BulkPayment of N payments, timed from
``POST /fusebill/v1/BulkApi`` through Validated and ``POST /fusebill/v1/BulkApi/Process``
to Processed.

The posted invoices are loaded set-based as for ``bench write-off``; each record is a
Check payment of one invoice's whole amount, allocated to it (``paymentAllocations``),
so every record reads its customer and invoice and writes a payment, two ledger entries
and an activity. The tenant's ``bulk_job_record_limit`` is raised to N. The request body
is serialised before the clock starts.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from billcycle.bench.harness import (
    Bench,
    BenchError,
    Stopwatch,
    Workers,
    peak_rss_mb,
    per_second,
    process_cpu_seconds,
    reset_peak_rss,
)
from billcycle.bench.write_off import (
    AMOUNT_MINOR,
    BULK_API,
    WriteOffParams,
    _prepare,
    job_status,
)
from billcycle.bulkjobs.statuses import BulkJobStatus, BulkJobType


@dataclass(frozen=True)
class BulkPaymentParams:
    payments: int
    accounts: int | None = None  # default: payments / 10


def run(bench: Bench, params: BulkPaymentParams) -> dict[str, Any]:
    accounts, invoices, load_seconds = _prepare(
        bench, WriteOffParams(params.payments, params.accounts)
    )
    # The loader spreads invoices over accounts as i % len(accounts) (as write-off's raw
    # floor assumes); the body names each invoice's own customer.
    with bench.runtime.engine.connect() as conn:
        owners: dict[int, int] = {
            int(invoice_id): int(account_id)
            for invoice_id, account_id in conn.execute(
                text("SELECT id, account_id FROM invoices WHERE tenant_id = :t"),
                {"t": bench.tenant_id},
            )
        }
    started = time.perf_counter()
    body = json.dumps(
        {
            "accountUploadType": BulkJobType.BULK_PAYMENT,
            "data": [
                {
                    "customerId": owners[invoice_id],
                    "amount": AMOUNT_MINOR / 100,
                    "paymentMethod": "Check",
                    "source": "Import",
                    "paymentAllocations": [{"invoiceId": invoice_id, "amount": AMOUNT_MINOR / 100}],
                }
                for invoice_id in invoices
            ],
        }
    ).encode()
    body_seconds = time.perf_counter() - started
    with bench.workers() as workers:
        pids = sorted({os.getpid(), *workers.pids()})
        load_before = os.getloadavg()[0]
        phases = _Phases(pids)
        with Stopwatch(workers) as timing:
            job_id = _create_and_process(bench, workers, body, phases)
        load_after = os.getloadavg()[0]
        worker_pids = workers.pids()
        worker_count = len(worker_pids)
    validate_seconds = phases.wall["create"] + phases.wall["validate"]
    payments, applied = bench.row(
        "SELECT count(*), coalesce(sum(amount_minor), 0) FROM ledger_entries "
        "WHERE tenant_id = :t AND entry_type = 'Payment'",
        t=bench.tenant_id,
    )
    processed = bench.scalar("SELECT processed_records FROM bulk_jobs WHERE id = :j", j=job_id)
    errors: list[str] = []
    if int(payments) != params.payments:
        errors.append(f"applications: {payments}, expected {params.payments}")
    if int(applied) != params.payments * AMOUNT_MINOR:
        errors.append(f"applied (minor units): {applied}, expected {params.payments * 3000}")
    if int(processed or 0) != params.payments:
        errors.append(f"processed records: {processed}, expected {params.payments}")
    wall = timing.wall_seconds
    per_worker = [
        round(max(phases.pid_peak_rss_mb.get(pid, 0.0), peak), 1)
        for pid, peak in zip(worker_pids, timing.peak_rss_mb_per_worker, strict=False)
    ]
    return {
        "benchmark": "bulk-payment",
        "database": bench.database,
        "workers": worker_count,
        "accounts": len(accounts),
        "payments": params.payments,
        "wall_seconds": round(wall, 3),
        "validate_seconds": round(validate_seconds, 3),
        "process_seconds": round(wall - validate_seconds, 3),
        "payments_per_second": per_second(params.payments, wall),
        # CPU of the bench process (the API, and SQLite's embedded worker) and the
        # workers while timed: a shared machine's load moves the wall time far more.
        "cpu_seconds": round(sum(phases.cpu.values()), 2),
        # Per phase: create (the POST and its answer), validate (until Validated), the
        # Process call (its answer streams every record), process (until Processed).
        "phase_wall_seconds": {k: round(v, 3) for k, v in phases.wall.items()},
        "phase_cpu_seconds": {k: round(v, 2) for k, v in phases.cpu.items()},
        "load_average": [round(load_before, 1), round(load_after, 1)],
        # The workers' (SQLite: the bench process's) peaks; the phases reset the
        # high-water mark as each ends, so a run's peak is the largest of its phases'.
        "peak_rss_mb": max(per_worker, default=timing.peak_rss_mb),
        "peak_rss_mb_per_worker": per_worker,
        # Per phase, the largest of the bench process (the API) and the workers.
        "phase_peak_rss_mb": phases.peak_rss_mb,
        "rss_samples_mb": timing.rss_samples_mb,
        "chunk_size": bench.runtime.settings.bulk_job_chunk_size,
        "load_seconds": round(load_seconds, 2),
        "body_seconds": round(body_seconds, 2),
        "worker_kind": workers.kind,
        "correct": not errors,
        "errors": errors,
    }


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes ``pids`` have used (Linux ``/proc``; 0
    for a process that is gone or a system without it)."""
    return sum(cpu for pid in pids if (cpu := process_cpu_seconds(pid)) is not None)


class _Phases:
    """Wall and CPU seconds (of ``pids``: the bench process and the workers) per phase,
    and the largest process's peak RSS in each (VmHWM, reset as each phase ends): a
    job's size shows in the create phase (the request body), and must not in the
    others (records are validated, processed and answered in chunks and pages)."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {}
        self.pid_peak_rss_mb: dict[int, float] = {}
        self._at = time.perf_counter()
        self._cpu = _cpu_seconds(pids)

    def end(self, phase: str) -> None:
        now, cpu = time.perf_counter(), _cpu_seconds(self.pids)
        self.wall[phase] = now - self._at
        self.cpu[phase] = cpu - self._cpu
        self._at, self._cpu = now, cpu
        peaks: list[float] = []
        for pid in self.pids:
            peak = peak_rss_mb(pid)
            if peak is not None:
                peaks.append(peak)
                self.pid_peak_rss_mb[pid] = max(peak, self.pid_peak_rss_mb.get(pid, 0.0))
            reset_peak_rss(pid)
        self.peak_rss_mb[phase] = round(max(peaks, default=0.0), 1)


def _create_and_process(bench: Bench, workers: Workers, body: bytes, phases: _Phases) -> int:
    """``write_off._write_off``'s steps (create, wait for Validated, Process, wait for
    Processed), except that Process's answer (the whole job with its records: ~200 MB
    for a million) is received but not parsed: parsing it is the client's cost, and the
    bench's client shares its process (and, on SQLite, the GIL) with the API and the
    worker it measures."""
    job = bench.call("POST", BULK_API, content=body, fusebill=True)
    job_id = int(job["id"])
    phases.end("create")
    bench.wait_for(
        lambda: job_status(bench, job_id),
        [BulkJobStatus.VALIDATED],
        failed=[BulkJobStatus.VALIDATED_WITH_ERRORS, BulkJobStatus.FAILED],
        workers=workers,
        what="the bulk job's validation",
    )
    phases.end("validate")
    # Received as it came (gzipped, as a client asking for it gets it) and dropped: the
    # decoded answer (~270 MB at a million records) would be the bench client's memory
    # and CPU, in the process it measures, not the API's.
    with bench.client.stream(
        "POST", f"{BULK_API}/Process", json={"id": job_id}, headers=bench.fusebill_headers
    ) as answer:
        if answer.status_code != 200:
            answer.read()
            raise BenchError(f"POST {BULK_API}/Process: {answer.status_code} {answer.text[:500]}")
        for _ in answer.iter_raw():
            pass
    phases.end("process_call")
    bench.wait_for(
        lambda: job_status(bench, job_id),
        [BulkJobStatus.PROCESSED],
        failed=[BulkJobStatus.PROCESSED_WITH_ERRORS],
        workers=workers,
        what="the bulk job's processing",
    )
    phases.end("process")
    return job_id


def repeated(
    payments: int,
    repeat: int,
    *,
    accounts: int | None,
    database: str | None,
    workers: int,
    chunk_size: int | None,
    timeout: float,
    fresh: bool,
) -> dict[str, Any]:
    """``repeat`` runs, each ``billcycle bench bulk-payment --json`` in a fresh process:
    the median run (by wall time) with every run's wall, CPU and phases beside it."""
    from billcycle.bench.report import bench_subprocess, median_run

    command = [
        sys.executable,
        "-m",
        "billcycle.cli.main",
        "bench",
        "bulk-payment",
        "--payments",
        str(payments),
        "--workers",
        str(workers),
        "--timeout",
        str(timeout),
        "--json",
    ]
    if accounts is not None:
        command += ["--accounts", str(accounts)]
    if database:
        command += ["--database", database]
    if fresh:
        command.append("--fresh-database")
    if chunk_size is not None:
        command += ["--chunk-size", str(chunk_size)]
    runs = [bench_subprocess(command, timeout) for _ in range(repeat)]
    summary = median_run(runs)
    summary["repeat"] = len(runs)
    walls = summary["wall_seconds_runs"]
    summary["wall_seconds_min_max"] = [min(walls), max(walls)]
    summary["cpu_seconds_runs"] = [r.get("cpu_seconds") for r in runs]
    summary["cpu_seconds_median"] = round(
        statistics.median(float(r["cpu_seconds"]) for r in runs), 2
    )
    summary["phase_cpu_seconds_runs"] = [r.get("phase_cpu_seconds") for r in runs]
    summary["peak_rss_mb_runs"] = [r.get("peak_rss_mb") for r in runs]
    return summary
