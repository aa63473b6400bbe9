"""``Idempotency-Key``: the same key with the same request answers the same, once.

The key is claimed by inserting its record in the request's own transaction, before the
work, and the answer is stored in that transaction too. So a concurrent duplicate waits
on the unique index and then replays the first answer (PostgreSQL), a repeat after a
crash finds nothing (the whole transaction rolled back) and simply runs, and the work
and its record always commit together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from billcycle.billruns.models import IdempotencyRecord
from billcycle.context import ServiceContext
from billcycle.errors import Conflict, InvalidValue

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def run_once(
    ctx: ServiceContext,
    *,
    scope: str,
    key: str | None,
    fingerprint: str,
    work: Callable[[], Answer],
) -> Answer:
    """Run ``work`` unless this key already answered; then replay that answer."""
    if key is None:
        return work()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidValue(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.")
    session = ctx.session
    existing = _find(ctx, scope, key)
    if existing is None:
        record = IdempotencyRecord(
            tenant_id=ctx.tenant_id,
            scope=scope,
            key=key,
            request_hash=fingerprint,
            created_at=ctx.machine_clock.now(),  # a window on machine time, not billing time
        )
        try:
            with session.begin_nested():
                session.add(record)
                session.flush()
        except IntegrityError:
            existing = _find(ctx, scope, key)
        else:
            answer = work()
            record.status_code = answer.status_code
            record.response_body = json.dumps(answer.body, default=str)
            session.flush()
            return answer
    assert existing is not None
    if existing.request_hash != fingerprint:
        raise InvalidValue("This Idempotency-Key was already used with a different request body.")
    if existing.status_code is None or existing.response_body is None:
        raise Conflict("A request with this Idempotency-Key is still being processed.")
    return Answer(existing.status_code, json.loads(existing.response_body))


def _find(ctx: ServiceContext, scope: str, key: str) -> IdempotencyRecord | None:
    return ctx.session.scalars(
        select(IdempotencyRecord).where(
            IdempotencyRecord.tenant_id == ctx.tenant_id,
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
        )
    ).first()
