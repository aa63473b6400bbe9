"""The README's commands, run as a newcomer runs them: in a brand-new directory, with no
database and no BILLCYCLE_* settings, one after another.

The commands are read from README.md (the ``billcycle ...`` lines of the "Command line"
and "Bill runs" sections), so a line added there is run here too. Long-running commands
(``serve``) are started, waited for until they answer, and stopped.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import billcycle
from tests.support.server import free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SECTIONS = ("Command line", "Bill runs")  # run in this order: the first sets up the data
SRC = Path(billcycle.__file__).resolve().parent.parent

# Commands whose README line is expected to fail on the embedded SQLite default, with
# the reason; each must still fail with one clear line, not a traceback.
EXPECTED_EXIT = {
    "worker": 2,  # `billcycle worker` needs PostgreSQL (on SQLite `serve` runs the worker)
}
LONG_RUNNING = {"serve"}


@dataclass(frozen=True)
class Outcome:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"$ billcycle {shlex.join(self.args)}\nexit {self.returncode}\n"
            f"--- stdout\n{self.stdout[-2000:]}\n--- stderr\n{self.stderr[-2000:]}"
        )


def readme_commands(text: str, section: str) -> list[list[str]]:
    """The arguments of every ``billcycle`` line in the section's code blocks (comments
    dropped, continuation lines joined)."""
    lines = text.splitlines()
    start = lines.index(f"## {section}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    commands: list[list[str]] = []
    in_block = False
    pending = ""
    for line in lines[start:end]:
        if line.startswith("```"):
            in_block = not in_block
            continue
        if not in_block:
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        words = shlex.split(pending, comments=True)
        pending = ""
        if words and words[0] == "billcycle":
            commands.append(words[1:])
    return commands


def all_readme_commands() -> list[list[str]]:
    text = README.read_text()
    return [command for section in SECTIONS for command in readme_commands(text, section)]


def newcomer_env() -> dict[str, str]:
    """The test process's environment without billcycle's settings (the defaults apply),
    importing this tree's billcycle."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLCYCLE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    return env


def run(args: list[str], cwd: Path, timeout: float = 300) -> Outcome:
    done = subprocess.run(
        [sys.executable, "-m", "billcycle.cli.main", *args],
        cwd=cwd,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Outcome(args, done.returncode, done.stdout, done.stderr)


def run_until_ready(args: list[str], cwd: Path) -> Outcome:
    """Start a server command on a free port, wait until /health answers, stop it (SIGINT,
    as Ctrl-C does) and return what it printed."""
    port = free_port()
    if "--port" in args:
        args = [*args]
        args[args.index("--port") + 1] = str(port)
    else:
        args = [*args, "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "billcycle.cli.main", *args],
        cwd=cwd,
        env=newcomer_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        ready = False
        while not ready and time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.2)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if not ready:
        stderr += "\n(the server never answered /health)"
    return Outcome(args, process.returncode if ready else -1, stdout, stderr)


def test_the_readme_lists_the_commands_it_documents() -> None:
    commands = all_readme_commands()
    names = {" ".join(command[:2]) for command in commands} | {c[0] for c in commands}
    for expected in ("tenant create", "demo load", "db upgrade", "bill-run create", "serve"):
        assert expected in names, names


def test_the_first_command_works_on_a_brand_new_directory(tmp_path: Path) -> None:
    """The first line of the README's command list: the schema is created on the way."""
    outcome = run(["tenant", "create", "acme", "--json"], tmp_path)
    assert outcome.returncode == 0, outcome.describe()
    assert outcome.stdout.startswith('{"entityId": '), outcome.describe()
    assert "created the schema of sqlite:///billcycle.db" in outcome.stderr
    assert (tmp_path / "billcycle.db").exists()


@pytest.mark.slow
def test_every_readme_command_runs_in_a_fresh_directory(tmp_path: Path) -> None:
    failures: list[str] = []
    for args in all_readme_commands():
        outcome = (
            run_until_ready(args, tmp_path) if args[0] in LONG_RUNNING else run(args, tmp_path)
        )
        expected = EXPECTED_EXIT.get(args[0], 0)
        output = outcome.stdout + outcome.stderr
        problems = []
        if outcome.returncode != expected:
            problems.append(f"exit {outcome.returncode}, expected {expected}")
        if "Traceback" in output:
            problems.append("printed a traceback")
        if expected != 0 and len(outcome.stderr.strip().splitlines()) != 1:
            problems.append("an expected failure must say why in one line on stderr")
        if problems:
            failures.append(f"{'; '.join(problems)}\n{outcome.describe()}")
    assert not failures, "\n\n".join(failures)
