"""The growth curve: the bill-run benchmark at several sizes, each in a fresh process
(so one size's memory cannot inflate the next one's), plotted with matplotlib."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from billcycle.bench.harness import BenchError


def bill_run_subprocess(
    accounts: int,
    *,
    subscriptions: int = 1,
    charges: int = 1,
    database: str | None = None,
    workers: int = 1,
    raw: bool = False,
    timeout: float = 1800.0,
    fresh: bool = False,
    chunk_size: int | None = None,
) -> dict[str, Any]:
    """``billcycle bench bill-run --json`` in a child process; its JSON line."""
    command = [
        sys.executable,
        "-m",
        "billcycle.cli.main",
        "bench",
        "bill-run",
        "--accounts",
        str(accounts),
        "--subscriptions",
        str(subscriptions),
        "--charges",
        str(charges),
        "--workers",
        str(workers),
        "--timeout",
        str(timeout),
        "--raw" if raw else "--no-raw",
        "--json",
    ]
    if database:
        command += ["--database", database]
    if fresh:
        command.append("--fresh-database")
    if chunk_size is not None:
        command += ["--chunk-size", str(chunk_size)]
    return bench_subprocess(command, timeout)


def bench_subprocess(command: list[str], timeout: float) -> dict[str, Any]:
    """One ``billcycle bench ... --json`` run in a child process (``command``: its whole
    argv), so that its memory and warm caches cannot inflate the next run's; its JSON
    line. The child's own ``--timeout`` is ``timeout``: it is given three times that to
    load its data and finish."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        command, capture_output=True, text=True, timeout=timeout * 3 + 600, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        what = " ".join(command[3:])
        raise BenchError(f"{what} failed ({done.returncode}):\n" + done.stderr[-2000:])
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (the lower middle one of an even count), with
    every run's wall time kept beside it so a reader sees the spread."""
    ordered = sorted(runs, key=lambda r: float(r["wall_seconds"]))
    median = dict(ordered[(len(ordered) - 1) // 2])
    median["wall_seconds_runs"] = [float(r["wall_seconds"]) for r in runs]
    median["correct"] = all(r.get("correct") for r in runs)
    median["errors"] = [e for r in runs for e in r.get("errors", [])]
    return median


def median_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run of a repeated benchmark (``median_run``) with the spread: every
    run's wall time, same-run floor and ratio, and the min-max of the wall times."""
    summary = median_run(runs)
    walls = summary["wall_seconds_runs"]
    summary["repeat"] = len(runs)
    summary["wall_seconds_min_max"] = [min(walls), max(walls)]
    summary["raw_write_seconds_runs"] = [r.get("raw_write_seconds") for r in runs]
    summary["ratio_runs"] = [r.get("ratio") for r in runs]
    return summary


def median_line(summary: dict[str, Any]) -> str:
    """One line for people: median, spread, the median run's floor and ratio."""
    low, high = summary["wall_seconds_min_max"]
    floor = summary.get("raw_write_seconds")
    line = (
        f"bill run {summary['accounts']:,} accounts x {summary['subscriptions_per_account']} "
        f"x {summary['charges_per_subscription']}, {summary['database']} "
        f"({summary['workers']} worker(s)): median of {summary['repeat']} "
        f"{summary['wall_seconds']:.2f} s (min-max {low:.2f}-{high:.2f} s)"
    )
    if floor is not None:
        line += f", same-run floor {floor:.2f} s, ratio {summary['ratio']}x"
    return line


def series_label(result: dict[str, Any]) -> str:
    if result.get("database") == "postgresql":
        workers = int(result.get("workers", 1))
        return f"PostgreSQL, {workers} worker{'s' if workers != 1 else ''}"
    return "SQLite, embedded worker"


def plot_growth(series: dict[str, list[dict[str, Any]]], out: Path) -> None:
    """Wall time and peak worker memory against accounts, one line per database
    (log-log time axes: a straight line of slope 1 is linear growth)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (time_ax, mem_ax) = plt.subplots(1, 2, figsize=(12, 4.8))
    shape = ""
    for label, results in series.items():
        ordered = sorted(results, key=lambda r: int(r["accounts"]))
        if not ordered:
            continue
        first = ordered[0]
        shape = (
            f"{first.get('subscriptions_per_account', 1)} subscription x "
            f"{first.get('charges_per_subscription', 1)} charge per account"
        )
        sizes = [int(r["accounts"]) for r in ordered]
        walls = [float(r["wall_seconds"]) for r in ordered]
        memory = [float(r["peak_rss_mb"]) for r in ordered]
        (line,) = time_ax.plot(sizes, walls, "o-", label=label)
        per_account = walls[-1] / sizes[-1]
        time_ax.plot(
            sizes,
            [s * per_account for s in sizes],
            "--",
            color=line.get_color(),
            alpha=0.5,
            label=f"{label}: linear from largest",
        )
        for size, wall in zip(sizes, walls, strict=True):
            time_ax.annotate(
                f"{wall:.1f}s", (size, wall), textcoords="offset points", xytext=(4, -12)
            )
        mem_ax.plot(sizes, memory, "o-", color=line.get_color(), label=label)
    time_ax.set_xscale("log")
    time_ax.set_yscale("log")
    time_ax.set_xlabel("accounts")
    time_ax.set_ylabel("wall seconds (API call -> Completed)")
    time_ax.grid(True, which="both", alpha=0.3)
    time_ax.legend(fontsize="small")
    mem_ax.set_xscale("log")
    tallest = max((float(r["peak_rss_mb"]) for rs in series.values() for r in rs), default=0.0)
    mem_ax.set_ylim(bottom=0, top=max(tallest, 512.0) * 1.1)
    mem_ax.axhline(512, linestyle=":", color="grey", label="512 MB target")
    mem_ax.set_xlabel("accounts")
    mem_ax.set_ylabel("peak worker RSS (MB)")
    mem_ax.grid(True, which="both", alpha=0.3)
    mem_ax.legend(fontsize="small")
    fig.suptitle(f"bill run growth: {shape} (medians)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
