"""Writing events into the outbox and reading them back.

A service names the change with one call, in its own unit of work, after the change:
``events.emit(ctx, EventType.INVOICE_POSTED, invoice)``. The event is one INSERT in the
same transaction, so it exists exactly when the change does (a rollback takes both).
Webhook delivery reads the outbox afterwards (``billcycle.webhooks``), never the write
path.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billcycle.context import ServiceContext
from billcycle.errors import NotFound
from billcycle.events import payload_repository as sql
from billcycle.events import repository as repo
from billcycle.events.models import Event
from billcycle.events.payloads import json_value, snapshot
from billcycle.events.statuses import EventType, ObjectType
from billcycle.webhooks import repository as webhook_repo
from billcycle.webhooks.schedule import RETRY_WINDOW

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ulid_lock = threading.Lock()
_last: list[int] = [0, 0]  # last millisecond, last random part: monotonic within a ms


def new_event_id(ms: int) -> str:
    """``evt_`` + a ULID (48-bit millisecond time, 80 random bits, Crockford base32),
    monotonic within this process, so ids sort by time."""
    with _ulid_lock:
        if ms <= _last[0]:
            ms, rand = _last[0], _last[1] + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last[0], _last[1] = ms, rand
    return "evt_" + _encode((ms << 80) | (rand & ((1 << 80) - 1)), 26)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def reserve_event_ids(ms: int) -> str:
    """Reserve a block of 2**30 consecutive ULIDs for one set-based statement and return
    their common first 20 characters (the statement appends the row's number as the last
    six: ``payload_repository.insert_events``). Later ids of this process sort after the
    whole block, as :func:`new_event_id`'s do."""
    low = (1 << sql.BLOCK_BITS) - 1
    with _ulid_lock:
        if ms <= _last[0]:
            ms, high = _last[0], (_last[1] >> sql.BLOCK_BITS) + 1
        else:
            high = int.from_bytes(os.urandom(10), "big") >> sql.BLOCK_BITS
        _last[0], _last[1] = ms, (high << sql.BLOCK_BITS) | low
    return _encode(ms, 10) + _encode(high, 16 - sql.BLOCK_DIGITS)


# Every event type's object; collections events are about an account.
_OBJECT_OF_PREFIX = {
    "account": ObjectType.ACCOUNT,
    "collections": ObjectType.ACCOUNT,
    "subscription": ObjectType.SUBSCRIPTION,
    "invoice": ObjectType.INVOICE,
    "bill_run": ObjectType.BILL_RUN,
    "bulk_job": ObjectType.BULK_JOB,
    "payment": ObjectType.PAYMENT,
    "refund": ObjectType.REFUND,
    "payment_run": ObjectType.PAYMENT_RUN,
    "webhook_endpoint": ObjectType.WEBHOOK_ENDPOINT,
    "webhook": ObjectType.WEBHOOK_ENDPOINT,
    "usage": ObjectType.USAGE,
    "usage_import": ObjectType.USAGE_IMPORT,
}


def object_type_of(event_type: EventType) -> ObjectType:
    return _OBJECT_OF_PREFIX[event_type.value.split(".", 1)[0]]


def _row(
    ctx: ServiceContext,
    event_type: EventType,
    object_id: int,
    payload: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "tenant_id": ctx.tenant_id,
        "event_id": new_event_id(int(ctx.machine_clock.now().timestamp() * 1000)),
        "type": event_type.value,
        "object_type": object_type_of(event_type).value,
        "object_id": object_id,
        "occurred_at": now,
        "payload": payload,
        "fanned_out": False,
    }


def emit(
    ctx: ServiceContext,
    event_type: EventType,
    obj: object | Mapping[str, Any],
    **details: Any,
) -> None:
    """Append one event about ``obj`` (a mapped row, or a mapping with an ``id``), its
    payload ``{"object": <snapshot>, **details}``, dated by the tenant's business clock."""
    if not isinstance(obj, Mapping) and getattr(obj, "id", None) is None:
        ctx.session.flush()
    data = snapshot(obj)
    payload = {"object": data, **{k: json_value(v) for k, v in details.items()}}
    repo.add_events(ctx.session, [_row(ctx, event_type, int(data["id"]), payload, ctx.clock.now())])


@dataclass(frozen=True, slots=True)
class RidingEvent:
    """An event about a row that one statement inserts, to be written by that same
    statement (one round trip instead of two; see
    ``accounts.repository.insert_account_with_contacts``). ``values`` are its columns
    but ``object_id`` (the new row's ``id``) and ``payload``, whose JSON text is
    ``parts[0] || <the new row's columns[0]> || parts[1] || ...``: the text
    :func:`emit` would have written once the row's ids were known, key for key."""

    values: dict[str, Any]
    parts: tuple[str, ...]
    columns: tuple[str, ...]


