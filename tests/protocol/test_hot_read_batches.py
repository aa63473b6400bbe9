"""Concurrent hot GETs of bill runs on a database server go as ONE statement per batch
(billcycle.db.direct.ReadBatches, billcycle.zuora.hot_reads): each GET still gets its own
tenant's row, its own token check and its own failure. On SQLite the read stays inline
(one statement a GET); the answers must be the same there."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import BigInteger, bindparam, cast, event, select

from billcycle.billruns import service as bill_runs_service
from billcycle.db.direct import DirectSelect, LoopReads, ReadBatches, direct_reads
from billcycle.db.engine import make_engine
from billcycle.db.session import unit_of_work
from billcycle.errors import NotAuthenticated
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy import management
from billcycle.tenancy.models import OAuthClient
from billcycle.tenancy.service import create_tenant
from tests.billruns.helpers import create_run, customers
from tests.support.api import Api, api_for

BILL_RUNS = "/zuora/v1/bill-runs"


def _other_tenant(api: Api, runtime: Runtime, name: str) -> Api:
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(session, runtime.clock, name, bulk_jobs=True)
    return api_for(api.client, tenant)


def _run_of(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> str:
    customers(api, runtime, 1)
    run_id: str = create_run(api)["id"]
    jobs.run_until_idle()
    return run_id


def _together(app: FastAPI, requests: list[tuple[str, dict[str, str]]]) -> list[httpx.Response]:
    """The GETs at once, as concurrent requests on one event loop (as a server process
    serves its connections)."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return list(
                await asyncio.gather(
                    *(client.get(path, headers=headers) for path, headers in requests)
                )
            )

    return asyncio.run(run())


