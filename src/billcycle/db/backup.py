"""Backups and restores of the database (``billcycle db backup`` / ``db restore``).

* SQLite: SQLite's online backup API, all pages in one step: the copy is one consistent
  snapshot of the database (a read transaction; WAL lets the server keep writing
  meanwhile), written beside the target and renamed into place once it checks out. A
  restore copies a backup into the database through the same API (so a stale ``-wal``
  file of the old database can never mix with the restored pages).
* PostgreSQL: ``pg_dump --format=custom`` (one snapshot, consistent while serving) and
  ``pg_restore --clean --if-exists --single-transaction``, when those programs are on
  the PATH; the password goes through the environment, never the command line.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL, make_url

from billcycle.db.engine import normalize_url


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    bytes: int
    revision: str | None  # the schema's Alembic revision in the copy


def backend(url: str) -> str:
    return make_url(normalize_url(url)).get_backend_name()


def sqlite_path(url: str) -> Path:
    database = make_url(normalize_url(url)).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(database)


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return str(row[0]) if row else None


def _check(connection: sqlite3.Connection, what: str) -> None:
    result = connection.execute("PRAGMA integrity_check").fetchone()
    if result is None or result[0] != "ok":
        raise BackupError(f"{what} failed SQLite's integrity check: {result}")


def backup_sqlite(url: str, destination: Path) -> BackupInfo:
    source_path = sqlite_path(url)
    if not source_path.is_file():
        raise BackupError(f"no SQLite database at {source_path}")
    destination = Path(destination)
    if destination.resolve() == source_path.resolve():
        raise BackupError("the backup would overwrite the database itself")
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(source_path, timeout=30)
    try:
        target = sqlite3.connect(partial)
        try:
            # pages=-1: every page in one step, under one read transaction: one snapshot.
            source.backup(target, pages=-1)
            # The copy is a single self-contained file (no -wal beside it).
            target.execute("PRAGMA journal_mode=DELETE")
            _check(target, "the backup")
            revision = _revision(target)
        finally:
            target.close()
    finally:
        source.close()
    os.replace(partial, destination)
    return BackupInfo(destination, destination.stat().st_size, revision)


def restore_sqlite(backup: Path, url: str, *, overwrite: bool = False) -> BackupInfo:
    backup = Path(backup)
    if not backup.is_file():
        raise BackupError(f"no backup at {backup}")
    target_path = sqlite_path(url)
    if target_path.exists() and target_path.stat().st_size > 0 and not overwrite:
        raise BackupError(
            f"{target_path} exists: stop billcycle (serve and worker) and pass --force "
            "to replace it"
        )
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        try:
            _check(source, "the backup")
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{backup} is not a SQLite database: {exc}") from exc
        revision = _revision(source)
        if revision is None:
            raise BackupError(f"{backup} is not a billcycle database (no schema revision)")
        target_path.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(target_path, timeout=30)
        try:
            source.backup(target, pages=-1)
            target.execute("PRAGMA journal_mode=WAL")
            _check(target, "the restored database")
        finally:
            target.close()
    finally:
        source.close()
    return BackupInfo(target_path, target_path.stat().st_size, revision)


# -- PostgreSQL ----------------------------------------------------------------------------


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without its password, and the environment that carries it."""
    parsed: URL = make_url(normalize_url(url))
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    bare = parsed.set(drivername="postgresql", password=None)
    return bare.render_as_string(hide_password=False), env


def postgres_recipe(url: str, path: str) -> str:
    bare, _ = _libpq(url)
    return (
        f"pg_dump --format=custom --file {path} '{bare}'\n"
        f"pg_restore --clean --if-exists --no-owner --single-transaction --dbname '{bare}' {path}"
    )


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not on the PATH (install the PostgreSQL client tools)")
    return found


def backup_postgres(url: str, destination: Path) -> BackupInfo:
    bare, env = _libpq(url)
    destination = Path(destination)
    partial = destination.with_name(destination.name + ".partial")
    result = subprocess.run(  # noqa: S603 - pg_dump from PATH, arguments are ours
        [_program("pg_dump"), "--format=custom", "--file", str(partial), "--dbname", bare],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    os.replace(partial, destination)
    return BackupInfo(destination, destination.stat().st_size, None)


def _postgres_has_schema(url: str) -> bool:
    engine = create_engine(normalize_url(url))
    try:
        return inspect(engine).has_table("alembic_version")
    finally:
        engine.dispose()


def restore_postgres(backup: Path, url: str, *, overwrite: bool = False) -> BackupInfo:
    backup = Path(backup)
    if not backup.is_file():
        raise BackupError(f"no backup at {backup}")
    if not overwrite and _postgres_has_schema(url):
        raise BackupError(
            "the database already holds billcycle's tables: stop billcycle (serve and "
            "workers) and pass --force to replace them"
        )
    bare, env = _libpq(url)
    result = subprocess.run(  # noqa: S603 - pg_restore from PATH, arguments are ours
        [
            _program("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--dbname",
            bare,
            str(backup),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
    return BackupInfo(backup, backup.stat().st_size, None)


def backup(url: str, destination: Path) -> BackupInfo:
    if backend(url) == "sqlite":
        return backup_sqlite(url, destination)
    return backup_postgres(url, destination)


def restore(backup_path: Path, url: str, *, overwrite: bool = False) -> BackupInfo:
    if backend(url) == "sqlite":
        return restore_sqlite(backup_path, url, overwrite=overwrite)
    return restore_postgres(backup_path, url, overwrite=overwrite)
