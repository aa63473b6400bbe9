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
