"""``billcycle db backup`` / ``db restore``: a live SQLite database backed up again and
again while ``billcycle serve`` runs a bill run; every backup restores to a consistent
state (each invoice's items sum to its amount, the run's counters match its rows). On
PostgreSQL, pg_dump and pg_restore round-trip the same checks."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from billcycle.billruns import tasks
from billcycle.clock import SystemClock
from billcycle.config import Settings
from billcycle.db import backup as backups_module
from billcycle.db import migrate
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.devtools.dataset import DatasetSpec, load
from billcycle.jobs.chunks import ChunkRange
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from tests.ops.helpers import billcycle, serving, token
from tests.support.databases import empty_postgres_database

ACCOUNTS = 8000
CHUNK = 100

CONSISTENCY = {
    # Invoices whose items do not add up to their amount.
    "unbalanced invoices": """
        SELECT count(*) FROM invoices i
        WHERE i.amount_minor != (SELECT COALESCE(sum(it.amount_minor), 0)
                                 FROM invoice_items it WHERE it.invoice_id = i.id)""",
    # Runs whose counters disagree with the rows they wrote.
    "runs with wrong invoice counts": """
        SELECT count(*) FROM bill_runs r
        WHERE r.invoices_created != (SELECT count(*) FROM invoices i WHERE i.bill_run_id = r.id)""",
    "runs with wrong item counts": """
        SELECT count(*) FROM bill_runs r
        WHERE r.items_created != (SELECT count(*) FROM invoice_items it
                                  JOIN invoices i ON i.id = it.invoice_id
                                  WHERE i.bill_run_id = r.id)""",
    "runs with wrong chunk counts": """
        SELECT count(*) FROM bill_runs r
        WHERE r.chunks_done != (SELECT count(*) FROM work_chunks c
                                WHERE c.kind = 'bill_run' AND c.parent_id = r.id
                                  AND c.status = 'done')""",
    "runs with wrong account counts": """
        SELECT count(*) FROM bill_runs r
        WHERE r.accounts_processed != (SELECT COALESCE(sum(c.size), 0) FROM work_chunks c
                                       WHERE c.kind = 'bill_run' AND c.parent_id = r.id
                                         AND c.status = 'done')""",
}


def inconsistencies(execute: Any) -> dict[str, int]:
    found = {name: int(execute(sql)) for name, sql in CONSISTENCY.items()}
    return {name: count for name, count in found.items() if count}


def run_state(execute: Any) -> tuple[str, int, int, int]:
    row = execute(
        "SELECT status, chunks_done, chunks_total, invoices_created FROM bill_runs "
        "ORDER BY id DESC LIMIT 1",
        one_row=True,
    )
    return str(row[0]), int(row[1]), int(row[2]), int(row[3])


def sqlite_executor(path: Path) -> Any:
    connection = sqlite3.connect(path)

    def execute(sql: str, one_row: bool = False) -> Any:
        row = connection.execute(sql).fetchone()
        return row if one_row else row[0]

    return execute, connection


def prepare(url: str) -> NewTenant:
    migrate.upgrade(url)
    engine = make_engine(url)
    runtime = Runtime(
        settings=Settings(database_url=url),
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=SystemClock(),
    )
    try:
        with unit_of_work(runtime.session_factory) as session:
            tenant = create_tenant(session, runtime.clock, "backup")
        with unit_of_work(runtime.session_factory) as session:
            load(session, tenant.tenant_id, DatasetSpec(accounts=ACCOUNTS))
        return tenant
    finally:
        runtime.dispose()


@pytest.mark.slow
def test_backups_of_a_live_sqlite_database_during_a_bill_run_restore_consistent(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("SQLite's online backup; PostgreSQL has its own test below")
    url = f"sqlite:///{tmp_path / 'live.db'}"
    tenant = prepare(url)
    backups: list[Path] = []
    with serving(url, tmp_path / "server.log", BILLCYCLE_BILL_RUN_CHUNK_SIZE=str(CHUNK)) as (
        base,
        _server,
    ):
        access = token(base, tenant.client_id, tenant.client_secret)
        headers = {"Authorization": f"Bearer {access}"}
        response = httpx.post(
            f"{base}/zuora/v1/bill-runs",
            json={"batches": ["AllBatches"], "targetDate": "2026-02-01"},
            headers=headers,
            timeout=60,
        )
        assert response.status_code == 200, response.text
        run_id = response.json()["id"]
        deadline = time.monotonic() + 300
        while True:
            # The server keeps writing meanwhile (another process, WAL).
            backups.append(backups_module.backup(url, tmp_path / f"backup-{len(backups)}.db").path)
            status = httpx.get(
                f"{base}/zuora/v1/bill-runs/{run_id}", headers=headers, timeout=60
            ).json()["status"]
            if status != "Processing" and status != "Pending":
                break
            assert time.monotonic() < deadline, "the bill run did not finish"
    assert status == "Completed"
    final = tmp_path / "final.db"
    assert billcycle("db", "backup", str(final), "--database", url).returncode == 0
    backups.append(final)

    states = []
    for number, backup in enumerate(backups):
        restored = tmp_path / f"restored-{number}.db"
        if backup == final:  # the command line once, the same code for the others
            result = billcycle("db", "restore", str(backup), "--database", f"sqlite:///{restored}")
            assert result.returncode == 0, result.stderr
        else:
            backups_module.restore(backup, f"sqlite:///{restored}")
        execute, connection = sqlite_executor(restored)
        try:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert inconsistencies(execute) == {}, backup
            states.append(run_state(execute))
        finally:
            connection.close()
    # Backups were taken while the run was going (how far it had got depends on the
    # machine's speed: each one, half-way or not, restored consistent above), and the
    # last one has all of it.
    assert any(status in ("Pending", "Processing") for status, *_ in states), states
    # (A big run's chunks are merged up to billruns.tasks.MAX_CHUNKS: count them as planned.)
    planned = len(tasks.merged_ranges([ChunkRange(0, 0, CHUNK)] * (ACCOUNTS // CHUNK)))
    assert states[-1] == ("Completed", planned, planned, ACCOUNTS)
    # The restored database serves: it migrates and answers through the API.
    restored = tmp_path / f"restored-{len(backups) - 1}.db"
    check = billcycle("db", "check", "--database", f"sqlite:///{restored}")
    assert check.returncode == 0, check.stderr


def test_restore_refuses_to_overwrite_without_force_and_bad_files(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate.upgrade(url)
    backup = tmp_path / "copy.db"
    assert billcycle("db", "backup", str(backup), "--database", url).returncode == 0
    refused = billcycle("db", "restore", str(backup), "--database", url)
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    forced = billcycle("db", "restore", str(backup), "--database", url, "--force")
    assert forced.returncode == 0, forced.stderr
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    bad = billcycle("db", "restore", str(junk), "--database", f"sqlite:///{tmp_path / 'new.db'}")
    assert bad.returncode == 1
    assert "not a SQLite database" in bad.stderr
    missing = billcycle(
        "db", "backup", str(tmp_path / "x.db"), "--database", f"sqlite:///{tmp_path / 'none.db'}"
    )
    assert missing.returncode == 1
    assert "no SQLite database" in missing.stderr


@pytest.mark.slow
def test_postgresql_backup_and_restore_with_pg_dump(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("pg_dump and pg_restore are PostgreSQL's")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("the PostgreSQL client tools are not installed")
    with empty_postgres_database() as source_url, empty_postgres_database() as target_url:
        prepare(source_url)
        dump = tmp_path / "billcycle.dump"
        # Without pg_dump on the PATH: the recipe, exit status 2, nothing written.
        recipe = billcycle("db", "backup", str(dump), "--database", source_url, env={"PATH": ""})
        assert recipe.returncode == 2, recipe.stderr
        assert "pg_dump --format=custom" in recipe.stderr
        assert "pg_restore --clean" in recipe.stderr
        assert not dump.exists()
        result = billcycle("db", "backup", str(dump), "--database", source_url)
        assert result.returncode == 0, result.stderr
        restored = billcycle("db", "restore", str(dump), "--database", target_url)
        assert restored.returncode == 0, restored.stderr
        again = billcycle("db", "restore", str(dump), "--database", target_url)
        assert again.returncode == 1
        assert "--force" in again.stderr
        engines = [make_engine(source_url), make_engine(target_url)]
        try:
            counts = []
            for engine in engines:
                with engine.connect() as conn:

                    def execute(sql: str, one_row: bool = False, conn: Any = conn) -> Any:
                        row = conn.execute(text(sql)).first()
                        return row if one_row else row[0]

                    assert inconsistencies(execute) == {}
                    counts.append(
                        tuple(
                            conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                            for table in ("accounts", "subscriptions", "tenants", "alembic_version")
                        )
                    )
            assert counts[0] == counts[1]
            assert counts[1][0] == ACCOUNTS
        finally:
            for engine in engines:
                engine.dispose()
