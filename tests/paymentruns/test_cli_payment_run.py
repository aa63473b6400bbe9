"""`billcycle payment-run` from a terminal, on the embedded SQLite database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from billcycle.cli.main import app
from billcycle.config import Settings
from billcycle.db.session import unit_of_work
from billcycle.runtime import build_runtime
from billcycle.tenancy.service import create_tenant
from tests.paymentruns.helpers import balance, customer, default_gateway

runner = CliRunner()


def test_create_watch_show_list_cancel(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    runtime = build_runtime(Settings(database_url=url))
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(session, runtime.clock, "ops")
    default_gateway(runtime, tenant.tenant_id)
    paid = customer(runtime, tenant.tenant_id, ["10.00", "20.00"])
    declined = customer(runtime, tenant.tenant_id, ["5.00"], "tok_chargeDeclined")
    today = runtime.clock.today().isoformat()

    result = runner.invoke(
        app,
        ["payment-run", "create", "--tenant", "ops", "--target-date", today, "--database", url],
    )
    assert result.exit_code == 0, result.output
    assert "PR-00000001" in result.output
    assert "Completed" in result.output
    assert "3/3" in result.output
    assert "30.00 of 35.00" in result.output
    assert [balance(runtime, tenant.tenant_id, i) for i in paid.invoice_ids] == [0, 0]
    assert balance(runtime, tenant.tenant_id, declined.invoice_ids[0]) == 500

    scheduled = runner.invoke(
        app,
        [
            "payment-run",
            "create",
            "--tenant",
            "ops",
            "--run-date",
            "2099-01-01 10:00:00",
            "--database",
            url,
        ],
    )
    assert scheduled.exit_code == 0, scheduled.output
    assert "Pending" in scheduled.output

    listed = runner.invoke(app, ["payment-run", "list", "--tenant", "ops", "--database", url])
    assert "PR-00000001" in listed.output
    assert "PR-00000002" in listed.output

    canceled = runner.invoke(
        app, ["payment-run", "cancel", "PR-00000002", "--tenant", "ops", "--database", url]
    )
    assert canceled.exit_code == 0, canceled.output
    assert "Canceled" in canceled.output
    refused = runner.invoke(
        app, ["payment-run", "cancel", "PR-00000001", "--tenant", "ops", "--database", url]
    )
    assert refused.exit_code == 1
    assert "only a Pending payment run can be" in refused.output

    shown = runner.invoke(
        app, ["payment-run", "show", "PR-00000001", "--tenant", "ops", "--database", url]
    )
    assert shown.exit_code == 0, shown.output
    assert "errors" in shown.output
    unknown = runner.invoke(
        app, ["payment-run", "show", "PR-00000099", "--tenant", "ops", "--database", url]
    )
    assert unknown.exit_code == 1
    runtime.dispose()
