"""All SQL of work chunks: plan, claim with a lease, complete, cancel, find lost ones.

Claims are conditional UPDATEs, so two workers can never both own a chunk; completion
is guarded by the owner id, so a worker whose lease ran out (and whose chunk another
worker took over) cannot mark it done: its transaction must roll back instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from billcycle.db.bulk import is_postgres
from billcycle.jobs.models import WorkChunk

PENDING = "pending"
CLAIMED = "claimed"
DONE = "done"
CANCELLED = "cancelled"
FAILED = "failed"

_c = WorkChunk.__table__.c


@dataclass(frozen=True, slots=True)
class ClaimedChunk:
    id: int
    tenant_id: int
    kind: str
    parent_id: int
    seq: int
    first_id: int
    last_id: int
    size: int
    attempts: int


@dataclass(frozen=True, slots=True)
class ChunkRange:
    first_id: int
    last_id: int
    size: int


def plan(
    session: Session,
    *,
    tenant_id: int,
    kind: str,
    parent_id: int,
    ranges: Sequence[ChunkRange],
    now: datetime,
) -> list[int]:
    """Insert one pending chunk per range; returns their ids in order."""
    if not ranges:
        return []
    rows = [
        {
            "tenant_id": tenant_id,
            "kind": kind,
            "parent_id": parent_id,
            "seq": seq,
            "first_id": r.first_id,
            "last_id": r.last_id,
            "size": r.size,
            "status": PENDING,
            "attempts": 0,
            "created_at": now,
        }
        for seq, r in enumerate(ranges, start=1)
    ]
    result = session.execute(
        insert(WorkChunk).returning(WorkChunk.id, sort_by_parameter_order=True), rows
    )
    return [row[0] for row in result.all()]


def _claimable(now: datetime) -> object:
    return or_(
        _c.status == PENDING,
        and_(_c.status == CLAIMED, _c.lease_until < now),
    )


def claim_next(
    session: Session,
    *,
    kind: str,
    parent_id: int,
    worker: str,
    now: datetime,
    lease: timedelta,
) -> ClaimedChunk | None:
    """Take the parent's next chunk that is pending or whose owner's lease ran out.

    On PostgreSQL ``SKIP LOCKED`` lets concurrent workers each take a different chunk
    without waiting; SQLite has a single writer, so the UPDATE alone is atomic.
    """
    candidate = (
        select(_c.id)
        .where(_c.kind == kind, _c.parent_id == parent_id, _claimable(now))  # type: ignore[arg-type]
        .order_by(_c.seq)
        .limit(1)
    )
    if is_postgres(session):
        candidate = candidate.with_for_update(skip_locked=True)
    row = session.execute(
        update(WorkChunk)
        .where(_c.id == candidate.scalar_subquery(), _claimable(now))  # type: ignore[arg-type]
        .values(
            status=CLAIMED,
            claimed_by=worker,
            lease_until=now + lease,
            attempts=_c.attempts + 1,
        )
        .returning(
            _c.id,
            _c.tenant_id,
            _c.kind,
            _c.parent_id,
            _c.seq,
            _c.first_id,
            _c.last_id,
            _c.size,
            _c.attempts,
        )
    ).first()
    return ClaimedChunk(*row) if row is not None else None


# The renewal as a Core statement built once: a payment run renews its chunk's lease in
# each of its slices' units of work (two a slice). As ``update(WorkChunk)`` on the ORM
# session it was an ORM-enabled UPDATE, built, synchronised with the session (RETURNING
# the matched ids) and compiled each time: ~0.5-1 ms of the worker's CPU a renewal, where
# SQLite's own work is ~0.07 ms.
_EXTEND_LEASE = (
    update(cast(Table, WorkChunk.__table__))
    .where(
        _c.id == bindparam("chunk_id"),
        _c.claimed_by == bindparam("worker"),
        _c.status == CLAIMED,
    )
    .values(lease_until=bindparam("until"))
)


def extend_lease(
    session: Session, chunk_id: int, *, worker: str, now: datetime, lease: timedelta
) -> bool:
    """Tenant: ``chunk_id`` is a chunk this worker claimed; the chunk carries its tenant."""
    result = session.connection().execute(
        _EXTEND_LEASE, {"chunk_id": chunk_id, "worker": worker, "until": now + lease}
    )
    return bool(result.rowcount)


def complete(session: Session, chunk_id: int, *, worker: str, now: datetime) -> bool:
    """Mark done, in the transaction that wrote the chunk's results. False means the
    chunk is no longer ours (lease lost, or cancelled): the caller must roll back.

    Tenant: ``chunk_id`` is a chunk this worker claimed; the chunk carries its tenant.
    """
    result = session.execute(
        update(WorkChunk)
        .where(_c.id == chunk_id, _c.claimed_by == worker, _c.status == CLAIMED)
        .values(status=DONE, finished_at=now, lease_until=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(session: Session, chunk_id: int, *, worker: str, error: str) -> None:
    """Give a chunk back after a failure so it can be retried.

    Tenant: ``chunk_id`` is a chunk this worker claimed; the chunk carries its tenant.
    """
    session.execute(
        update(WorkChunk)
        .where(_c.id == chunk_id, _c.claimed_by == worker, _c.status == CLAIMED)
        .values(status=PENDING, claimed_by=None, lease_until=None, last_error=error[:2000])
    )


def cancel_open(session: Session, *, kind: str, parent_id: int, now: datetime) -> int:
    """Cancel every chunk not yet done; a worker holding one fails to complete it.

    Tenant: the caller resolved ``parent_id`` (a run or a job) under its tenant.
    """
    result = session.execute(
        update(WorkChunk)
        .where(_c.kind == kind, _c.parent_id == parent_id, _c.status.in_((PENDING, CLAIMED)))
        .values(status=CANCELLED, finished_at=now, lease_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def open_count(session: Session, *, kind: str, parent_id: int) -> int:
    """Tenant: the caller resolved ``parent_id`` (a run or a job) under its tenant."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(WorkChunk)
            .where(_c.kind == kind, _c.parent_id == parent_id, _c.status.in_((PENDING, CLAIMED)))
        )
        or 0
    )


