"""`billcycle collections show ACCOUNT` on the embedded SQLite database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from billcycle.accounts import service as accounts
from billcycle.cli.main import app
from billcycle.collections import daily
from billcycle.config import Settings
from billcycle.db.session import unit_of_work
from billcycle.runtime import build_runtime
from billcycle.tenancy.service import create_tenant
from tests.collections.helpers import enable_dunning
from tests.payments.helpers import posted_invoices

runner = CliRunner()


def test_show_an_accounts_standing_and_events(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    runtime = build_runtime(Settings(database_url=url))
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(session, runtime.clock, "ops")
    # An invoice of 2025, long overdue: one evaluation puts the account in poor standing
    # and, the grace period being over, suspends it.
    billed = posted_invoices(runtime, tenant.tenant_id, ["10"])
    enable_dunning(runtime, tenant.tenant_id)
    with runtime.service_context(tenant.tenant_id) as ctx:
        number = accounts.require_account(ctx, billed.account_id).account_number
        assert daily.run_day(ctx, ctx.clock.today()) is not None
    runtime.dispose()

    result = runner.invoke(
        app, ["collections", "show", number, "--tenant", "ops", "--database", url]
    )
    assert result.exit_code == 0, result.output
    assert f"Collections of {number}" in result.output
    assert "PoorStanding" in result.output
    assert "StandingChanged" in result.output
    assert "Good -> PoorStanding" in result.output
    assert "Suspended" in result.output
    assert "1, 3, 5" in result.output

    by_id = runner.invoke(
        app,
        ["collections", "show", str(billed.account_id), "--tenant", "ops", "--database", url],
    )
    assert by_id.exit_code == 0, by_id.output
    assert number in by_id.output

    unknown = runner.invoke(
        app, ["collections", "show", "A99999999", "--tenant", "ops", "--database", url]
    )
    assert unknown.exit_code == 1
    assert "A99999999" in unknown.output
