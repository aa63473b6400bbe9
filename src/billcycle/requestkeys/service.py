"""Claiming an ``Idempotency-Key`` before a request runs and keeping its answer after.

The claim is its own short unit of work, committed before the request's work starts, so
that a concurrent request with the same key sees it at once and is answered 409 instead
of running the work a second time. The answer is stored before the response leaves
(see :mod:`billcycle.web.idempotency`), so a retry right after it replays it.

A request that died between its claim and its answer (a crashed process) leaves a record
without an answer; after ``ABANDONED_AFTER`` a retry takes it over and runs. A crash after
the request's own commit and before its answer is stored is the one window in which a
retry runs the work again; the operations that must never run twice (creating a bill run,
a payment, a refund) also keep their key inside their own transaction
(:mod:`billcycle.idempotency`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billcycle.db.session import unit_of_work
from billcycle.requestkeys import repository
from billcycle.requestkeys.models import RequestKey

MAX_KEY_LENGTH = 255
KEPT_FOR = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=10)


class Outcome(enum.Enum):
    RUN = "run"  # the key is this request's: run it, then store the answer
    REPLAY = "replay"  # answered before: send the stored answer
    IN_PROGRESS = "in_progress"  # 409
    OTHER_REQUEST = "other_request"  # 422: another tenant, method or URL
    OTHER_BODY = "other_body"  # 422: same request, another body


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: Outcome
    record_id: int | None = None
    status_code: int | None = None
    content_type: str | None = None
    body: bytes | None = None


def claim(
    factory: sessionmaker[Session],
    *,
    tenant_id: int,
    owner: str,
    key: str,
    method: str,
    path: str,
    request_hash: str,
    now: datetime,
) -> Claim:
    for _ in range(3):
        try:
            with unit_of_work(factory) as session:
                record = repository.add(
                    session,
                    RequestKey(
                        tenant_id=tenant_id,
                        owner=owner,
                        key=key,
                        method=method,
                        path=path,
                        request_hash=request_hash,
                        created_at=now,
                    ),
                )
                return Claim(Outcome.RUN, record.id)
        except IntegrityError:
            pass
        with unit_of_work(factory) as session:
            existing = repository.find(session, owner, key)
            if existing is None:
                continue  # expired and purged meanwhile: try again
            decided = _decide(session, existing, tenant_id, method, path, request_hash, now)
            if decided is not None:
                return decided
    return Claim(Outcome.IN_PROGRESS)


def _decide(
    session: Session,
    existing: RequestKey,
    tenant_id: int,
    method: str,
    path: str,
    request_hash: str,
    now: datetime,
) -> Claim | None:
    expired = existing.created_at <= now - KEPT_FOR
    abandoned = existing.status_code is None and existing.created_at <= now - ABANDONED_AFTER
    if expired or (abandoned and existing.tenant_id == tenant_id):
        if existing.tenant_id != tenant_id:
            # An expired key of another tenant: it is free again, under this tenant.
            repository.release(session, existing.tenant_id, existing.id)
            return None
        if repository.take_over(session, existing.id, existing.created_at, now):
            existing.method, existing.path, existing.request_hash = method, path, request_hash
            session.flush()
            return Claim(Outcome.RUN, existing.id)
        return Claim(Outcome.IN_PROGRESS)
    if existing.tenant_id != tenant_id or existing.method != method or existing.path != path:
        return Claim(Outcome.OTHER_REQUEST)
    if existing.request_hash != request_hash:
        return Claim(Outcome.OTHER_BODY)
    if existing.status_code is None:
        return Claim(Outcome.IN_PROGRESS)
    return Claim(
        Outcome.REPLAY,
        existing.id,
        existing.status_code,
        existing.content_type,
        existing.response_body or b"",
    )


def finish(
    factory: sessionmaker[Session],
    tenant_id: int,
    record_id: int,
    status_code: int,
    content_type: str | None,
    body: bytes,
) -> None:
    with unit_of_work(factory) as session:
        repository.finish(session, tenant_id, record_id, status_code, content_type, body)


def release(factory: sessionmaker[Session], tenant_id: int, record_id: int) -> None:
    """Forget a claim whose request failed on the server's side (5xx): a retry runs."""
    with unit_of_work(factory) as session:
        repository.release(session, tenant_id, record_id)


def purge_expired(session: Session, now: datetime) -> int:
    return repository.purge_before(session, now - KEPT_FOR)