# Placeholders of the new row's ids while its payload is serialised: a NUL, which no
# request text can hold (web.body), so the text around them is only the payload's own.
_RIDING_MARK = "\x00billcycle-new-row-{}\x00"


def riding_event(
    ctx: ServiceContext,
    event_type: EventType,
    values: Mapping[str, Any],
    new_columns: Sequence[str],
) -> RidingEvent:
    """:func:`emit`'s event about a row not inserted yet: ``values`` are its columns in
    the mapped class's column order (as :func:`snapshot` reads a loaded row), those in
    ``new_columns`` (``id`` first) drawn by the inserting statement, their values here
    ignored. Each of ``new_columns`` must be an integer column of the new row."""
    marked = dict(values)
    for n, column in enumerate(new_columns):
        marked[column] = _RIDING_MARK.format(n)
    text = json.dumps({"object": snapshot(marked)})
    parts: list[str] = []
    order: list[str] = []
    rest = text
    while True:
        found = [
            (at, n)
            for n in range(len(new_columns))
            if (at := rest.find(json.dumps(_RIDING_MARK.format(n)))) >= 0
        ]
        if not found:
            break
        at, n = min(found)
        parts.append(rest[:at])
        order.append(new_columns[n])
        rest = rest[at + len(json.dumps(_RIDING_MARK.format(n))) :]
    parts.append(rest)
    if sorted(order) != sorted(new_columns) or new_columns[0] != "id":
        raise ValueError("every new column, id first, appears once in the payload")
    row = _row(ctx, event_type, 0, {}, ctx.clock.now())
    del row["object_id"], row["payload"]
    return RidingEvent(row, tuple(parts), tuple(order))


def record(
    ctx: ServiceContext,
    event_type: EventType,
    obj: object | Mapping[str, Any],
    *,
    fanned_out: bool = False,
    **details: Any,
) -> Event:
    """As :func:`emit`, returning the event's row (one more round trip for its id)."""
    if not isinstance(obj, Mapping) and getattr(obj, "id", None) is None:
        ctx.session.flush()
    data = snapshot(obj)
    payload = {"object": data, **{k: json_value(v) for k, v in details.items()}}
    row = _row(ctx, event_type, int(data["id"]), payload, ctx.clock.now())
    row["fanned_out"] = fanned_out
    return repo.add_event(ctx.session, Event(**row))


def emit_status_change(
    ctx: ServiceContext, event_type: EventType, obj: Any, previous: str | None
) -> None:
    """A run or job moved from ``previous`` to its current status."""
    emit(ctx, event_type, obj, previous_status=previous, status=obj.status)


def emit_many(
    ctx: ServiceContext, event_type: EventType, objects: Sequence[Mapping[str, Any]]
) -> int:
    """One event per object, in one statement (a bill run's chunk)."""
    now = ctx.clock.now()
    rows = [_row(ctx, event_type, int(o["id"]), {"object": snapshot(o)}, now) for o in objects]
    repo.add_events(ctx.session, rows)
    return len(rows)


def _row_events(
    ctx: ServiceContext,
    event_type: EventType,
    table: Any,
    where: Sequence[Any],
    *,
    joined: Any = None,
    details: Mapping[str, Any] | None = None,
    new_objects: bool = False,
) -> int:
    """One ``INSERT ... SELECT`` of ``event_type`` events for the rows of ``table`` that
    ``where`` selects, dated by the tenant's clock, ids from a freshly reserved block.

    ``new_objects``: no earlier event can be about these rows (drafts a bill run posts or
    cancels, payments just made), so their webhook deliveries are made here, one
    ``INSERT ... SELECT`` per subscribed endpoint over the block's id range, and the
    events are written fanned out. Why: the fan-out would otherwise read every event back,
    rewrite its row to mark it and make its deliveries a thousand at a time, on the same
    writer as the run (about twice the cost of writing the event, docs/benchmarks.md).
    Order by object holds: these objects' later events are fanned out later and get later
    delivery ids. Not for a row that may have events still waiting for the fan-out (a
    posted invoice written off, a payment settled): their deliveries must come after those.
    """
    endpoints = (
        webhook_repo.subscribed_endpoints(ctx.session, ctx.tenant_id, event_type.value)
        if new_objects
        else []
    )
    id_prefix = reserve_event_ids(int(ctx.machine_clock.now().timestamp() * 1000))
    written = sql.row_events(
        ctx.session,
        table,
        tenant_id=ctx.tenant_id,
        event_type=event_type.value,
        object_type=object_type_of(event_type).value,
        occurred_at=ctx.clock.now(),
        id_prefix=id_prefix,
        where=where,
        joined=joined,
        details=details,
        fanned_out=bool(endpoints),
    )
    if written and endpoints:
        now = ctx.machine_clock.now()
        # The block's ids: its prefix, then the row's number in decimal digits only
        # (bounds every collation orders alike).
        first, last = (f"evt_{id_prefix}{d * sql.BLOCK_DIGITS}" for d in "09")
        for endpoint in endpoints:
            webhook_repo.fan_out_block(
                ctx.session, endpoint, first, last, now=now, give_up_at=now + RETRY_WINDOW
            )
    return written


