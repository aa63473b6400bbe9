"""``billcycle bench curve`` runs the bill-run benchmark per size and plots it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from billcycle.cli.main import app


def test_curve_plots_every_size_and_keeps_medians(tmp_path: Path) -> None:
    out = tmp_path / "growth.png"
    result = CliRunner().invoke(
        app,
        ["bench", "curve", "--sizes", "40", "--repeat", "2", "--out", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["correct"] is True
    assert [run["accounts"] for run in summary["runs"]] == [40]
    for run in summary["runs"]:
        assert run["invoices"] == run["accounts"]  # checked against the data set
        assert len(run["wall_seconds_runs"]) == 2
        assert run["wall_seconds"] == sorted(run["wall_seconds_runs"])[0]  # lower median of 2
    assert out.read_bytes().startswith(b"\x89PNG")
