"""The collections event log and its outbox events written from ONE JSON parameter
(``collections.events.record``): one ``INSERT ... SELECT`` appends the events, one more
writes the outbox events of those that have one, payloads built by the database. A
dunning day writes a thousand attempts and standing changes; as two executemany of
Python-built rows (and a payload snapshot per event) they were most of recording them.

Each JSON row: [account id, collections event type, invoice id, payment id, gateway
code, message as logged (cut to the column), from, to, details, outbox type or null,
the outbox type's rank, message as the outbox shows it].
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, bindparam, text
from sqlalchemy.orm import Session

from billcycle.db.bulk import (
    PG_JSON_ROWS_NUMBERED,
    SQLITE_MATERIALIZED,
    dbapi,
    is_postgres,
    sqlite_storage_value,
)
from billcycle.db.types import UtcDateTime

# The log: the rows in the given order (ids ascending as one insert per event gave them).
_LOG = """
INSERT INTO collection_events (tenant_id, account_id, event_type, business_date,
    occurred_at, invoice_id, payment_id, gateway_code, message, from_value, to_value,
    details)
SELECT :t, {account}, {kind}, :day, :now, {invoice}, {payment}, {code}, {message},
       {from_}, {to}, {details}
FROM {rows}
ORDER BY {n}
"""

# The outbox: one event per row that has an outbox type, numbered in a reserved ULID
# block by (the type's rank, the row's place): what one statement per type, in the
# order the types first appear, numbered. The payload is the event as
# ``collections.events`` documents it: {"object": {id, account_id, collection_event,
# business_date, invoice_id, from, to, message, details}}.
_OUTBOX = """
INSERT INTO events (tenant_id, event_id, type, object_type, object_id, occurred_at,
    payload, fanned_out)
SELECT :t,
       :prefix || substr(CAST({block} + row_number() OVER (ORDER BY {rank}, {n}) - 1 AS TEXT), 2),
       {outbox}, :object_type, {account}, :now,
       {obj}('object', {obj}('id', {account}, 'account_id', {account},
             'collection_event', {kind}, 'business_date', {day_text},
             'invoice_id', {invoice}, 'from', {from_}, 'to', {to},
             'message', {outbox_message}, 'details', {details})),
       :no
