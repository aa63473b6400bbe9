"""Group commit: on SQLite the writes waiting in one server process at the same moment
run in one transaction, each but the first in a savepoint of its own
(``billcycle.web.units.run_group``). Each write stays atomic with its audit row and its
event, a failed write rolls back only itself, and no answer is sent before the commit."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select

from billcycle.accounts.models import Account
from billcycle.audit.models import AuditEvent
from billcycle.events.models import Event
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from billcycle.web import units as units_module
from billcycle.web.units import Units, write_limiter
from tests.accounts.factories import new_account
from tests.support.api import Api


def _account(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "currency": "USD",
        "billCycleDay": 1,
        "billToContact": {"firstName": "Ada", "lastName": "Lovelace"},
        **extra,
    }


def _grouping(runtime: Runtime) -> bool:
    return runtime.engine.dialect.name == "sqlite"


def _commits(runtime: Runtime) -> tuple[list[int], Any]:
    seen: list[int] = []

    def record(*_args: object) -> None:
        seen.append(1)

    event.listen(runtime.engine, "commit", record)
    return seen, record


async def _queued(runtime: Runtime, count: int) -> None:
    """Until ``count`` writes wait in this process's group queue (each request reaches
    ``Units.write`` after a few awaits of its own)."""
    for _ in range(10_000):
        if len(units_module._group(runtime.engine).pending) >= count:
            return
        await anyio.sleep(0.001)
    raise AssertionError(f"{count} writes never queued")


def test_a_group_commits_once_and_a_failed_write_rolls_back_only_itself(
    app: FastAPI, api: Api, runtime: Runtime
) -> None:
    """Six POSTs queued while the process's writer is busy: the first and the fourth are
    refused after they wrote (autopay without a payment method: the account, contacts
    and event were already written), the others commit together in one transaction,
    each with its audit row (status 200) and ``account.created`` event; the refused
    ones leave no account and no event, and their audit rows say 400."""
    if not _grouping(runtime):
        pytest.skip("PostgreSQL runs its writes in parallel: they are not grouped")
    bodies = [
        _account("refused first", autoPay=True),
        _account("kept 1"),
        _account("kept 2"),
        _account("refused in the group", autoPay=True),
        _account("kept 3"),
        _account("kept 4"),
    ]
    answers: dict[int, httpx.Response] = {}
    seen, record = _commits(runtime)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def post(index: int) -> None:
                answers[index] = await client.post(
                    "/zuora/v1/accounts", json=bodies[index], headers=api.zuora_headers
                )

            # The process's writer is busy (released first, then the requests awaited):
            # the POSTs queue, in this order.
            async with anyio.create_task_group() as tasks, write_limiter("sqlite"):
                for index in range(len(bodies)):
                    tasks.start_soon(post, index)
                    await _queued(runtime, index + 1)

    try:
        anyio.run(scenario)
    finally:
        event.remove(runtime.engine, "commit", record)
    assert [answers[i].status_code for i in range(len(bodies))] == [400, 200, 200, 400, 200, 200]
    assert "Auto-Pay" in answers[3].text
    # One transaction for the group (and one each for the two refused requests' audit
    # rows, written after their answers).
    assert len(seen) == 3
    created = {answers[i].json()["accountNumber"]: i for i in (1, 2, 4, 5)}
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        session = ctx.session
        accounts = session.execute(
            select(Account.account_number, Account.name, Account.id).where(
                Account.tenant_id == ctx.tenant_id
            )
        ).all()
        assert {(number, name) for number, name, _ in accounts} == {
            (number, bodies[i]["name"]) for number, i in created.items()
        }
        events = session.scalars(
            select(Event.object_id).where(
                Event.tenant_id == ctx.tenant_id, Event.type == "account.created"
            )
        ).all()
        assert sorted(events) == sorted(account_id for _, _, account_id in accounts)
        audit = session.execute(
            select(AuditEvent.outcome, AuditEvent.object_ids).where(
                AuditEvent.tenant_id == ctx.tenant_id,
                AuditEvent.action == "POST /zuora/v1/accounts",
            )
        ).all()
    assert sorted(outcome for outcome, _ in audit) == ["200"] * 4 + ["400"] * 2
    recorded = {ids[0] for outcome, ids in audit if outcome == "200"}
    assert recorded == {answers[i].json()["accountId"] for i in (1, 2, 4, 5)}


def test_writes_grouped_or_not_each_answer_their_own_result(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """Units.write from many tasks at once: each gets its own result or its own error,
    and exactly the successful writes are stored (on SQLite in groups, on PostgreSQL
    each in its own transaction)."""
    units = Units(runtime, tenant.tenant_id)
    results: dict[int, object] = {}

    def create(index: int) -> Any:
        def work(ctx: Any) -> int:
            account = new_account(ctx, name=f"write {index}")
            if index % 3 == 1:
                raise ValueError(f"refused {index}")
            return account.id

        return work

    async def one(index: int) -> None:
        try:
            results[index] = await units.write(create(index))
        except ValueError as exc:
            results[index] = str(exc)

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            for index in range(12):
                tasks.start_soon(one, index)

    anyio.run(scenario)
    refused = {i for i in range(12) if i % 3 == 1}
    assert {i: results[i] for i in refused} == {i: f"refused {i}" for i in refused}
    with runtime.service_context(tenant.tenant_id) as ctx:
        stored = dict(
            ctx.session.execute(
                select(Account.id, Account.name).where(Account.tenant_id == ctx.tenant_id)
            ).all()
        )
        count = ctx.session.scalar(
            select(func.count()).select_from(Account).where(Account.tenant_id == ctx.tenant_id)
        )
    assert count == 12 - len(refused)
    assert stored == {results[i]: f"write {i}" for i in range(12) if i not in refused}


def test_a_group_limit_of_one_commits_each_write_on_its_own(
    app: FastAPI, api: Api, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``write_group_limit = 1``: queued writes still run one at a time, each its own
    transaction (the behaviour before group commit)."""
    if not _grouping(runtime):
        pytest.skip("PostgreSQL runs its writes in parallel: they are not grouped")
    monkeypatch.setattr(
        runtime, "settings", runtime.settings.model_copy(update={"write_group_limit": 1})
    )
    statuses: list[int] = []
    seen, record = _commits(runtime)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def post(index: int) -> None:
                answer = await client.post(
                    "/zuora/v1/accounts", json=_account(f"one {index}"), headers=api.zuora_headers
                )
                statuses.append(answer.status_code)

            async with anyio.create_task_group() as tasks, write_limiter("sqlite"):
                for index in range(3):
                    tasks.start_soon(post, index)
                    await _queued(runtime, index + 1)

    try:
        anyio.run(scenario)
    finally:
        event.remove(runtime.engine, "commit", record)
    assert statuses == [200, 200, 200]
    assert len(seen) == 3
