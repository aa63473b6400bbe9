"""`billcycle bill-run` from a terminal, on the embedded SQLite database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from billcycle.billruns.models import BillRun
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


def test_create_builds_the_spec_and_refuses_bad_options_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    runtime = build_runtime(Settings(database_url=url))
    with unit_of_work(runtime.session_factory) as session:
        create_tenant(session, runtime.clock, "ops")
    runtime.dispose()
    base = ["bill-run", "create", "--tenant", "ops", "--database", url, "--no-wait"]

    for options, message in (
        (["--target-date", "2026-13-01"], "--target-date: '2026-13-01' is not a date"),
        (["--target-date", "2026-02-01", "--batch", "Batch51"], "--batch: 'Batch51'"),
        (["--target-date", "2026-02-01", "--bill-cycle-day", "32"], "--bill-cycle-day: '32'"),
        (["--target-date", "2099-02-01"], "the target date 2099-02-01 is more than 10 years"),
    ):
        refused = runner.invoke(app, [*base, *options])
        assert refused.exit_code == 1, refused.output
        assert message in refused.output
        assert "Traceback" not in refused.output

    created = runner.invoke(
        app,
        [
            *base,
            "--target-date",
            "2026-02-01",
            "--batch",
            "Batch2",
            "--batch",
            "7",
            "--bill-cycle-day",
            "15",
            "--name",
            "  batches  ",
        ],
    )
    assert created.exit_code == 0, created.output
    runtime = build_runtime(Settings(database_url=url))
    with unit_of_work(runtime.session_factory) as session:
        run = session.scalars(select(BillRun)).one()
        assert (run.name, run.batches, run.bill_cycle_day) == ("batches", [2, 7], "15")
        run_id = run.id
    runtime.dispose()
    shown = runner.invoke(
        app, ["bill-run", "show", f"{run_id:032x}", "--tenant", "ops", "--database", url]
    )
    assert shown.exit_code == 0, shown.output
    assert "BR-00000001" in shown.output
