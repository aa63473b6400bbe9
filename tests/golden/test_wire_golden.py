"""Both dialects answer a recorded conversation byte for byte as recorded (``scenario.py``
says why and how to re-record)."""

from __future__ import annotations

import difflib
import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from billcycle.clock import FrozenClock
from billcycle.config import Settings
from billcycle.db import migrate
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.jobs import wiring
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from billcycle.web.app import create_app
from tests.golden.scenario import Seen, Step, dump, steps

GOLDEN = Path(__file__).with_name("wire.jsonl")


def _replay(tmp_path: Path) -> list[str]:
    url = f"sqlite:///{tmp_path / 'golden.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    clock = FrozenClock(datetime(2026, 1, 10, 9, 0, tzinfo=UTC))
    settings = Settings(
        database_url=url,
        secret_key="golden-secret-key-" + "x" * 32,
        outbox_dir=tmp_path / "outbox",
        bill_run_chunk_size=2,
        access_token_ttl_seconds=10 * 365 * 86400,
    )
    runtime = Runtime(
        settings=settings, engine=engine, session_factory=make_session_factory(engine), clock=clock
    )
    wiring.manual(runtime)
    jobs = runtime.dispatcher
    assert isinstance(jobs, ManualDispatcher)
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(session, runtime.clock, "golden", bulk_jobs=True)
    lines: list[str] = []
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=True) as client:
            token = client.post(
                "/zuora/oauth/token",
                data={
                    "client_id": tenant.client_id,
                    "client_secret": tenant.client_secret,
                    "grant_type": "client_credentials",
                },
            ).json()["access_token"]
            auth = {
                "zuora": {"Authorization": f"Bearer {token}"},
                "fusebill": {"Authorization": f"Basic {tenant.api_key}"},
                "none": {},
            }
            seen = Seen()
            for step in steps():
                if step.before is not None:
                    step.before(clock, jobs)
                response = _send(client, step, seen, auth[step.dialect])
                seen.answers[step.name] = response
                lines.append(dump(step, response))
                if step.run_jobs:
                    jobs.run_until_idle()
    finally:
        engine.dispose()
    return lines


def _send(client: TestClient, step: Step, seen: Seen, headers: dict[str, str]) -> httpx.Response:
    path = step.path(seen) if callable(step.path) else step.path
    body = step.body(seen) if callable(step.body) else step.body
    all_headers = {**headers, **(step.headers or {})}
    if step.raw is not None:
        all_headers["Content-Type"] = "application/json"
        return client.request(
            step.method, path, content=step.raw, headers=all_headers, params=step.params
        )
    if body is None:
        return client.request(step.method, path, headers=all_headers, params=step.params)
    return client.request(step.method, path, json=body, headers=all_headers, params=step.params)


def test_both_dialects_answer_the_recorded_conversation_byte_for_byte(tmp_path: Path) -> None:
    lines = _replay(tmp_path)
    if os.environ.get("BILLCYCLE_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text("\n".join(lines) + "\n", encoding="utf-8")
    recorded = GOLDEN.read_text(encoding="utf-8").splitlines()
    if lines != recorded:
        diff = "\n".join(difflib.unified_diff(recorded, lines, "recorded", "now", lineterm=""))
        raise AssertionError(f"the wire changed (BILLCYCLE_UPDATE_GOLDEN=1 re-records):\n{diff}")
