"""Real ``billcycle worker`` processes for tests of work shared through PostgreSQL: a
runtime on the system clock with the test's settings, worker processes started with
those settings in their environment, and their clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from billcycle.clock import SystemClock
from billcycle.config import Settings
from billcycle.db.session import make_session_factory
from billcycle.runtime import Runtime


def postgres_runtime(database_url: str, engine: Engine, why: str, **settings: int) -> Runtime:
    """A runtime on the real clock (the workers' clock) over the suite's engine; skips
    on SQLite, where ``why`` says what needs PostgreSQL."""
    if not database_url.startswith("postgresql"):
        pytest.skip(why)
    return Runtime(
        settings=Settings(database_url=database_url, **settings),
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=SystemClock(),
    )


def spawn_worker(database_url: str, **environment: str) -> subprocess.Popen[bytes]:
    """A ``billcycle worker`` process on ``database_url`` with a 1 s scheduler tick and
    the given ``BILLCYCLE_*`` settings."""
    env = {
        **os.environ,
        "BILLCYCLE_DATABASE_URL": database_url,
        "BILLCYCLE_WORKER_TICK_SECONDS": "1",
        **environment,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "billcycle.cli.main", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Worker processes a test starts; stopped (SIGTERM, then SIGKILL) when it ends."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