FROM {rows}
WHERE {outbox} IS NOT NULL
ORDER BY {rank}, {n}
"""

_SQLITE = {
    "rows": "json_each(:rows) j",
    "n": "j.key",
    "account": "json_extract(j.value, '$[0]')",
    "kind": "json_extract(j.value, '$[1]')",
    "invoice": "json_extract(j.value, '$[2]')",
    "payment": "json_extract(j.value, '$[3]')",
    "code": "json_extract(j.value, '$[4]')",
    "message": "json_extract(j.value, '$[5]')",
    "from_": "json_extract(j.value, '$[6]')",
    "to": "json_extract(j.value, '$[7]')",
    "details": "json(json_extract(j.value, '$[8]'))",
    "outbox": "json_extract(j.value, '$[9]')",
    "rank": "json_extract(j.value, '$[10]')",
    "outbox_message": "json_extract(j.value, '$[11]')",
    "obj": "json_object",
    "day_text": ":day_text",
}
_POSTGRES = {
    "rows": PG_JSON_ROWS_NUMBERED,
    "n": "j.n",
    "account": "(j.e->>0)::bigint",
    "kind": "j.e->>1",
    "invoice": "(j.e->>2)::bigint",
    "payment": "(j.e->>3)::bigint",
    "code": "j.e->>4",
    "message": "j.e->>5",
    "from_": "j.e->>6",
    "to": "j.e->>7",
    "details": "j.e->8",
    "outbox": "j.e->>9",
    "rank": "(j.e->>10)::int",
    "outbox_message": "j.e->>11",
    "obj": "json_build_object",
    "day_text": "CAST(:day_text AS text)",
}

Row = tuple[
    int,
    str,
    int | None,
    int | None,
    str | None,
    str | None,
    str | None,
    str | None,
    dict[str, Any],
    str | None,
    int,
    str | None,
]


def add_events_and_outbox(
    session: Session,
    tenant_id: int,
    rows: Sequence[Row],
    *,
    day: date,
    now: datetime,
    event_id_prefix: str,
    block: int,
    object_type: str,
) -> None:
    """Append ``rows`` to the log and their outbox events: two statements, whatever
    the number of rows. ``event_id_prefix`` (``evt_`` + a reserved ULID block's first
    characters) and ``block`` (10 ** the block's digits) number the outbox events.

    Tenant: every row written carries ``tenant_id``.
    """
    if not rows:
        return
    postgres = is_postgres(session)
    if not postgres and all(row[5] == row[11] for row in rows):
        _add_sqlite(session, tenant_id, rows, day, now, event_id_prefix, block, object_type)
        return
    parts = _POSTGRES if postgres else _SQLITE
    values: dict[str, Any] = {
        "t": tenant_id,
        "day": day,
        "now": now,
        "rows": json.dumps([list(row) for row in rows], separators=(",", ":")),
    }
    typed = (bindparam("day", type_=Date), bindparam("now", type_=UtcDateTime))
    session.execute(text(_LOG.format(**parts)).bindparams(*typed), values)
    if all(row[9] is None for row in rows):
        return
    session.execute(
        text(_OUTBOX.format(block=int(block), **parts)).bindparams(typed[1]),
        {
            **{k: v for k, v in values.items() if k != "day"},
            "day_text": day.isoformat(),
            "prefix": event_id_prefix,
            "object_type": object_type,
            "no": False,
        },
    )


# SQLite, when every row's message is logged whole (the usual case: a message cut to the
# column, or an empty one, goes the JSON way above): the log by one executemany of plain
# values (each ``json_extract`` of a JSON row re-parsed the row: 12 parses a row were
# most of the statement), and the outbox events from the log rows just written, read
# back by id (SQLite has one writer: the rows above the largest id before the insert).
_LOG_VALUES = """
INSERT INTO collection_events (tenant_id, account_id, event_type, business_date,
    occurred_at, invoice_id, payment_id, gateway_code, message, from_value, to_value,
    details)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_OUTBOX_FROM_LOG = """
WITH kinds AS {materialized} (
    SELECT key AS kind, json_extract(value, '$[0]') AS outbox,
           json_extract(value, '$[1]') AS rank
    FROM json_each(:kinds)
)
INSERT INTO events (tenant_id, event_id, type, object_type, object_id, occurred_at,
    payload, fanned_out)
SELECT :t,
       :prefix || substr(CAST({block} + row_number() OVER (ORDER BY k.rank, e.id) - 1 AS TEXT), 2),
       k.outbox, :object_type, e.account_id, :now,
       json_object('object', json_object('id', e.account_id, 'account_id', e.account_id,
             'collection_event', e.event_type, 'business_date', :day_text,
             'invoice_id', e.invoice_id, 'from', e.from_value, 'to', e.to_value,
             'message', e.message, 'details', json(e.details))),
       :no
FROM collection_events e JOIN kinds k ON k.kind = e.event_type
WHERE e.id > :after AND e.tenant_id = :t
ORDER BY k.rank, e.id
"""


def _add_sqlite(
    session: Session,
    tenant_id: int,
    rows: Sequence[Row],
    day: date,
    now: datetime,
    event_id_prefix: str,
    block: int,
    object_type: str,
) -> None:
    session.flush()  # (the ORM's pending rows first, as a statement through it would)
    connection = dbapi(session)
    (after,) = connection.execute("SELECT coalesce(max(id), 0) FROM collection_events").fetchone()
    day_text, instant = day.isoformat(), sqlite_storage_value(now)
    connection.executemany(
        _LOG_VALUES,
        [
            (
                tenant_id,
                row[0],
                row[1],
                day_text,
                instant,
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                row[7],
                # As SQLite's json() wrote the JSON row's object: compact, escapes kept.
                json.dumps(row[8], separators=(",", ":")) if row[8] else "{}",
            )
            for row in rows
        ],
    )
    # Each collections event type that has an outbox event: [its outbox type, its rank].
    kinds = {row[1]: [row[9], row[10]] for row in rows if row[9] is not None}
    if not kinds:
        return
    session.execute(
        text(_OUTBOX_FROM_LOG.format(materialized=SQLITE_MATERIALIZED, block=int(block))),
        {
            "t": tenant_id,
            "kinds": json.dumps(kinds, separators=(",", ":")),
            "after": after,
            "prefix": event_id_prefix,
            "object_type": object_type,
            "now": instant,
            "day_text": day_text,
            "no": False,
        },
    )
