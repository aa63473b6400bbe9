"""Bulk-write plumbing shared by invoice generation, the data-set loader and the
benchmark floor: rows written the way each database takes them fastest.

* PostgreSQL: ``COPY ... FROM STDIN`` (text format, or psycopg's own row adaptation).
* SQLite: the DB-API's ``executemany`` with values already in the forms SQLAlchemy's
  column types store (binding through the type processors costs more than the insert).

Everything here runs on the DB-API connection under a session's transaction, so what is
written commits or rolls back with the session's other statements.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

import orjson
import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

# SQLite reads ``AS MATERIALIZED`` (a WITH step computed once, never inlined) from 3.35
# on; an older one plans the step as it likes (same results).
SQLITE_MATERIALIZED = "MATERIALIZED" if sqlite3.sqlite_version_info >= (3, 35) else ""

# PostgreSQL: a statement's JSON array parameter ``:rows`` as its rows ``j.e``, read as
# ``jsonb``: each element is parsed once and ``->>`` finds a column in its parsed form;
# on ``json`` every ``->>`` parsed the element's text again (~1 µs each, and a payment
# run's statements name a row's columns ~40 times a payment). ``PG_JSON_ROWS_NUMBERED``
# also gives each row's place in the array, ``j.n``.
PG_JSON_ROWS = "jsonb_array_elements(CAST(:rows AS jsonb)) AS j(e)"
PG_JSON_ROWS_NUMBERED = "jsonb_array_elements(CAST(:rows AS jsonb)) WITH ORDINALITY AS j(e, n)"


def json_text(value: Any) -> str:
    """``value`` (lists, tuples, ints, strings, None, bools) as a compact JSON array's
    text, the parameter a statement reads its rows from (``json_each``,
    ``jsonb_array_elements``): what ``json.dumps(value, separators=(",", ":"))`` gives,
    parsed to the same values, by orjson, ~10x faster. A payment run's collecting thread
    encodes several arrays of its slice's thousands of rows a slice (~5% of its time
    with ``json``). Strings are written as UTF-8 rather than ``\\u`` escapes (the same
    JSON strings); whatever orjson refuses (a lone surrogate, an integer beyond 64
    bits) is written by ``json`` as before."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, separators=(",", ":"))


def pg_int_array(values: Sequence[int]) -> str:
    """``values`` as the text of a PostgreSQL array (``{1,2,3}``), for a statement that
    reads it as ``CAST(:ids AS bigint[])``: psycopg's adaptation of a Python list cost the
    caller's CPU ~0.6 µs an element (a payment run's slice passes arrays of thousands of
    ids); this text ~0.1 µs, parsed by the server as cheaply."""
    return "{" + orjson.dumps(list(values)).decode()[1:-1] + "}"


def is_postgres(bind: Session | Connection | Engine) -> bool:
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return engine.dialect.name == "postgresql"


def dbapi(session: Session) -> Any:
    """The DBAPI connection under the session's transaction (same transaction, same
    savepoints: statements sent here commit or roll back with the session's)."""
    return session.connection().connection.dbapi_connection


def fetch_rows(session: Session, stmt: Any) -> list[Sequence[Any]]:
    """A Core ``stmt``'s rows as the DBAPI returns them: plain tuples, values in the
    database's own forms (SQLite: text dates and decimals; PostgreSQL: psycopg's Python
    types). For reads of thousands of rows a chunk, where SQLAlchemy's Row objects and
    result processing cost more than the query itself."""
    compiled = stmt.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    if is_postgres(session):
        with dbapi(session).cursor() as cursor:
            cursor.execute(str(compiled), compiled.params)
            return cast(list[Sequence[Any]], cursor.fetchall())
    names = compiled.positiontup or ()
    params = [sqlite_storage_value(compiled.params[name]) for name in names]
    return cast(list[Sequence[Any]], dbapi(session).execute(str(compiled), params).fetchall())


# -- SQLite ------------------------------------------------------------------------------------


def sqlite_storage_value(value: Any) -> Any:
    """A Python value as SQLAlchemy stores it in SQLite (what the column types' bind
    processors would produce): ISO dates, naive-UTC datetimes with microseconds, 0/1
    booleans and plain (non-exponent) decimal strings."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def sqlite_insert(table: str, columns: Sequence[str]) -> str:
    """The INSERT for ``executemany`` of tuples in ``columns`` order."""
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (names are ours)
        f"VALUES ({', '.join('?' for _ in columns)})"
    )


# -- PostgreSQL COPY ---------------------------------------------------------------------------

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_SPECIAL = re.compile(r"[\\\t\n\r]")


def copy_text(value: str | None) -> str:
    """A string in COPY's text format (backslash escapes, ``\\N`` for NULL).

    Most strings (charge names, numbers, words) need no escape: a search for the four
    special characters costs a fraction of ``translate``, which dominated formatting a
    chunk's COPY lines (issue 15)."""
    if value is None:
        return "\\N"
    return value.translate(_ESCAPES) if _SPECIAL.search(value) else value


def copy_value(value: Any) -> str:
    """Any value in COPY's text format (ints, dates and Decimals print as COPY reads them)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return copy_text(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


@contextmanager
def copy_in(connection: Any, table: str, columns: Sequence[str]) -> Iterator[psycopg.Copy]:
    """A ``COPY table (columns) FROM STDIN`` on a psycopg connection: ``write`` text-format
    lines, or ``write_row`` tuples that psycopg adapts itself."""
    raw = cast(psycopg.Connection[Any], connection)
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        yield copy


def copy_lines(connection: Any, table: str, columns: Sequence[str], lines: Iterable[str]) -> None:
    """COPY text-format payloads (each any number of whole lines) into ``table``."""
    with copy_in(connection, table, columns) as copy:
        for payload in lines:
            copy.write(payload.encode())


def copy_rows(
    connection: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """COPY tuples of Python values (psycopg adapts them) into ``table``."""
    with copy_in(connection, table, columns) as copy:
        for row in rows:
            copy.write_row(row)
