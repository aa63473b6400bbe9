"""Test databases: a migrated SQLite file always, a migrated PostgreSQL database when
one is reachable (BILLCYCLE_TEST_POSTGRES_URL, default the local server)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from billcycle.db import migrate

POSTGRES_ADMIN_URL = os.environ.get(
    "BILLCYCLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def postgres_available() -> bool:
    if os.environ.get("BILLCYCLE_TEST_SKIP_POSTGRES") == "1":
        return False
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextmanager
def sqlite_database(directory: Path) -> Iterator[str]:
    url = f"sqlite:///{directory / 'billcycle-test.db'}"
    migrate.upgrade(url)
    yield url


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"billcycle_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