def _direct_statements(runtime: Runtime) -> list[str]:
    """The statements sent from now on on direct-read connections (db.direct: its
    listeners are given no SQLAlchemy connection)."""
    seen: list[str] = []

    def note(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if conn is None:
            seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", note)
    return seen


def test_concurrent_gets_of_different_tenants_runs_each_get_their_own_run(
    api: Api, app: FastAPI, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenants = [api, _other_tenant(api, runtime, "second"), _other_tenant(api, runtime, "third")]
    runs = [_run_of(each, runtime, jobs) for each in tenants]
    # Each tenant's run, and another tenant's run with this tenant's token (not found).
    requests = [
        (f"{BILL_RUNS}/{runs[(index + shift) % 3]}", tenants[index].zuora_headers)
        for _ in range(8)
        for index in range(3)
        for shift in (0, 1)
    ]
    expected = [
        api.client.get(f"{path}?via=router", headers=headers).json() for path, headers in requests
    ]
    seen = _direct_statements(runtime)
    answers = _together(app, requests)
    for (path, _), answer, routed in zip(requests, answers, expected, strict=True):
        body = answer.json()
        if routed.get("success"):
            assert answer.status_code == 200, answer.text
            assert body == routed
            assert path.endswith(body["id"])
        else:
            assert answer.status_code == 404, answer.text
            assert (body["success"], body["reasons"]) == (routed["success"], routed["reasons"])
    if runtime.engine.dialect.name == "postgresql":
        # Batched: fewer statements than GETs (how many depends on the threads' timing).
        assert 1 <= len(seen) < len(requests)
    else:
        assert len(seen) == len(requests)


def test_a_revoked_token_in_a_batch_is_refused_and_the_others_answered(
    api: Api, app: FastAPI, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    other = _other_tenant(api, runtime, "second")
    runs = [_run_of(api, runtime, jobs), _run_of(other, runtime, jobs)]
    assert api.client.get(f"{BILL_RUNS}/{runs[0]}", headers=api.zuora_headers).status_code == 200
    with unit_of_work(runtime.session_factory) as session:
        client_pk = session.scalar(
            select(OAuthClient.id).where(OAuthClient.client_id == api.tenant.client_id)
        )
        assert client_pk is not None
        management.rotate_oauth_client(session, api.tenant.tenant_id, client_pk)
    requests = [
        (f"{BILL_RUNS}/{runs[index]}", (api, other)[index].zuora_headers)
        for _ in range(10)
        for index in (0, 1)
    ]
    answers = _together(app, requests)
    for index, answer in enumerate(answers):
        if index % 2 == 0:
            assert answer.status_code == 401, answer.text
            assert "deleted or rotated" in answer.text
            assert runs[0] not in answer.text
        else:
            assert answer.status_code == 200, answer.text
            assert answer.json()["id"] == runs[1]


def test_a_batch_reads_each_key_as_the_single_read_does(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("batched reads are PostgreSQL's (SQLite reads inline)")
    other = _other_tenant(api, runtime, "second")
    runs = [int(_run_of(each, runtime, jobs), 16) for each in (api, other)]
    clients = [(each.tenant.tenant_id, each.tenant.client_id, 1) for each in (api, other)]
    stale = (api.tenant.tenant_id, api.tenant.client_id, 2)
    keys = [
        (api.tenant.tenant_id, runs[0], clients[0]),
        (other.tenant.tenant_id, runs[1], clients[1]),
        (api.tenant.tenant_id, runs[1], clients[0]),  # another tenant's run: none
        (other.tenant.tenant_id, runs[1], clients[0]),  # a client of another tenant
        (api.tenant.tenant_id, runs[0], clients[0]),  # the same key twice
    ]
    reads = direct_reads(runtime.engine)

    async def together() -> list[Any]:
        return await bill_runs_service.unchecked_bill_run_rows(reads.on_loop(), keys)

    batch = asyncio.run(together())
    alone = [bill_runs_service.unchecked_bill_run_row(reads, key) for key in keys]
    assert batch[2] is None
    assert alone[2] is None
    for got, single in zip(batch, alone, strict=True):
        assert (got is None) == (single is None)
        if got is not None and single is not None:
            assert bill_runs_service.same_bill_run_rows(reads, got, single)
            assert [type(value) for value in got] == [type(value) for value in single]
    assert batch[0] is not None
    assert batch[1] is not None
    assert batch[3] is not None
    view = bill_runs_service.bill_run_row_view(reads, batch[1])
    assert (view.run.id, view.run.tenant_id) == (runs[1], other.tenant.tenant_id)
    # The token check is each key's own.
    assert bill_runs_service.checked_bill_run_row(reads, batch[1], clients[1]) == batch[1]
    with pytest.raises(NotAuthenticated, match="deleted or rotated"):
        bill_runs_service.checked_bill_run_row(reads, batch[3], stale)


def test_a_read_that_fails_in_a_batch_fails_alone(database_url: str) -> None:
    # Through the database: a value past BIGINT fails its statement (PostgreSQL: out of
    # range; SQLite: too large to bind), so the batch's one statement fails as a whole.
    engine = make_engine(database_url)
    try:
        reads = direct_reads(engine)
        one = DirectSelect(select(cast(bindparam("value"), BigInteger)), engine.dialect)

        async def read_many(reads: LoopReads, values: list[int]) -> list[int]:
            calls.append(list(values))
            found = []
            for value in values:
                row = await reads.first(one, {"value": value})
                assert row is not None
                found.append(int(row[0]))
            return found

        calls: list[list[int]] = []
        batches: ReadBatches[int, int] = ReadBatches(reads, read_many)
        values = [1, 2, 2**70, 4, 5]

        async def run() -> list[int | BaseException]:
            return list(
                await asyncio.gather(
                    *(batches.read(value) for value in values), return_exceptions=True
                )
            )

        outcomes = asyncio.run(run())
        assert outcomes[:2] == [1, 2]
        assert outcomes[3:] == [4, 5]
        assert isinstance(outcomes[2], Exception)
        # The reads of one round of the loop went together, failed together, and were
        # read again one by one.
        assert calls == [values, *([value] for value in values)]
        # The batches still work after a failure, on another loop too.
        assert asyncio.run(run())[3] == 4
    finally:
        engine.dispose()


def test_reads_that_come_while_a_batch_is_out_go_together_in_the_next(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        reads = direct_reads(engine)
        one = DirectSelect(select(cast(bindparam("value"), BigInteger)), engine.dialect)
        calls: list[list[int]] = []
        first_out = asyncio.Event()
        go_on = asyncio.Event()

        async def read_many(reads: LoopReads, values: list[int]) -> list[int]:
            calls.append(list(values))
            if values == [0]:
                first_out.set()
                await go_on.wait()
            return [int((await reads.first(one, {"value": value}) or (0,))[0]) for value in values]

        batches: ReadBatches[int, int] = ReadBatches(reads, read_many, running=1)

        async def run() -> list[int]:
            first = asyncio.ensure_future(batches.read(0))
            await first_out.wait()
            later = [asyncio.ensure_future(batches.read(value)) for value in (1, 2, 3)]
            await asyncio.sleep(0)
            go_on.set()
            return [await first, *[await each for each in later]]

        assert asyncio.run(run()) == [0, 1, 2, 3]
        assert calls == [[0], [1, 2, 3]]
    finally:
        engine.dispose()
