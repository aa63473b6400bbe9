"""Test databases: a migrated SQLite file always, a migrated PostgreSQL database when
one is reachable (BILLCYCLE_TEST_POSTGRES_URL, default the local server).

Two switches: BILLCYCLE_TEST_SKIP_POSTGRES=1 leaves PostgreSQL out on purpose (the fast
loop); BILLCYCLE_TEST_REQUIRE_POSTGRES=1 (CI) makes an unreachable server an error
instead of a skip, so a green run always means both databases were tested."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

import psycopg

from billcycle.db import migrate

POSTGRES_ADMIN_URL = os.environ.get(
    "BILLCYCLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class PostgresStatus(Enum):
    REACHABLE = "reachable"
    UNREACHABLE = "not reachable"
    OPTED_OUT = "left out (BILLCYCLE_TEST_SKIP_POSTGRES=1)"


def require_postgres() -> bool:
    return os.environ.get("BILLCYCLE_TEST_REQUIRE_POSTGRES") == "1"


def postgres_status() -> PostgresStatus:
    if os.environ.get("BILLCYCLE_TEST_SKIP_POSTGRES") == "1":
        return PostgresStatus.OPTED_OUT
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return PostgresStatus.REACHABLE
    except psycopg.Error:
        return PostgresStatus.UNREACHABLE


@contextmanager
def sqlite_database(directory: Path) -> Iterator[str]:
    url = f"sqlite:///{directory / 'billcycle-test.db'}"
    migrate.upgrade(url)
    yield url


@contextmanager
def empty_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    name = f"billcycle_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_database() -> Iterator[str]:
    with empty_postgres_database() as url:
        migrate.upgrade(url)
        yield url
