"""Shared fixtures.

Every test that uses ``runtime`` (directly or through ``tenant``/``api``) runs once on
SQLite and once on PostgreSQL when a server is reachable. Databases are built by the
migrations once per session; each test gets its own tenant, which isolates it because
every query is tenant-scoped.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import billcycle.tasks  # noqa: F401  (registers every task the job runner runs)
from billcycle.clock import FrozenClock
from billcycle.config import Settings
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.jobs import wiring
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from billcycle.web.app import create_app
from tests.support.api import Api, api_for
from tests.support.databases import (
    POSTGRES_ADMIN_URL,
    PostgresStatus,
    empty_postgres_database,
    postgres_database,
    postgres_status,
    require_postgres,
    sqlite_database,
)
from tests.support.server import running_server

POSTGRES = postgres_status()
# An explicit opt-out (BILLCYCLE_TEST_SKIP_POSTGRES=1, `make test-fast`) drops the PostgreSQL
# variants; an unreachable server only skips them, so the summary shows what did not run.
BACKENDS = ["sqlite"] if POSTGRES is PostgresStatus.OPTED_OUT else ["sqlite", "postgresql"]


def pytest_configure(config: pytest.Config) -> None:
    if require_postgres() and POSTGRES is not PostgresStatus.REACHABLE:
        raise pytest.UsageError(
            f"BILLCYCLE_TEST_REQUIRE_POSTGRES=1 but PostgreSQL is {POSTGRES.value}"
            f" ({POSTGRES_ADMIN_URL}): start it, or unset the flag to skip its variants"
        )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Iterator[None]:
    """Say what happened to the PostgreSQL variants, just above pytest's closing line (the
    outermost wrapper writes after pytest's own summary sections)."""
    yield
    if POSTGRES is PostgresStatus.REACHABLE:
        ran = sum(
            "postgresql" in report.nodeid
            for key in ("passed", "failed")
            for report in terminalreporter.stats.get(key, [])
            if report.when == "call"
        )
        terminalreporter.write_line(f"PostgreSQL: tested ({ran} test runs on PostgreSQL)")
    elif POSTGRES is PostgresStatus.UNREACHABLE:
        terminalreporter.write_line(
            f"PostgreSQL: not reachable at {POSTGRES_ADMIN_URL}, PostgreSQL variants skipped"
            " (BILLCYCLE_TEST_REQUIRE_POSTGRES=1 makes this an error)"
        )
    else:
        terminalreporter.write_line("PostgreSQL: left out (BILLCYCLE_TEST_SKIP_POSTGRES=1)")


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "postgresql":
        if POSTGRES is not PostgresStatus.REACHABLE:
            pytest.skip(f"PostgreSQL is {POSTGRES.value}")
        with postgres_database() as url:
            yield url
    else:
        with sqlite_database(Path(tmp_path_factory.mktemp("sqlite"))) as url:
            yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it (no migration run), on each backend."""
    if request.param == "postgresql":
        if POSTGRES is not PostgresStatus.REACHABLE:
            pytest.skip(f"PostgreSQL is {POSTGRES.value}")
        with empty_postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    """Business time (billing dates): what most tests move."""
    return FrozenClock(datetime(2026, 1, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
def machine_clock() -> FrozenClock:
    """Machine time (leases, token expiry): moves only when a test moves it."""
    return FrozenClock(datetime(2026, 1, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
def runtime(
    database_url: str,
    engine: Engine,
    clock: FrozenClock,
    machine_clock: FrozenClock,
    tmp_path: Path,
) -> Runtime:
    settings = Settings(
        database_url=database_url,
        secret_key="test-secret-key-" + "x" * 32,
        outbox_dir=tmp_path / "outbox",
        bill_run_chunk_size=7,  # small chunks: every test run spans several
        # Tests move the clock by months; tokens must outlive that (expiry has its own test).
        access_token_ttl_seconds=10 * 365 * 86400,
    )
    runtime = Runtime(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=clock,
        machine_clock=machine_clock,
    )
    wiring.manual(runtime)
    return runtime


@pytest.fixture
def jobs(runtime: Runtime) -> ManualDispatcher:
    """Background work queued by the code under test; ``jobs.run_until_idle()`` runs it
    through the real job runner, in the test's thread."""
    assert isinstance(runtime.dispatcher, ManualDispatcher)
    return runtime.dispatcher


@pytest.fixture
def tenant(runtime: Runtime) -> NewTenant:
    with unit_of_work(runtime.session_factory) as session:
        return create_tenant(session, runtime.clock, "test tenant", bulk_jobs=True)


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime)


@pytest.fixture
def api(app: FastAPI, tenant: NewTenant) -> Iterator[Api]:
    """The tenant's client. A server exception propagates into the test with its traceback
    (a test of the 500 envelope itself builds its own ``TestClient(app,
    raise_server_exceptions=False)``)."""
    with TestClient(app) as client:
        yield api_for(client, tenant)


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    with running_server(app) as url:
        yield url
