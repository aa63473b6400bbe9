"""The command line, run as a user runs it."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from typer.testing import CliRunner

from billcycle.cli.main import app
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.tenancy import service
from tests.support.server import free_port

runner = CliRunner()


def test_db_upgrade_and_tenant_create(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = runner.invoke(app, ["db", "upgrade", "--database", url])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["db", "check", "--database", url])
    assert result.exit_code == 0, result.output

    result = runner.invoke(
        app, ["tenant", "create", "Acme", "--json", "--bulk-jobs", "--database", url]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert set(created) == {"entityId", "clientId", "clientSecret", "apiKey"}
    assert re.fullmatch(r"[0-9a-f]{32}", created["entityId"])
    uuid.UUID(created["clientId"])
    assert len(created["clientId"]) == 36
    assert len(created["clientSecret"]) <= 42

    engine = make_engine(url)
    with unit_of_work(make_session_factory(engine)) as session:
        client = service.authenticate_client(session, created["clientId"], created["clientSecret"])
        tenant_id = service.authenticate_api_key(session, created["apiKey"])
        assert client.tenant_id == tenant_id
        assert int(created["entityId"], 16) == tenant_id
        from billcycle.tenancy.repository import get_tenant

        tenant = get_tenant(session, tenant_id)
        assert tenant is not None
        assert tenant.bulk_jobs_enabled is True
        assert tenant.bulk_job_record_limit == 1000
    engine.dispose()


def test_secrets_are_not_stored_in_clear(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner.invoke(app, ["db", "upgrade", "--database", url])
    created = json.loads(
        runner.invoke(app, ["tenant", "create", "Acme", "--json", "--database", url]).output
    )
    raw = (tmp_path / "cli.db").read_bytes()
    for wal in tmp_path.glob("cli.db-wal"):
        raw += wal.read_bytes()
    assert created["clientSecret"].encode() not in raw
    assert created["apiKey"].split("_", 2)[2].encode() not in raw


# -- expected failures: one line on stderr, a non-zero exit, no traceback -----------------


def _fails_with_one_line(args: list[str], exit_code: int, contains: str) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == exit_code, result.output
    # typer.Exit is how a handled failure ends; any other exception would be a bug.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert contains in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def test_an_unreachable_postgresql_is_one_line() -> None:
    url = f"postgresql://billcycle:secret@127.0.0.1:{free_port()}/billcycle"
    line = _fails_with_one_line(
        ["tenant", "create", "Acme", "--json", "--database", url], 1, "cannot open the database"
    )
    assert "Connection refused" in line
    assert "secret" not in line  # the password is masked


def test_a_sqlite_file_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no such directory' / 'x.db'}"
    _fails_with_one_line(["tenant", "create", "Acme", "--database", url], 1, "unable to open")


def test_a_bad_database_url_is_one_line() -> None:
    _fails_with_one_line(["db", "upgrade", "--database", "nosuchdb://x"], 1, "bad database URL")


def test_the_first_command_on_an_empty_database(empty_database_url: str) -> None:
    """SQLite (embedded, a file of the user's own) is migrated on the way; a PostgreSQL
    database is shared and changed on purpose: the command says what to run instead."""
    args = ["tenant", "create", "Acme", "--json", "--database", empty_database_url]
    if empty_database_url.startswith("sqlite"):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "created the schema of" in result.stderr
        assert set(json.loads(result.stdout)) == {"entityId", "clientId", "clientSecret", "apiKey"}
    else:
        _fails_with_one_line(args, 1, "has no billcycle schema: run `billcycle db upgrade`")
        result = runner.invoke(app, ["db", "upgrade", "--database", empty_database_url])
        assert result.exit_code == 0, result.output
        assert runner.invoke(app, args).exit_code == 0


def test_an_unknown_tenant_and_a_bad_date_are_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert runner.invoke(app, ["tenant", "create", "acme", "--database", url]).exit_code == 0
    _fails_with_one_line(["bill-run", "list", "--tenant", "nobody", "--database", url], 2, "nobody")
    create = ["bill-run", "create", "--tenant", "acme", "--target-date", "2026-13-45"]
    _fails_with_one_line([*create, "--no-wait", "--database", url], 1, "2026-13-45")
    _fails_with_one_line(
        ["bill-run", "show", "BR-00000042", "--tenant", "acme", "--database", url], 1, "not found"
    )
