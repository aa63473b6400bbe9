"""The COPY text format of the chunk writer: any string comes back from PostgreSQL as it
went in (tabs, newlines, backslashes, a literal \\N), plain strings unchanged."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from billcycle.db import bulk

STRINGS = [
    "Monthly fee",
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    "",
    "ünïcødé €",
]


def test_plain_strings_are_not_copied() -> None:
    assert bulk.copy_text("Monthly fee") == "Monthly fee"
    assert bulk.copy_text(None) == "\\N"


def test_every_string_survives_a_copy(engine: Engine) -> None:
    if not bulk.is_postgres(engine):
        pytest.skip("COPY is PostgreSQL's")
    raw = engine.raw_connection()
    try:
        conn = raw.dbapi_connection
        with conn.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute("CREATE TEMP TABLE copy_text_check (n int, s text)")
            lines = "".join(f"{n}\t{bulk.copy_text(s)}\n" for n, s in enumerate(STRINGS))
            lines += f"{len(STRINGS)}\t{bulk.copy_text(None)}\n"
            bulk.copy_lines(conn, "copy_text_check", ("n", "s"), [lines])
            cursor.execute("SELECT s FROM copy_text_check ORDER BY n")
            assert [row[0] for row in cursor.fetchall()] == [*STRINGS, None]
    finally:
        raw.rollback()
        raw.close()
