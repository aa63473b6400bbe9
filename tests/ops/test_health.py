"""``/healthz`` (the process answers) and ``/readyz`` (database reachable, schema at the
migrations' head, a worker alive), on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from billcycle.clock import SystemClock
from billcycle.config import Settings
from billcycle.db import migrate
from billcycle.db.bulk import is_postgres
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory
from billcycle.jobs import wiring
from billcycle.operations import readiness
from billcycle.runtime import Runtime
from billcycle.web.app import create_app
from tests.ops.helpers import SRC, serving, wait_until
from tests.support.api import Api


def runtime_on(url: str) -> Runtime:
    engine = make_engine(url)
    return Runtime(
        settings=Settings(database_url=url, secret_key="health-test-secret-" + "x" * 24),
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=SystemClock(),
    )


def test_healthz_answers_without_the_database(api: Api) -> None:
    response = api.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_checks_the_database_the_schema_and_the_workers(api: Api, runtime: Runtime) -> None:
    if is_postgres(runtime.engine):
        # No `billcycle worker` has sent a heartbeat: not ready, and it says why.
        with runtime.engine.begin() as conn:
            conn.execute(text("DELETE FROM procrastinate_workers"))
        response = api.client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not ready"
        assert body["checks"]["database"] == body["checks"]["migrations"] == "ok"
        assert "heartbeat" in body["checks"]["worker"]
        with runtime.engine.begin() as conn:
            conn.execute(text("INSERT INTO procrastinate_workers DEFAULT VALUES"))
        try:
            response = api.client.get("/readyz")
        finally:
            with runtime.engine.begin() as conn:
                conn.execute(text("DELETE FROM procrastinate_workers"))
        assert response.status_code == 200, response.text
        assert response.json()["checks"] == {"database": "ok", "migrations": "ok", "worker": "ok"}
        return
    # SQLite: the embedded worker thread of `billcycle serve` is the worker.
    with wiring.embedded_worker(runtime):
        response = api.client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "status": "ready",
            "checks": {"database": "ok", "migrations": "ok", "worker": "ok"},
        }
    response = api.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["worker"] == "the embedded worker thread stopped"


def test_readyz_fails_while_the_schema_is_behind(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0017")
    runtime = runtime_on(empty_database_url)
    try:
        with TestClient(create_app(runtime)) as client:
            response = client.get("/readyz")
            assert response.status_code == 503
            checks = response.json()["checks"]
            assert checks["database"] == "ok"
            assert checks["migrations"].startswith("database at 0017, code expects")
            assert client.get("/healthz").status_code == 200
            migrate.upgrade(empty_database_url)
            assert client.get("/readyz").json()["checks"]["migrations"] == "ok"
    finally:
        runtime.dispose()


def test_an_unreachable_database_is_not_ready(tmp_path: Path) -> None:
    runtime = runtime_on(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'db.sqlite'}")
    try:
        result = readiness.check(runtime)
    finally:
        runtime.dispose()
    assert not result.ready
    assert result.checks["database"].startswith("unreachable")


def test_the_pdf_warm_up_holds_readiness_until_it_has_finished() -> None:
    """In its own process (the warm-up freezes the collector's objects, which a test
    process must not): pending from its start, finished once its thread ends."""
    script = (
        "from billcycle.documents import warmup\n"
        "assert not warmup.pending()\n"
        "thread = warmup.start_pdf_warm_up()\n"
        "during = warmup.pending()\n"
        "thread.join(120)\n"
        "print(during, warmup.pending())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert (done.returncode, done.stdout.split()) == (0, ["True", "False"]), done.stderr


def test_a_served_process_turns_ready_after_its_pdf_warm_up(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("the warm-up is the same on both databases; SQLite needs no worker")
    log = tmp_path / "server.log"
    with serving(database_url, log) as (base, _server):
        answers: list[httpx.Response] = []

        def ready() -> bool:
            answers.append(httpx.get(f"{base}/readyz", timeout=5))
            return answers[-1].status_code == 200

        wait_until(ready, 120, "the server to be ready")
        assert answers[-1].json()["checks"] == {
            "database": "ok",
            "migrations": "ok",
            "worker": "ok",
        }
        for answer in answers[:-1]:  # any not-ready answer names the warm-up
            assert answer.json()["checks"].get("pdf_warm_up"), answer.text
    assert "PDF rendering warmed up" in log.read_text(errors="replace")
