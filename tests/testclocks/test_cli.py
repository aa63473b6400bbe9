"""`billcycle tenant create --sandbox` and `billcycle clock show|advance|set` on the
embedded SQLite database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from billcycle.cli.main import app

runner = CliRunner()


def test_create_a_sandbox_show_advance_and_set_its_clock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clocks.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database", url]).exit_code == 0
    made = runner.invoke(app, ["tenant", "create", "play", "--sandbox", "--database", url])
    assert made.exit_code == 0, made.output
    assert "Sandbox tenant play" in made.output
    prod = runner.invoke(app, ["tenant", "create", "real", "--database", url])
    assert prod.exit_code == 0, prod.output

    shown = runner.invoke(app, ["clock", "show", "--tenant", "play", "--database", url])
    assert shown.exit_code == 0, shown.output
    assert "Test clock of tenant" in shown.output

    moved = runner.invoke(
        app, ["clock", "advance", "--tenant", "play", "--days", "3", "--database", url]
    )
    assert moved.exit_code == 0, moved.output
    assert "3 days (0 with collections evaluated)" in moved.output

    target = runner.invoke(
        app, ["clock", "set", "2099-01-01T00:00:00Z", "--tenant", "play", "--database", url]
    )
    assert target.exit_code == 1  # more than 10 years ahead
    assert "10 years" in target.output

    backwards = runner.invoke(
        app, ["clock", "set", "2000-01-01T00:00:00Z", "--tenant", "play", "--database", url]
    )
    assert backwards.exit_code == 1
    assert "only moves forward" in backwards.output

    for args in (["--days", "0"], ["--days", "-2"]):
        refused = runner.invoke(
            app, ["clock", "advance", "--tenant", "play", *args, "--database", url]
        )
        assert refused.exit_code != 0, refused.output

    production = runner.invoke(
        app, ["clock", "advance", "--tenant", "real", "--days", "1", "--database", url]
    )
    assert production.exit_code == 1
    assert "no test clock" in production.output
    naive = runner.invoke(
        app, ["clock", "set", "2030-01-01T00:00:00", "--tenant", "play", "--database", url]
    )
    assert naive.exit_code == 1
    assert "zone" in naive.output
