"""Shared fixtures.

Every test that uses ``runtime`` (directly or through ``tenant``/``api``) runs once on
SQLite and once on PostgreSQL when a server is reachable. Databases are built by the
migrations once per session; each test gets its own tenant, which isolates it because
every query is tenant-scoped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
from tests.support.databases import postgres_available, postgres_database, sqlite_database
from tests.support.server import running_server

BACKENDS = ["sqlite", "postgresql"]
_PG = postgres_available()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "postgresql":
        if not _PG:
            pytest.skip("PostgreSQL is not reachable")
        with postgres_database() as url:
            yield url
    else:
        with sqlite_database(Path(tmp_path_factory.mktemp("sqlite"))) as url:
            yield url


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


@dataclass
class Api:
    """An httpx-based client bound to one tenant."""

    client: TestClient
    tenant: NewTenant
    token: str

    @property
    def zuora_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def fusebill_headers(self) -> dict[str, str]:
        return {"Authorization": f"Basic {self.tenant.api_key}"}


@pytest.fixture
def api(app: FastAPI, tenant: NewTenant) -> Iterator[Api]:
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/zuora/oauth/token",
            data={
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
                "grant_type": "client_credentials",
            },
        )
        assert response.status_code == 200, response.text
        yield Api(client=client, tenant=tenant, token=response.json()["access_token"])


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    with running_server(app) as url:
        yield url
