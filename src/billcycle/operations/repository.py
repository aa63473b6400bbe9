"""All SQL of the operations views: cheap aggregate reads for ``/metrics`` and ``/readyz``.

Each query reads an indexed status column or a small table, so a scrape stays cheap on
a database of millions of invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from billcycle.billruns.models import BillRun
from billcycle.billruns.statuses import BillRunStatus
from billcycle.bulkjobs.models import BulkJob
from billcycle.jobs import chunks
from billcycle.jobs.models import WorkChunk
from billcycle.paymentruns.models import PaymentRun

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


def _by_status(session: Session, column: object) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).group_by(column)).all()  # type: ignore[call-overload]
    return {str(status): int(count) for status, count in rows}


def bill_runs_by_status(session: Session) -> dict[str, int]:
    """Tenant: operations metrics count every tenant's runs (no tenant label)."""
    return _by_status(session, BillRun.status)


def payment_runs_by_status(session: Session) -> dict[str, int]:
    """Tenant: operations metrics count every tenant's runs (no tenant label)."""
    return _by_status(session, PaymentRun.status)


def bulk_jobs_by_status(session: Session) -> dict[str, int]:
    """Tenant: operations metrics count every tenant's jobs (no tenant label)."""
    return _by_status(session, BulkJob.status)


def processing_progress(session: Session) -> RunProgress:
    """Sums over the bill runs generating invoices right now.

    Tenant: operations metrics sum every tenant's runs (no tenant label)."""
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(BillRun.accounts_total), 0),
            func.coalesce(func.sum(BillRun.accounts_processed), 0),
            func.coalesce(func.sum(BillRun.chunks_total), 0),
            func.coalesce(func.sum(BillRun.chunks_done), 0),
            func.coalesce(func.sum(BillRun.invoices_created), 0),
            func.coalesce(func.sum(BillRun.items_created), 0),
        ).where(BillRun.status == BillRunStatus.PROCESSING)
    ).one()
    return RunProgress(*(int(value) for value in row))


def open_chunks(session: Session) -> dict[tuple[str, str], int]:
    """(kind, status) -> count of chunks pending or claimed (the claim index).

    Tenant: operations metrics count every tenant's chunks (no tenant label)."""
    c = WorkChunk.__table__.c
    rows = session.execute(
        select(c.kind, c.status, func.count())
        .where(c.status.in_(_OPEN_CHUNKS))
        .group_by(c.kind, c.status)
    ).all()
    return {(str(kind), str(status)): int(count) for kind, status, count in rows}


def queue_state(session: Session) -> QueueState:
    """procrastinate's jobs (PostgreSQL only)."""
    row = session.execute(
        text(
            "SELECT"
            " count(*) FILTER (WHERE j.status = 'todo'"
            "   AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())),"
            " count(*) FILTER (WHERE j.status = 'doing'),"
            " COALESCE(EXTRACT(EPOCH FROM now() - min(e.at) FILTER (WHERE j.status = 'todo'"
            "   AND (j.scheduled_at IS NULL OR j.scheduled_at <= now()))), 0)"
            " FROM procrastinate_jobs j"
            " LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'"
            " WHERE j.status IN ('todo', 'doing')"
        )
    ).one()
    return QueueState(int(row[0]), int(row[1]), max(0, int(row[2] or 0)))


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
