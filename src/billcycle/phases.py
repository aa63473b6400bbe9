"""Where a worker's time goes, phase by phase: CPU seconds (this thread's own) and wall
seconds, summed per phase name over a process's life.

Benchmarks turn it on (``billcycle bench bill-run`` reports its run's phases) so that a
profile comes with every figure rather than from a separate profiling session; on a
shared machine the CPU seconds are what stays comparable. Off, a lap costs one global
read. Laps, not nested timers: a thread's clock runs from one ``lap`` to the next and
the time between is charged to the phase the second one names, so phases never
overlap and nothing between two laps goes uncounted. ``restart`` drops the time since
the last lap (a worker waiting for work is idle, which the benchmark derives as the
run's wall time less every phase).

Worker processes (PostgreSQL) write their totals to ``$BILLCYCLE_PHASES_DIR/<pid>.json``
after each chunk, where the benchmark sums them.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

ENV = "BILLCYCLE_PHASES_DIR"

_enabled = bool(os.environ.get(ENV))
_dir = os.environ.get(ENV) or None
# Put before every phase name of this process (a helper process's phases are reported
# beside the worker's, not added to them).
_prefix = ""
_lock = threading.Lock()
# phase -> [cpu seconds, wall seconds, laps]
_totals: dict[str, list[float]] = {}


class _Clock(threading.local):
    cpu: float | None = None
    wall: float = 0.0


_clock = _Clock()


def enable(directory: str | None = None) -> None:
    """Count from now on, in this process (and write to ``directory`` after each chunk)."""
    global _enabled, _dir
    _enabled = True
    _dir = directory


def set_prefix(prefix: str) -> None:
    global _prefix
    _prefix = prefix


def disable() -> None:
    global _enabled, _dir
    _enabled = False
    _dir = None


def reset() -> None:
    with _lock:
        _totals.clear()


def restart() -> None:
    """This thread's clock starts now; the time since its last lap is not counted."""
    if _enabled:
        _clock.cpu = time.thread_time()
        _clock.wall = time.perf_counter()


def lap(phase: str) -> None:
    """Charge the time since this thread's last lap (or restart) to ``phase``."""
    if not _enabled:
        return
    cpu, wall = time.thread_time(), time.perf_counter()
    if _clock.cpu is not None:
        phase = _prefix + phase
        with _lock:
            total = _totals.get(phase)
            if total is None:
                total = _totals[phase] = [0.0, 0.0, 0]
            total[0] += cpu - _clock.cpu
            total[1] += wall - _clock.wall
            total[2] += 1
    _clock.cpu, _clock.wall = cpu, wall


def totals() -> dict[str, list[float]]:
    with _lock:
        return {name: list(values) for name, values in _totals.items()}


def flush() -> None:
    """Write this process's totals where the benchmark reads them (when it asked)."""
    if not _enabled or _dir is None:
        return
    path = Path(_dir) / f"{os.getpid()}.json"
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(totals()))
    partial.replace(path)
