"""A usage import survives its worker: a real ``billcycle worker`` SIGKILLed mid-load
leaves nothing loaded and the import Processing; another worker picks it up once the
lease runs out and loads the file exactly once. And the import's status changes (and a
record created through the API) are in the events outbox."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from sqlalchemy import func, select

from billcycle.events.models import Event
from billcycle.jobs import wiring
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.jobs.models import WorkChunk
from billcycle.runtime import Runtime
from billcycle.usage import imports
from billcycle.usage.models import UsageImport, UsageRecord
from tests.support.api import Api
from tests.support.workers import postgres_runtime, spawn_worker, workers
from tests.usage.helpers import PER_UNIT, add_uoms, add_usage, subscribe

__all__ = ["workers"]  # the fixture

ROWS = 300_000


def _csv(account: str, subscription: str, charge: str, rows: int) -> bytes:
    head = "ACCOUNT_ID,UOM,QTY,STARTDATE,ENDDATE,SUBSCRIPTION_ID,CHARGE_ID,DESCRIPTION\n"
    lines = [
        f"{account},Call,{r % 10 + 1},01/{r % 28 + 1:02d}/2026,,{subscription},{charge},\n"
        for r in range(rows)
    ]
    return (head + "".join(lines)).encode()


def _import(runtime: Runtime, tenant_id: int, import_id: int) -> tuple[str, int, int]:
    with runtime.service_context(tenant_id) as ctx:
        job = ctx.session.get(UsageImport, import_id)
        assert job is not None
        count = ctx.session.scalar(
            select(func.count()).select_from(UsageRecord).where(UsageRecord.import_id == job.id)
        )
        return job.status, job.loaded_records, int(count or 0)


def _wait(runtime: Runtime, tenant_id: int, import_id: int, status: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _import(runtime, tenant_id, import_id)[0] != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"import not {status}: {_import(runtime, tenant_id, import_id)}")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_killed_import_is_loaded_once_by_another_worker(
    api: Api,
    runtime: Runtime,
    database_url: str,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    pg = postgres_runtime(
        database_url, runtime.engine, "worker processes share work through PostgreSQL"
    )
    tenant_id = api.tenant.tenant_id
    add_uoms(runtime, tenant_id, "Call")
    customer = subscribe(api, runtime, PER_UNIT)
    content = _csv(
        customer.account_number,
        customer.subscription_number,
        customer.charge_numbers["API calls"],
        ROWS,
    )
    pieces = [
        content[i : i + imports.PART_BYTES] for i in range(0, len(content), imports.PART_BYTES)
    ]
    with wiring.procrastinate_dispatch(pg), pg.service_context(tenant_id) as ctx:
        import_id = imports.start_import(ctx, "usage.csv", pieces).id
    pg.dispatcher = None

    env = {"BILLCYCLE_WORKER_LEASE_SECONDS": "3"}
    first = spawn_worker(database_url, **env)
    workers.append(first)
    _wait(pg, tenant_id, import_id, "Processing", 120)
    time.sleep(0.5)  # into the load: rows are being written, uncommitted
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert _import(pg, tenant_id, import_id) == ("Processing", 0, 0)
    with pg.service_context(tenant_id) as ctx:
        chunk = ctx.session.scalars(
            select(WorkChunk).where(
                WorkChunk.kind == "usage_import", WorkChunk.parent_id == import_id
            )
        ).one()
        assert (chunk.status, chunk.attempts) == ("claimed", 1)

    workers.append(spawn_worker(database_url, **env))
    _wait(pg, tenant_id, import_id, "Completed", 240)
    assert _import(pg, tenant_id, import_id) == ("Completed", ROWS, ROWS)
    with pg.service_context(tenant_id) as ctx:
        chunk = ctx.session.scalars(
            select(WorkChunk).where(
                WorkChunk.kind == "usage_import", WorkChunk.parent_id == import_id
            )
        ).one()
        assert (chunk.status, chunk.attempts) == ("done", 2)


def test_import_status_changes_and_api_records_are_events(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    add_uoms(runtime, tenant_id, "Call")
    customer = subscribe(api, runtime, PER_UNIT)
    created = add_usage(api, customer, "API calls", 3, "2026-01-05T00:00:00", "Call")
    assert created.status_code == 200, created.text
    content = _csv(
        customer.account_number,
        customer.subscription_number,
        customer.charge_numbers["API calls"],
        5,
    )
    response = api.client.post(
        "/zuora/v1/usage", files={"file": ("u.csv", content, "text/csv")}, headers=api.zuora_headers
    )
    assert response.status_code == 200, response.text
    jobs.run_until_idle()
    bad = b"ACCOUNT_ID,UOM,QTY,STARTDATE\nA00009999,Call,1,01/05/2026\n"
    response = api.client.post(
        "/zuora/v1/usage", files={"file": ("b.csv", bad, "text/csv")}, headers=api.zuora_headers
    )
    assert response.status_code == 200, response.text
    jobs.run_until_idle()

    with runtime.service_context(tenant_id) as ctx:
        rows = ctx.session.scalars(
            select(Event).where(Event.tenant_id == tenant_id).order_by(Event.id)
        ).all()
        events = [(e.type, e.object_type, e.payload) for e in rows]
    usage = [p for t, _o, p in events if t == "usage.created"]
    assert len(usage) == 1
    assert usage[0]["object"]["quantity"] == "3"
    changes = [
        (p["object"]["file_name"], p["previous_status"], p["status"])
        for t, o, p in events
        if t == "usage_import.status_changed" and o == "usage_import"
    ]
    assert changes == [
        ("u.csv", None, "Pending"),
        ("u.csv", "Pending", "Processing"),
        ("u.csv", "Processing", "Completed"),
        ("b.csv", None, "Pending"),
        ("b.csv", "Pending", "Processing"),
        ("b.csv", "Processing", "Failed"),
    ]