def exists(session: Session, *, kind: str, parent_id: int) -> bool:
    """Tenant: the caller resolved ``parent_id`` (a run or a job) under its tenant."""
    found = session.scalar(select(_c.id).where(_c.kind == kind, _c.parent_id == parent_id).limit(1))
    return found is not None


def open_chunk_ids(session: Session, *, kind: str, parent_id: int) -> list[int]:
    """Tenant: the caller resolved ``parent_id`` (a run or a job) under its tenant."""
    return list(
        session.scalars(
            select(_c.id)
            .where(_c.kind == kind, _c.parent_id == parent_id, _c.status.in_((PENDING, CLAIMED)))
            .order_by(_c.seq)
        )
    )


def parents_with_lost_chunks(
    session: Session, *, now: datetime, stale_after: timedelta
) -> list[tuple[str, int]]:
    """(kind, parent) pairs with chunks nobody is working on: claimed with an expired
    lease, or pending for longer than ``stale_after`` (their drain job was lost or
    finished early). Dispatching another drain for them is always safe.

    Tenant: the reaper looks across tenants; each chunk carries its own.
    """
    rows = session.execute(
        select(_c.kind, _c.parent_id)
        .where(
            or_(
                and_(_c.status == CLAIMED, _c.lease_until < now),
                and_(_c.status == PENDING, _c.created_at < now - stale_after),
            )
        )
        .distinct()
    ).all()
    return [(kind, parent) for kind, parent in rows]


def mark_failed(session: Session, chunk_id: int, *, worker: str, error: str, now: datetime) -> None:
    """Tenant: ``chunk_id`` is a chunk this worker claimed; the chunk carries its tenant."""
    session.execute(
        update(WorkChunk)
        .where(_c.id == chunk_id, _c.claimed_by == worker)
        .values(status=FAILED, finished_at=now, lease_until=None, last_error=error[:2000])
    )


def delete_for_parent(session: Session, *, kind: str, parent_id: int) -> None:
    """Tenant: the caller resolved ``parent_id`` (a run or a job) under its tenant."""
    session.execute(delete(WorkChunk).where(_c.kind == kind, _c.parent_id == parent_id))
