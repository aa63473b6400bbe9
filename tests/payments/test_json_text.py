"""``db.bulk.json_text``: the JSON arrays a payment run's statements read their rows
from, written by orjson, read back by the database as the same values ``json.dumps``
gave (non-ASCII gateway words included), and what orjson refuses written by ``json``."""

from __future__ import annotations

import json
import sqlite3

from billcycle.db.bulk import json_text

ROWS = [
    [101, "A", "Approved", None, "tx-1", None, "Settled", 7, "API"],
    [102, "F", "Carte refusée — fonds insuffisants", "51", None, "Hard", "Failed", 8, "API"],
    [103, "P", "支払い保留", None, "tx-3", None, None, 9, "API"],
    (104, True, False, 2**63 - 1, -5, ""),
]


def _as_sqlite_reads(text: str) -> list[tuple[int, str | None, str | None]]:
    with sqlite3.connect(":memory:") as db:
        return db.execute(
            "SELECT key, json_extract(value, '$[1]'), json_extract(value, '$[2]') "
            "FROM json_each(?) ORDER BY key",
            (text,),
        ).fetchall()


def test_the_same_values_as_json_dumps() -> None:
    ours = json_text(ROWS)
    theirs = json.dumps(ROWS, separators=(",", ":"))
    assert json.loads(ours) == json.loads(theirs)
    assert _as_sqlite_reads(ours) == _as_sqlite_reads(theirs)
    assert json_text([1, 2, 3]) == "[1,2,3]"


def test_what_orjson_refuses_is_written_by_json() -> None:
    lone = ["\ud800", 2**70]
    assert json_text(lone) == json.dumps(lone, separators=(",", ":"))