def emit_run_invoices_posted(
    ctx: ServiceContext, bill_run_id: int, first_id: int, last_id: int, posted_since: datetime
) -> int:
    """``invoice.posted`` for every invoice a posting chunk just posted: one
    ``INSERT ... SELECT`` with the chunk, payloads built by the database."""
    return _row_events(
        ctx,
        EventType.INVOICE_POSTED,
        sql.INVOICES,
        sql.posted_run_invoices(bill_run_id, first_id, last_id, posted_since),
        new_objects=True,  # a run's drafts: no event was about them before
    )


def _batches(ids: Sequence[int]) -> list[Sequence[int]]:
    step = sql.IDS_PER_STATEMENT
    return [ids[start : start + step] for start in range(0, len(ids), step)]


def emit_invoices_cancelled(ctx: ServiceContext, invoice_ids: Sequence[int]) -> int:
    """``invoice.cancelled`` for each of ``invoice_ids`` (a bill run's set-based cancel),
    set-based: one ``INSERT ... SELECT`` per thousand ids."""
    return sum(
        _row_events(
            ctx,
            EventType.INVOICE_CANCELLED,
            sql.INVOICES,
            sql.with_ids(sql.INVOICES, batch),
            new_objects=True,  # drafts: no event was about them before
        )
        for batch in _batches(invoice_ids)
    )


def emit_invoices_written_off(
    ctx: ServiceContext, entry_ids: Sequence[int], **details: int | str
) -> int:
    """``invoice.written_off`` for the invoice of each write-off entry in ``entry_ids``
    (a bulk write-off's chunk), with ``write_off`` as a single write-off has it, set-based
    like :func:`emit_invoices_cancelled`."""
    written = 0
    for batch in _batches(entry_ids):
        joined, where, write_off = sql.write_off_entries(ctx.session, ctx.tenant_id, batch)
        written += _row_events(
            ctx,
            EventType.INVOICE_WRITTEN_OFF,
            sql.INVOICES,
            where,
            joined=joined,
            details={"write_off": write_off, **sql.constants(details)},
        )
    return written


def emit_payments_created(
    ctx: ServiceContext, payment_ids: Sequence[int], **details: int | str
) -> int:
    """``payment.created`` for each of ``payment_ids`` (a bulk payment job's chunk, with
    ``bulk_job_id``), set-based like :func:`emit_invoices_cancelled`."""
    return sum(
        _row_events(
            ctx,
            EventType.PAYMENT_CREATED,
            sql.PAYMENTS,
            sql.with_ids(sql.PAYMENTS, batch),
            details=sql.constants(details),
            new_objects=True,  # payments the chunk just made
        )
        for batch in _batches(payment_ids)
    )


def emit_payment_outcomes(
    ctx: ServiceContext, event_type: EventType, payment_ids: Sequence[int]
) -> int:
    """``payment.processed`` or ``payment.failed`` for each of ``payment_ids`` (settled
    as a set by a payment run's chunk), payloads built by the database from the settled
    rows: one ``INSERT ... SELECT`` per thousand ids."""
    written = 0
    for batch in _batches(payment_ids):
        written += sql.payment_outcome_events(
            ctx.session,
            tenant_id=ctx.tenant_id,
            event_type=event_type.value,
            object_type=object_type_of(event_type).value,
            occurred_at=ctx.clock.now(),
            id_prefix=reserve_event_ids(int(ctx.machine_clock.now().timestamp() * 1000)),
            payment_ids=batch,
        )
    return written


def list_events(
    ctx: ServiceContext,
    *,
    types: Sequence[EventType] = (),
    object_type: ObjectType | None = None,
    object_id: int | None = None,
    since: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[Event]:
    return repo.page(
        ctx.session,
        ctx.tenant_id,
        types=[t.value for t in types],
        object_type=object_type.value if object_type is not None else None,
        object_id=object_id,
        since=since,
        after=after,
        limit=limit,
    )


def get_event(ctx: ServiceContext, event_id: str) -> Event:
    event = repo.get_by_event_id(ctx.session, ctx.tenant_id, event_id)
    if event is None:
        raise NotFound(f"Event {event_id} not found.", resource="event")
    return event
