"""`billcycle gateway list|create` from a terminal, on the embedded SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from billcycle.cli.main import app
from billcycle.config import Settings
from billcycle.db.session import unit_of_work
from billcycle.runtime import build_runtime
from billcycle.tenancy.service import create_tenant

runner = CliRunner()


def test_create_and_list_gateways(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    runtime = build_runtime(Settings(database_url=url))
    with unit_of_work(runtime.session_factory) as session:
        create_tenant(session, runtime.clock, "shop")
        create_tenant(session, runtime.clock, "other")
    runtime.dispose()
    base = ["--tenant", "shop", "--database", url]

    empty = runner.invoke(app, ["gateway", "list", *base])
    assert empty.exit_code == 0, empty.output
    assert "No gateway yet" in empty.output
    assert "Test" in empty.output  # the installed types

    first = runner.invoke(app, ["gateway", "create", "main", *base, "--json"])
    assert first.exit_code == 0, first.output
    created = json.loads(first.output)
    assert (created["name"], created["type"], created["isDefault"]) == ("main", "Test", True)
    assert len(created["id"]) == 32
    second = runner.invoke(
        app,
        ["gateway", "create", "slow", *base, "--setting", "latency_ms=100", "--default"],
    )
    assert second.exit_code == 0, second.output
    assert "(default)" in second.output

    listed = runner.invoke(app, ["gateway", "list", *base, "--json"])
    rows = json.loads(listed.output)
    assert [(r["name"], r["isDefault"]) for r in rows] == [("main", False), ("slow", True)]
    assert rows[1]["settings"]["latency_ms"] == 100
    table = runner.invoke(app, ["gateway", "list", *base])
    assert "main" in table.output
    assert "slow" in table.output
    assert "default" in table.output

    other = runner.invoke(
        app, ["gateway", "list", "--tenant", "other", "--database", url, "--json"]
    )
    assert json.loads(other.output) == []

    for args in (
        ["gateway", "create", "main", *base],  # the name is taken
        ["gateway", "create", "x", *base, "--type", "Nope"],
        ["gateway", "create", "y", *base, "--setting", "colour=blue"],
    ):
        refused = runner.invoke(app, args)
        assert refused.exit_code == 1, refused.output
        assert "Traceback" not in refused.output
    assert (
        runner.invoke(app, ["gateway", "list", "--tenant", "nobody", "--database", url]).exit_code
        == 2
    )
