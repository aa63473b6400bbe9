"""All SQL of the operations views: cheap aggregate reads for ``/metrics`` and ``/readyz``.

A scrape is ONE statement (a UNION ALL of aggregates over indexed status columns and
small tables): one round trip, cheap on a database of millions of invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from billcycle.billruns.statuses import BillRunStatus
from billcycle.jobs import chunks

_OPEN_CHUNKS = (chunks.PENDING, chunks.CLAIMED)


@dataclass(frozen=True, slots=True)
class RunProgress:
    runs: int
    accounts_total: int
    accounts_processed: int
    chunks_total: int
    chunks_done: int
    invoices_created: int
    items_created: int


@dataclass(frozen=True, slots=True)
class QueueState:
    """procrastinate's queue: jobs waiting (due now), running, and how long the oldest
    waiting one has waited."""

    waiting: int
    running: int
    oldest_wait_seconds: int  # whole seconds


@dataclass
class Snapshot:
    """Everything a scrape reads, in ONE statement (one round trip: a scrape stays cheap
    however busy the database is)."""

    bill_runs: dict[str, int]
    payment_runs: dict[str, int]
    bulk_jobs: dict[str, int]
    progress: RunProgress
    open_chunks: dict[tuple[str, str], int]
    queue: QueueState | None  # PostgreSQL only
    live_workers: int | None  # PostgreSQL only


_PROGRESS_FIELDS = (
    "accounts_total",
    "accounts_processed",
    "chunks_total",
    "chunks_done",
    "invoices_created",
    "items_created",
)
_SNAPSHOT = " UNION ALL ".join(
    [
        "SELECT 'bill_runs', status, '', count(*) FROM bill_runs GROUP BY status",
        "SELECT 'payment_runs', status, '', count(*) FROM payment_runs GROUP BY status",
        "SELECT 'bulk_jobs', status, '', count(*) FROM bulk_jobs GROUP BY status",
        "SELECT 'chunks', kind, status, count(*) FROM work_chunks"
        " WHERE status IN (:pending, :claimed) GROUP BY kind, status",
        "SELECT 'progress', 'runs', '', count(*) FROM bill_runs WHERE status = :processing",
        *(
            f"SELECT 'progress', '{field}', '', COALESCE(sum({field}), 0) FROM bill_runs"  # noqa: S608 - our own column names
            " WHERE status = :processing"
            for field in _PROGRESS_FIELDS
        ),
    ]
)
_SNAPSHOT_POSTGRES = (
    _SNAPSHOT  # noqa: S608 - constant text, values bound
    + " UNION ALL SELECT 'queue', 'waiting', '', count(*) FROM procrastinate_jobs"
    " WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())"
    " UNION ALL SELECT 'queue', 'running', '', count(*) FROM procrastinate_jobs"
    " WHERE status = 'doing'"
    " UNION ALL SELECT 'queue', 'oldest', '', COALESCE(CAST(EXTRACT(EPOCH FROM now() - min(e.at))"
    " AS bigint), 0) FROM procrastinate_jobs j JOIN procrastinate_events e"
    " ON e.job_id = j.id AND e.type = 'deferred'"
    " WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())"
    " UNION ALL SELECT 'workers', '', '', count(*) FROM procrastinate_workers"
    " WHERE last_heartbeat > now() - make_interval(secs => :fresh)"
)


def snapshot(session: Session, *, postgres: bool, fresh_seconds: float) -> Snapshot:
    """Runs, jobs and chunks by status, the running bill runs' progress, and (PostgreSQL)
    the queue and the live workers.

    Tenant: operations metrics count every tenant's rows (no tenant label)."""
    params: dict[str, object] = {
        "pending": chunks.PENDING,
        "claimed": chunks.CLAIMED,
        "processing": BillRunStatus.PROCESSING.value,
    }
    if postgres:
        params["fresh"] = fresh_seconds
    rows = session.execute(text(_SNAPSHOT_POSTGRES if postgres else _SNAPSHOT), params).all()
    by: dict[str, dict[str, int]] = {"bill_runs": {}, "payment_runs": {}, "bulk_jobs": {}}
    progress: dict[str, int] = {}
    open_chunks: dict[tuple[str, str], int] = {}
    queue: dict[str, int] = {}
    workers = None
    for family, first, second, count in rows:
        value = int(count or 0)
        if family in by:
            by[family][str(first)] = value
        elif family == "chunks":
            open_chunks[(str(first), str(second))] = value
        elif family == "progress":
            progress[str(first)] = value
        elif family == "queue":
            queue[str(first)] = value
        elif family == "workers":
            workers = value
    return Snapshot(
        bill_runs=by["bill_runs"],
        payment_runs=by["payment_runs"],
        bulk_jobs=by["bulk_jobs"],
        progress=RunProgress(
            runs=progress.get("runs", 0),
            **{field: progress.get(field, 0) for field in _PROGRESS_FIELDS},
        ),
        open_chunks=open_chunks,
        queue=(
            QueueState(queue.get("waiting", 0), queue.get("running", 0), queue.get("oldest", 0))
            if postgres
            else None
        ),
        live_workers=workers if postgres else None,
    )


def live_workers(session: Session, fresh_seconds: float) -> tuple[int, datetime | None]:
    """``billcycle worker`` processes whose heartbeat is younger than ``fresh_seconds``,
    and the latest heartbeat of any (PostgreSQL only)."""
    row = session.execute(
        text(
            "SELECT count(*) FILTER (WHERE last_heartbeat > now() - make_interval(secs => :s)),"
            " max(last_heartbeat) FROM procrastinate_workers"
        ),
        {"s": fresh_seconds},
    ).one()
    return int(row[0]), row[1]


def ping(session: Session) -> None:
    session.execute(text("SELECT 1")).scalar_one()


def schema_revision(session: Session) -> set[str]:
    """The revisions Alembic recorded as applied."""
    return {
        str(v) for v in session.execute(text("SELECT version_num FROM alembic_version")).scalars()
    }
