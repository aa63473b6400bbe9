"""SQLite's WAL checkpointed off the writer's thread (``db.checkpoints``): a long run of
writing commits keeps the WAL within its bound, even though the checkpointer's thread
races the writer; what was written is all there and reads back afterwards; a reader
holding an old snapshot only postpones the bound (no error, nothing lost); a limit of 0
leaves SQLite's own checkpoints."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, text

from billcycle.db.checkpoints import WalCheckpointer
from billcycle.db.engine import engine_checkpointers, make_engine

LIMIT_MB = 8  # 2,048 pages of 4 kB
ROWS_PER_COMMIT = 1500  # ~100 pages a commit: the bound filled ~4 times
COMMITS = 240
WAL_HEADER, FRAME = 32, 24 + 4096


def _setup(path: Path) -> tuple[Engine, WalCheckpointer]:
    engine = make_engine(f"sqlite:///{path}", wal_limit_mb=LIMIT_MB)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, batch INTEGER, v TEXT)"))
    return engine, engine_checkpointers[engine]


def _write(engine: Engine, batch: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO t (batch, v) "
                "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r WHERE x < :n) "
                "SELECT :batch, hex(randomblob(100)) FROM r"
            ),
            {"n": ROWS_PER_COMMIT, "batch": batch},
        )


def _wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def _check_rows(path: Path, commits: int) -> None:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count, batches = db.execute("SELECT count(*), count(DISTINCT batch) FROM t").fetchone()
        assert (count, batches) == (commits * ROWS_PER_COMMIT, commits)
        per_batch = db.execute("SELECT DISTINCT count(*) FROM t GROUP BY batch").fetchall()
        assert per_batch == [(ROWS_PER_COMMIT,)]
    db.close()


def test_a_long_run_of_commits_keeps_the_wal_bounded_and_the_rows_intact(
    tmp_path: Path,
) -> None:
    path = tmp_path / "long.db"
    engine, checkpointer = _setup(path)
    try:
        _write(engine, 0)
        commit_pages = -(-(_wal_bytes(path) - WAL_HEADER) // FRAME)  # about one commit
        # The limit, plus what is committed between two of the thread's checkpoints (they
        # are MIN_INTERVAL_SECONDS apart at least; this loop commits as fast as it can),
        # plus the commits made before a restart takes effect.
        bound = 2 * checkpointer.limit_pages + 3 * commit_pages
        # Enough commits to fill the bound several times over.
        assert COMMITS * commit_pages > 3 * bound
        largest_file = 0
        for batch in range(1, COMMITS):
            _write(engine, batch)
            largest_file = max(largest_file, _wal_bytes(path))
        # The WAL started over again and again (after the thread's checkpoint when it won
        # the race with the next commit, else by a committing connection's RESTART past
        # the limit): its file stayed within the bound.
        assert largest_file <= WAL_HEADER + bound * FRAME
        assert checkpointer.passes >= 1
        assert checkpointer.longest_wal <= bound
        with engine.connect() as conn:
            total = conn.execute(text("SELECT count(*) FROM t")).scalar_one()
        assert total == COMMITS * ROWS_PER_COMMIT
    finally:
        engine.dispose()
    _check_rows(path, COMMITS)


def test_a_reader_on_an_old_snapshot_postpones_the_bound_and_loses_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pinned.db"
    engine, checkpointer = _setup(path)
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        _write(engine, 0)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (ROWS_PER_COMMIT,)
        # The reader's snapshot pins the WAL: no checkpoint may copy past it, so no
        # restart completes, and the WAL grows past the limit. Writes go on regardless.
        pinned = 30
        for batch in range(1, pinned):
            _write(engine, batch)
        assert _wal_bytes(path) > WAL_HEADER + checkpointer.limit_pages * FRAME
        assert checkpointer.restarts == 0
        # The reader still sees its snapshot.
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (ROWS_PER_COMMIT,)
        reader.execute("COMMIT")
        grown = _wal_bytes(path)
        # Once it is gone, the WAL starts over: 40 more commits (~3,300 pages) leave its
        # file as it was but for the commit or two made before the restart took effect.
        for batch in range(pinned, pinned + 40):
            _write(engine, batch)
        assert _wal_bytes(path) <= grown + 2 * 120 * FRAME
    finally:
        reader.close()
        engine.dispose()
    _check_rows(path, pinned + 40)


def test_a_limit_of_zero_keeps_sqlites_own_checkpoints(tmp_path: Path) -> None:
    off = make_engine(f"sqlite:///{tmp_path / 'off.db'}", wal_limit_mb=0)
    on = make_engine(f"sqlite:///{tmp_path / 'on.db'}", wal_limit_mb=LIMIT_MB)
    try:
        assert off not in engine_checkpointers
        with off.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 1000
        # With the checkpointer, SQLite's own checkpoint in the commit stays as a backstop
        # at twice the limit.
        with on.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 4096
    finally:
        off.dispose()
        on.dispose()
