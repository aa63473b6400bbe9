"""`billcycle bill-run` from a terminal, on the embedded SQLite database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from billcycle.cli.main import app
from billcycle.config import Settings
from billcycle.db.session import unit_of_work
from billcycle.devtools.dataset import DatasetSpec, load
from billcycle.runtime import build_runtime
from billcycle.tenancy.service import create_tenant

runner = CliRunner()


def test_create_watch_list_cancel(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    runtime = build_runtime(Settings(database_url=url))
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(session, runtime.clock, "ops")
    with unit_of_work(runtime.session_factory) as session:
        load(session, tenant.tenant_id, DatasetSpec(accounts=40))
    runtime.dispose()

    result = runner.invoke(
        app,
        ["bill-run", "create", "--tenant", "ops", "--target-date", "2026-02-01", "--database", url],
    )
    assert result.exit_code == 0, result.output
    assert "BR-00000001" in result.output
    assert "Completed" in result.output
    assert "40/40" in result.output
    assert "2400.00" in result.output  # 40 accounts x (January + February) x 30.00

    listed = runner.invoke(
        app, ["bill-run", "list", "--tenant", str(tenant.tenant_id), "--database", url]
    )
    assert "BR-00000001" in listed.output

    canceled = runner.invoke(
        app, ["bill-run", "cancel", "BR-00000001", "--tenant", "ops", "--database", url]
    )
    assert canceled.exit_code == 0, canceled.output
    assert "Canceled" in canceled.output

    refused = runner.invoke(
        app, ["bill-run", "post", "BR-00000001", "--tenant", "ops", "--database", url]
    )
    assert refused.exit_code == 1
    assert "only a Completed bill run can be posted" in refused.output

    unknown = runner.invoke(
        app, ["bill-run", "show", "BR-00000099", "--tenant", "ops", "--database", url]
    )
    assert unknown.exit_code == 1
