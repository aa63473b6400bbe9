"""What the run commands share (``bill-run``, ``payment-run``): how they fail, read a
run's key and a date, and watch a run with a progress bar until it leaves its busy
statuses."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from datetime import date
from typing import NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from billcycle.cli.common import console, err_console
from billcycle.errors import DomainError
from billcycle.ids import parse_zuora_id, to_zuora_id

# A run's state as a progress bar shows it: (status, items in all or None, items done).
RunProgress = tuple[str, int | None, int]


def fail(exc: DomainError | str) -> NoReturn:
    """Print the error (ids as the API shows them) and exit 1."""
    message = exc if isinstance(exc, str) else exc.render(to_zuora_id)
    err_console.print(f"[red]{message}[/red]")
    raise typer.Exit(1)


def run_key(text: str) -> int | str:
    """A run's id (32 hex digits, as ``show`` prints it) or its number (BR-/PR-00000001)."""
    run_id = parse_zuora_id(text)
    return text if run_id is None else run_id


def parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option}: '{text}' is not a date (yyyy-mm-dd).")


def watch(
    title: str,
    poll: Callable[[], RunProgress],
    busy: Collection[str],
    *,
    timeout: float = 24 * 3600,
    interval: float = 0.2,
) -> None:
    """A progress bar over ``poll()``'s counts until its status leaves ``busy`` (or the
    timeout passes); the bar ends full."""
    status, total, done = poll()
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(title, total=None, status=status)
        while status in busy and time.monotonic() < deadline:
            progress.update(task, total=total or None, completed=done, status=status)
            time.sleep(interval)
            status, total, done = poll()
        progress.update(task, total=total or 1, completed=done or total or 1, status=status)
