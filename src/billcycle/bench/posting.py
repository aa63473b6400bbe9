"""``billcycle bench post``: posting a Completed bill run, timed from
``PUT /zuora/v1/bill-runs/{id}/post`` to Posted.

The run itself is generated first through the same path as ``bench bill-run`` (its time
is reported as ``generate_seconds``, not part of the figure). The floor is the same
state change written as one set-based UPDATE of the run's invoices.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billcycle.bench import bill_run, raw_write
from billcycle.bench.harness import Bench, Stopwatch, per_second
from billcycle.bench.raw_write import storage_value
from billcycle.billruns.statuses import BillRunStatus
from billcycle.ids import to_zuora_id
from billcycle.invoicing.statuses import InvoiceStatus


def _subscribe(bench: Bench) -> None:
    """An enabled endpoint wanting ``invoice.posted``: the run then writes one event per
    invoice (set-based with each posting chunk). It points at a closed local port, so its
    deliveries fail fast and back off (the fan-out still runs on every tick)."""
    from billcycle.webhooks import service as webhooks

    with bench.runtime.service_context(bench.tenant_id) as ctx:
        webhooks.set_allow_private(ctx, True)
        webhooks.add_endpoint(
            ctx,
            webhooks.NewEndpoint(url="http://127.0.0.1:9/hooks", event_types=["invoice.posted"]),
        )


def run(
    bench: Bench, params: bill_run.BillRunParams, *, invoice_events: bool = False
) -> dict[str, Any]:
    dataset, load_seconds = bench.load(params.spec())
    if invoice_events:
        _subscribe(bench)
    want = bill_run.Expected.of(params)
    with bench.workers() as workers:
        run_id, generated = bill_run.generate(bench, workers)
        # The run being posted must be right first (a cheap check, not timed).
        errors = bill_run.check(bill_run.outcome(bench, run_id), want, dataset.accounts)
        with Stopwatch(workers) as timing:
            bench.call("PUT", f"{bill_run.BILL_RUNS}/{to_zuora_id(run_id)}/post", json={})
            bench.wait_for(
                lambda: bill_run.run_status(bench, run_id),
                [BillRunStatus.POSTED],
                failed=[BillRunStatus.ERROR, BillRunStatus.CANCELED, BillRunStatus.COMPLETED],
                workers=workers,
                what="posting",
            )
        worker_count = len(workers.pids())
    posted, drafts = bench.row(
        "SELECT sum(CASE WHEN status = :posted THEN 1 ELSE 0 END), "
        "sum(CASE WHEN status = :draft THEN 1 ELSE 0 END) FROM invoices "
        "WHERE tenant_id = :t AND bill_run_id = :r",
        posted=InvoiceStatus.POSTED.value,
        draft=InvoiceStatus.DRAFT.value,
        t=bench.tenant_id,
        r=run_id,
    )
    if int(posted or 0) != want.invoices:
        errors.append(f"posted invoices: {posted}, expected {want.invoices}")
    if int(drafts or 0) != 0:
        errors.append(f"drafts left: {drafts}")
    events = bench.scalar(
        "SELECT count(*) FROM events WHERE tenant_id = :t AND type = 'invoice.posted'",
        t=bench.tenant_id,
    )
    if int(events) != (want.invoices if invoice_events else 0):
        errors.append(f"invoice.posted events: {events}")
    raw_seconds: float | None = None
    if params.raw:
        now = storage_value(not bench.is_postgres, datetime.now(UTC))
        raw_seconds = raw_write.timed_statements(
            bench.runtime.engine,
            [
                (
                    "UPDATE invoices SET status = :posted, posted_at = :now, updated_at = :now "
                    "WHERE tenant_id = :t AND bill_run_id = :r",
                    {
                        "posted": InvoiceStatus.POSTED.value,
                        "now": now,
                        "t": bench.tenant_id,
                        "r": run_id,
                    },
                )
            ],
        )
    wall = timing.wall_seconds
    return {
        "benchmark": "post",
        **bill_run.base_result(bench, params, worker_count),
        "invoice_events": invoice_events,
        "invoices": int(posted or 0),
        "items": want.items,
        "wall_seconds": round(wall, 3),
        "invoices_per_second": per_second(int(posted or 0), wall),
        "items_per_second": per_second(want.items, wall),
        "peak_rss_mb": timing.peak_rss_mb,
        "peak_rss_mb_per_worker": timing.peak_rss_mb_per_worker,
        "rss_samples_mb": timing.rss_samples_mb,
        # Microseconds kept: a small run's single UPDATE takes well under a millisecond.
        "raw_write_seconds": round(raw_seconds, 6) if raw_seconds is not None else None,
        "ratio": round(wall / raw_seconds, 2) if raw_seconds else None,
        "generate_seconds": round(generated.wall_seconds, 3),
        "load_seconds": round(load_seconds, 2),
        "accounts_loaded": dataset.accounts,
        "worker_kind": workers.kind,
        "correct": not errors,
        "errors": errors,
    }
