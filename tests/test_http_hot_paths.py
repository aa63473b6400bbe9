"""The hot HTTP paths (polling a bill run, creating accounts) after their tuning: verified
tokens are remembered but expiry still refuses them, reads run without a transaction and
cannot write, a write runs as one unit of work, and the answers are the ones the ORM path
gave."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import event, func, select, update

from billcycle.accounts.models import Account, Contact
from billcycle.billruns import repository as bill_runs
from billcycle.billruns import service as bill_run_service
from billcycle.clock import FrozenClock
from billcycle.db import engine as engine_module
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory, read_only_unit
from billcycle.errors import NotAuthenticated
from billcycle.payments import charging
from billcycle.runtime import Runtime
from billcycle.tenancy import tokens
from billcycle.tenancy.service import NewTenant, create_tenant
from billcycle.tenancy.tokens import TokenSigner
from billcycle.web.units import Units
from billcycle.zuora.schemas.bill_runs import bill_run_body
from tests.billruns.helpers import BILL_RUNS, create_run, customers, get_run
from tests.support.api import Api
from tests.support.server import free_port

ACCOUNT = {
    "name": "Hot path",
    "currency": "USD",
    "billCycleDay": 1,
    "billToContact": {"firstName": "Ada", "lastName": "Lovelace", "workEmail": "a@b.co"},
}

# -- remembered tokens -----------------------------------------------------------------


NOW = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def test_a_remembered_token_is_refused_once_expired() -> None:
    signer = TokenSigner("k" * 40, 60)
    token = signer.issue(7, "client", NOW).token
    assert signer.verify(token, NOW).tenant_id == 7
    assert signer.verify(token, NOW + timedelta(seconds=59)).tenant_id == 7  # remembered
    with pytest.raises(NotAuthenticated, match="expired"):
        signer.verify(token, NOW + timedelta(seconds=60))
    with pytest.raises(NotAuthenticated, match="expired"):
        signer.verify(token, NOW + timedelta(seconds=61))


def test_a_bad_or_foreign_token_is_never_remembered() -> None:
    signer = TokenSigner("k" * 40, 60)
    good = signer.issue(7, "client", NOW).token
    signer.verify(good, NOW)
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    foreign = TokenSigner("other" * 8, 60).issue(7, "client", NOW).token
    for token in (tampered, foreign, "not-a-jwt"):
        for _ in range(2):
            with pytest.raises(NotAuthenticated, match="invalid"):
                signer.verify(token, NOW)
    assert list(signer._verified) == [good]


def test_the_token_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_CACHE_SIZE", 3)
    signer = TokenSigner("k" * 40, 60)
    issued = [signer.issue(tenant, "client", NOW).token for tenant in range(1, 6)]
    for token in issued:
        signer.verify(token, NOW)
    assert len(signer._verified) == 3
    assert [signer.verify(token, NOW).tenant_id for token in issued] == [1, 2, 3, 4, 5]


def test_expired_tokens_are_refused_on_the_hot_paths(
    app: Any, tenant: NewTenant, runtime: Runtime, machine_clock: FrozenClock
) -> None:
    from fastapi.testclient import TestClient

    signer: TokenSigner = app.state.token_signer
    now = machine_clock.now()
    token = TokenSigner(signer._key, 60).issue(tenant.tenant_id, tenant.client_id, now)
    headers = {"Authorization": f"Bearer {token.token}"}
    with TestClient(app) as client:
        assert client.post("/zuora/v1/accounts", json=ACCOUNT, headers=headers).status_code == 200
        assert client.get(f"{BILL_RUNS}/BR-00000077", headers=headers).status_code == 404
        machine_clock.advance(timedelta(seconds=61))
        for response in (
            client.post("/zuora/v1/accounts", json=ACCOUNT, headers=headers),
            client.get(f"{BILL_RUNS}/BR-00000077", headers=headers),
        ):
            assert response.status_code == 401
            assert "expired" in response.json()["reasons"][0]["message"]


def test_hot_paths_check_the_entity_header(api: Api) -> None:
    other = {**api.zuora_headers, "Zuora-Entity-Ids": f"{api.tenant.tenant_id + 1:032x}"}
    assert api.client.post("/zuora/v1/accounts", json=ACCOUNT, headers=other).status_code == 403
    assert api.client.get(f"{BILL_RUNS}/BR-00000001", headers=other).status_code == 403
    assert api.client.get(f"{BILL_RUNS}/BR-00000001").status_code == 401


# -- reading a bill run ------------------------------------------------------------------


def test_a_bill_run_reads_the_same_by_id_and_number_as_through_the_orm(
    api: Api, runtime: Runtime
) -> None:
    accounts = customers(api, runtime, 2)
    run = create_run(api)
    run_id = int(run["id"], 16)
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        bill_runs.add_totals(ctx.session, run_id, {"USD": 12345, "EUR": 500, "JPY": 7})
        first = {account_id: f"failure of {account_id}" for account_id, _ in accounts}
        bill_runs.add_failures(ctx.session, ctx.tenant_id, run_id, first, ctx.clock.now())
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        later = {10_000 + n: f'later failure {n} ✓ "quoted"' for n in range(1, 24)}
        bill_runs.add_failures(ctx.session, ctx.tenant_id, run_id, later, ctx.clock.now())
    by_id = get_run(api, run["id"])
    assert get_run(api, run["billRunNumber"]) == by_id
    assert [t["currency"] for t in by_id["totalAmounts"]] == ["EUR", "JPY", "USD"]
    assert by_id["totalAmounts"][2] == {"currency": "USD", "amount": 123.45}
    assert by_id["totalAmounts"][1] == {"currency": "JPY", "amount": 7.0}
    assert len(by_id["accountFailures"]) == bill_run_service.FAILURES_SHOWN
    # The first failures recorded, oldest first.
    assert [f["accountId"] for f in by_id["accountFailures"][:2]] == [
        f"{account_id:032x}" for account_id, _ in accounts
    ]
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        orm_run = bill_run_service.find_bill_run(ctx, int(run["id"], 16))
        extra = bill_run_service.progress(ctx, orm_run)
        expected = {
            **bill_run_body(orm_run, extra["totals"], extra["failures"]),
            "success": True,
        }
    assert by_id == expected


def test_a_bill_run_without_progress_shows_empty_lists(api: Api) -> None:
    run = create_run(api)
    body = get_run(api, run["id"])
    assert body["totalAmounts"] == []
    assert body["accountFailures"] == []


def test_another_tenants_bill_run_is_not_found(api: Api, app: Any, runtime: Runtime) -> None:
    run = create_run(api)
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        other = create_tenant(ctx.session, ctx.clock, "other tenant")
    signer: TokenSigner = app.state.token_signer
    token = signer.issue(other.tenant_id, other.client_id, runtime.clock.now()).token
    headers = {"Authorization": f"Bearer {token}"}
    for key in (run["id"], run["billRunNumber"]):
        response = api.client.get(f"{BILL_RUNS}/{key}", headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["reasons"][0]["code"] == 53100340


def test_a_read_only_unit_refuses_to_write(runtime: Runtime, tenant: NewTenant) -> None:
    units = Units(runtime, tenant.tenant_id)

    def sneak(ctx: Any) -> None:
        ctx.session.add(Account(tenant_id=ctx.tenant_id))

    with pytest.raises(RuntimeError, match="read-only"):
        units.read(sneak)
    with read_only_unit(runtime.session_factory) as session:
        assert session.scalar(select(func.count()).select_from(Account)) is not None


# -- creating accounts -------------------------------------------------------------------


def _statements(runtime: Runtime) -> tuple[list[str], Any]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
            seen.append(statement.split(None, 1)[0].upper())

    event.listen(runtime.engine, "before_cursor_execute", record)
    return seen, record


def test_creating_an_account_takes_one_statement_on_postgresql(api: Api, runtime: Runtime) -> None:
    # The first request of a tenant reads its rate limits (then cached for 30 s), and the
    # first unit of work that asks for the tenant's time reads its zone and whether it is
    # a sandbox (tenancy/clocks.py, then cached for 5 minutes): a first account warms both.
    first = api.client.post("/zuora/v1/accounts", json=ACCOUNT, headers=api.zuora_headers)
    assert first.status_code == 200, first.text
    seen, record = _statements(runtime)
    try:
        response = api.client.post("/zuora/v1/accounts", json=ACCOUNT, headers=api.zuora_headers)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)
    assert response.status_code == 200, response.text
    if runtime.engine.dialect.name == "postgresql":
        # The whole unit in ONE statement, in autocommit (no BEGIN or COMMIT): the account
        # with its contacts, its account.created event (the outbox) and the request's
        # audit event, written only while the token's client holds its generation (the
        # number from the block the server process reserved for the first account,
        # accounts.numbers).
        assert seen == ["WITH"]
    else:
        # The token's client generation, the number, the account, each contact, the
        # account's contact ids, its account.created event; then the audit event, in the
        # same unit of work (one commit).
        assert seen == [
            "SELECT",
            "UPDATE",
            "INSERT",
            "INSERT",
            "INSERT",
            "UPDATE",
            "INSERT",
            "INSERT",
        ]
    body = response.json()
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        account = ctx.session.get(Account, int(body["accountId"], 16))
        assert account is not None
        assert account.bill_to_contact_id == int(body["billToContactId"], 16)
        assert account.sold_to_contact_id == int(body["soldToContactId"], 16)
        assert account.bill_to_contact_id != account.sold_to_contact_id
        sold_to = ctx.session.get(Contact, account.sold_to_contact_id)
        assert sold_to is not None
        assert sold_to.last_name == "Lovelace"


def test_generated_numbers_skip_numbers_already_taken(api: Api, runtime: Runtime) -> None:
    first = api.client.post("/zuora/v1/accounts", json=ACCOUNT, headers=api.zuora_headers)
    number = first.json()["accountNumber"]
    following = f"A{int(number[1:]) + 1:08d}"
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        # An account imported before the reserved-prefix rule holds the next number.
        taken = ctx.session.get(Account, int(first.json()["accountId"], 16))
        assert taken is not None
        ctx.session.add(
            Account(
                tenant_id=ctx.tenant_id,
                account_number=following,
                name="imported",
                currency="USD",
                bill_cycle_day=1,
                payment_term="Net 30",
                status="Active",
                created_at=taken.created_at,
                updated_at=taken.created_at,
            )
        )
    second = api.client.post("/zuora/v1/accounts", json=ACCOUNT, headers=api.zuora_headers)
    assert second.status_code == 200, second.text
    assert second.json()["accountNumber"] == f"A{int(number[1:]) + 2:08d}"


def test_a_failed_write_unit_changes_nothing(runtime: Runtime, tenant: NewTenant) -> None:
    import anyio

    from tests.accounts.factories import new_account

    def create_then_fail(ctx: Any) -> None:
        new_account(ctx)
        raise ValueError("boom")

    def create(ctx: Any) -> int:
        return new_account(ctx).id

    units = Units(runtime, tenant.tenant_id)
    with pytest.raises(ValueError, match="boom"):
        anyio.run(units.write, create_then_fail)
    created = anyio.run(units.write, create)
    with runtime.service_context(tenant.tenant_id) as ctx:
        ids = ctx.session.scalars(select(Account.id).where(Account.tenant_id == ctx.tenant_id))
        assert list(ids) == [created]


# -- several server processes on one database ---------------------------------------------


def test_two_server_processes_create_accounts_without_errors(
    database_url: str, tenant: NewTenant, tmp_path: Path
) -> None:
    """Writers in two processes serialise on SQLite's file lock (or PostgreSQL's rows):
    every request succeeds, none answers 'database is locked'."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    env = {"BILLCYCLE_DATABASE_URL": database_url, "BILLCYCLE_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "billcycle.cli.main", "serve", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*command, "--workers", "2"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_up(base, server, log)
        token = httpx.post(
            f"{base}/zuora/oauth/token",
            data={
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
                "grant_type": "client_credentials",
            },
        ).json()["access_token"]
        statuses: list[int] = []
        lock = threading.Lock()

        def writer() -> None:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, timeout=60, headers=headers) as client:
                for _ in range(6):
                    status = client.post("/zuora/v1/accounts", json=ACCOUNT).status_code
                    with lock:
                        statuses.append(status)

        threads = [threading.Thread(target=writer) for _ in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert statuses == [200] * 144, log.read_text(errors="replace")[-3000:]
    assert "locked" not in log.read_text(errors="replace")


def _wait_until_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text(errors="replace")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not start")


# -- pooled connections -------------------------------------------------------------------


def test_an_idle_connection_that_died_is_replaced(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections are pinged only after sitting idle; one that died meanwhile is replaced
    before any request sees it."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite connections are files, not sessions that can die")
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    other = make_engine(database_url)
    try:
        with engine.connect() as connection:
            pid = connection.exec_driver_sql("select pg_backend_pid()").scalar()
        with other.connect() as killer:
            killer.exec_driver_sql(f"select pg_terminate_backend({int(pid)})")
        with engine.connect() as connection:
            assert connection.exec_driver_sql("select pg_backend_pid()").scalar() != pid
    finally:
        engine.dispose()
        other.dispose()


def test_a_connection_lost_before_the_commit_is_not_pooled_again(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """When the server is gone by a write's commit, the write fails, nothing is stored,
    and the next writes get live connections."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite connections are files, not sessions that can die")
    import psycopg
    from sqlalchemy.exc import DBAPIError

    from tests.accounts.factories import new_account

    # Two connections: the unit's, and the one its account-number block is reserved on.
    engine = make_engine(runtime.settings.database_url, pool_size=2, max_overflow=0)
    killer = make_engine(runtime.settings.database_url)
    own = Runtime(
        settings=runtime.settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=runtime.clock,
        machine_clock=runtime.machine_clock,
    )
    recorded: list[str] = []

    def audit(session: Any, result: object) -> None:
        recorded.append(str(result))

    def lost(ctx: Any) -> str:
        account = new_account(ctx, name="lost")
        pid = ctx.session.connection().exec_driver_sql("select pg_backend_pid()").scalar()
        with killer.connect() as connection:
            connection.exec_driver_sql(f"select pg_terminate_backend({int(pid)})")
        return account.account_number

    def kept(ctx: Any) -> str:
        return new_account(ctx, name="kept").account_number

    try:
        # This process's block of account numbers, reserved: the writes below use one
        # connection each, and together use both.
        with own.service_context(tenant.tenant_id) as ctx:
            new_account(ctx, name="first")
        with pytest.raises((psycopg.OperationalError, DBAPIError)):
            anyio.run(Units(own, tenant.tenant_id, audit=audit).write, lost)
        for _ in range(3):
            assert anyio.run(Units(own, tenant.tenant_id, audit=audit).write, kept)
        with read_only_unit(runtime.session_factory) as session:
            names = session.scalars(
                select(Account.name).where(Account.tenant_id == tenant.tenant_id)
            ).all()
        assert sorted(names) == ["first", "kept", "kept", "kept"]
    finally:
        engine.dispose()
        killer.dispose()


def _turn_held_elsewhere(database: str) -> bool:
    """Whether a request writer's turn on ``database`` is taken, seen through another open
    file description of the lock file, as another process has one."""
    fd = os.open(f"{os.path.abspath(database)}-writers.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_request_writers_on_sqlite_take_turns_through_a_file_lock(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """Another process's request writer finds the file locked from a unit of work's first
    write until the unit ended (it waits in the kernel instead of SQLite's busy handler);
    the unit's reads before that run while another process writes."""
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks rows: writers take no file lock")
    database = runtime.engine.url.database
    assert database is not None
    units = Units(runtime, tenant.tenant_id)
    seen: list[bool] = []

    def held_elsewhere() -> bool:
        return _turn_held_elsewhere(database)

    def work(ctx: Any) -> None:
        ctx.session.execute(select(func.count()).select_from(Account))
        seen.append(held_elsewhere())  # only read so far
        ctx.session.execute(
            update(Account).where(Account.tenant_id == -1).values(name="never matched")
        )
        seen.append(held_elsewhere())  # written: the turn is this unit's

    anyio.run(units.write, work)
    assert seen == [False, True]
    assert not held_elsewhere()


def test_a_unit_that_takes_sqlites_write_lock_first_takes_its_turn_before_it(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """A unit that opens its write transaction itself (BEGIN IMMEDIATE, as the services
    that read balances before writing do) takes the turn first: a writer holding SQLite's
    lock while it waited for another process's turn would make that one wait out the busy
    timeout and fail."""
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks rows: writers take no file lock")
    database = runtime.engine.url.database
    assert database is not None
    units = Units(runtime, tenant.tenant_id)
    seen: list[bool] = []

    def held_elsewhere() -> bool:
        return _turn_held_elsewhere(database)

    def work(ctx: Any) -> None:
        seen.append(held_elsewhere())
        charging.hold_write_lock(ctx)
        seen.append(held_elsewhere())

    anyio.run(units.write, work)
    assert seen == [False, True]
    assert not held_elsewhere()
