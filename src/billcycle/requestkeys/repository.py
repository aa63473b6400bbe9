"""All SQL of idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from billcycle.requestkeys.models import RequestKey


def add(session: Session, record: RequestKey) -> RequestKey:
    session.add(record)
    session.flush()
    return record


def find(session: Session, owner: str, key: str) -> RequestKey | None:
    """Tenant: a key belongs to its owner (an OAuth client may act in several entities:
    the caller compares the tenant and answers 422 for another one)."""
    return session.scalars(
        select(RequestKey).where(RequestKey.owner == owner, RequestKey.key == key)
    ).first()


def finish(
    session: Session,
    tenant_id: int,
    record_id: int,
    status_code: int,
    content_type: str | None,
    body: bytes,
) -> None:
    session.execute(
        update(RequestKey)
        .where(RequestKey.tenant_id == tenant_id, RequestKey.id == record_id)
        .values(status_code=status_code, content_type=content_type, response_body=body)
    )


def release(session: Session, tenant_id: int, record_id: int) -> None:
    session.execute(
        delete(RequestKey).where(RequestKey.tenant_id == tenant_id, RequestKey.id == record_id)
    )


def take_over(session: Session, record_id: int, created_at: datetime, now: datetime) -> bool:
    """Restart an expired or abandoned record, unless another request did so first.

    Tenant: the record was found by its key and its tenant compared by the caller."""
    result = session.execute(
        update(RequestKey)
        .where(RequestKey.id == record_id, RequestKey.created_at == created_at)
        .values(created_at=now, status_code=None, content_type=None, response_body=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def purge_before(session: Session, cutoff: datetime) -> int:
    """Tenant: expiry spans every tenant on purpose (a periodic clean-up)."""
    result = session.execute(delete(RequestKey).where(RequestKey.created_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
