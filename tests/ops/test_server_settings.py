"""`billcycle db check` warns about PostgreSQL server settings far from what a billing
database needs (docs/operations.md), and never about SQLite."""

from __future__ import annotations

from sqlalchemy import text
from typer.testing import CliRunner

from billcycle.cli.main import app
from billcycle.db import server_settings
from billcycle.db.engine import make_engine
from billcycle.db.server_settings import GB, MB, ServerSetting

runner = CliRunner()


def _settings(**values: int | str) -> dict[str, ServerSetting]:
    return {name: ServerSetting(name, value, str(value)) for name, value in values.items()}


def test_postgres_defaults_are_warned_about_one_by_one() -> None:
    found = server_settings.warnings(
        _settings(
            max_wal_size=1 * GB,
            checkpoint_timeout=300,
            shared_buffers=128 * MB,
            fsync="on",
            synchronous_commit="on",
            full_page_writes="on",
        )
    )
    assert [w.split(" ", 1)[0] for w in found] == [
        "max_wal_size",
        "checkpoint_timeout",
        "shared_buffers",
    ]
    assert "8GB" in found[0]
    assert "15min" in found[1]
    assert "2GB" in found[2]


def test_a_tuned_server_gets_no_warning_and_a_lost_commit_setting_does() -> None:
    tuned = dict(
        max_wal_size=8 * GB,
        checkpoint_timeout=900,
        shared_buffers=2 * GB,
        fsync="on",
        full_page_writes="on",
    )
    assert server_settings.warnings(_settings(**tuned, synchronous_commit="on")) == []
    found = server_settings.warnings(_settings(**tuned, synchronous_commit="off"))
    assert len(found) == 1
    assert found[0].startswith("synchronous_commit is off")


def test_pg_settings_units_become_bytes_and_seconds() -> None:
    assert server_settings.normalized("16384", "8kB") == 128 * MB
    assert server_settings.normalized("1024", "MB") == 1 * GB
    assert server_settings.normalized("300", "s") == 300
    assert server_settings.normalized("on", None) == "on"


def test_db_check_shows_the_server_settings_and_warns(database_url: str) -> None:
    result = runner.invoke(app, ["db", "check", "--database", database_url], terminal_width=400)
    assert result.exit_code == 0, result.output
    engine = make_engine(database_url)
    try:
        if engine.dialect.name != "postgresql":
            assert "server settings" not in result.output
            return
        with engine.connect() as conn:
            shown = {
                name: conn.execute(text(f"SHOW {name}")).scalar_one()
                for name in ("max_wal_size", "checkpoint_timeout", "shared_buffers")
            }
            raw = {
                name: conn.execute(
                    text("SELECT setting::bigint, unit FROM pg_settings WHERE name = :n"),
                    {"n": name},
                ).one()
                for name in shown
            }
    finally:
        engine.dispose()
    for name, value in shown.items():
        assert f"{name}={value}" in result.output
    units = {"8kB": 8192, "MB": MB, "s": 1, "min": 60}
    below = {
        "max_wal_size": raw["max_wal_size"][0] * units[raw["max_wal_size"][1]] < 4 * GB,
        "checkpoint_timeout": raw["checkpoint_timeout"][0] * units[raw["checkpoint_timeout"][1]]
        < 600,
        "shared_buffers": raw["shared_buffers"][0] * units[raw["shared_buffers"][1]] < 512 * MB,
    }
    for name, warned in below.items():
        assert (f"warning: {name} is" in result.output) is warned, result.output
