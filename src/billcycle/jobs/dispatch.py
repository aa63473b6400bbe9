"""How background tasks reach a worker.

* :class:`ProcrastinateDispatcher` (PostgreSQL): defers a procrastinate job; any number
  of ``billcycle worker`` processes on any number of machines run them.
* :class:`ThreadDispatcher` (the embedded SQLite default): a worker thread inside
  ``billcycle serve``.
* :class:`ManualDispatcher`: queues tasks and runs them when told (tests, CLI one-shots),
  through the same runner as the others.

Every task is idempotent and its real state lives in the database, so a task delivered
twice, or re-dispatched by the reaper, does no harm.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskCall:
    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


class Dispatcher(Protocol):
    def dispatch(self, call: TaskCall) -> None: ...

    def recover_stalled(self, stalled_after: timedelta) -> int:
        """Settle queued tasks that a dead worker process took and never finished (a
        queue in this process dies with it, so only a shared queue has any); returns
        how many. The chunks such a task held are the chunk reaper's to re-dispatch."""
        ...


Execute = Callable[[TaskCall], None]


class ManualDispatcher:
    def __init__(self) -> None:
        self._queue: deque[TaskCall] = deque()
        self._lock = threading.Lock()
        self.execute: Execute | None = None

    def dispatch(self, call: TaskCall) -> None:
        with self._lock:
            self._queue.append(call)

    def recover_stalled(self, stalled_after: timedelta) -> int:
        return 0

    @property
    def pending(self) -> list[TaskCall]:
        with self._lock:
            return list(self._queue)

    def run_until_idle(self, max_tasks: int = 100_000) -> int:
        """Run queued tasks (and the tasks they queue) until none is left."""
        assert self.execute is not None, "ManualDispatcher is not bound to a runner"
        ran = 0
        while ran < max_tasks:
            with self._lock:
                if not self._queue:
                    return ran
                call = self._queue.popleft()
            self.execute(call)
            ran += 1
        raise RuntimeError(f"more than {max_tasks} tasks: is a task re-queueing itself?")


class HeldDispatcher:
    """Keeps the tasks dispatched through it until :meth:`release` hands them to the real
    dispatcher: an answer that must show the data as its transaction left it, before any
    background work changes it, releases them once its own read has taken its snapshot.
    Tasks held and never released are not lost: their chunks are pending in the database,
    and the reaper dispatches a drain for pending chunks after a lease."""

    def __init__(self, target: Dispatcher) -> None:
        self._target = target
        self._held: list[TaskCall] = []
        self._released = False
        self._lock = threading.Lock()

    def dispatch(self, call: TaskCall) -> None:
        with self._lock:
            if not self._released:
                self._held.append(call)
                return
        self._target.dispatch(call)

    def release(self) -> None:
        with self._lock:
            calls, self._held, self._released = self._held, [], True
        for call in calls:
            self._target.dispatch(call)

    def recover_stalled(self, stalled_after: timedelta) -> int:
        return self._target.recover_stalled(stalled_after)


class ThreadDispatcher:
    """A queue and worker thread(s) in this process; ``tick`` runs every ``tick_seconds``
    (the scheduler and the reaper), starting with one tick so unfinished work resumes."""

    def __init__(
        self,
        execute: Execute,
        tick: Callable[[], None],
        *,
        threads: int = 1,
        tick_seconds: float = 5.0,
    ) -> None:
        self._execute = execute
        self._tick = tick
        self._tick_seconds = tick_seconds
        self._queue: queue.Queue[TaskCall | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"billcycle-worker-{i}", daemon=True)
            for i in range(threads)
        ]
        self._ticker = threading.Thread(target=self._ticks, name="billcycle-ticker", daemon=True)
        self._idle = threading.Condition()
        self._busy = 0

    def dispatch(self, call: TaskCall) -> None:
        self._queue.put(call)

    def recover_stalled(self, stalled_after: timedelta) -> int:
        return 0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        self._ticker.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in [*self._threads, self._ticker]:
            thread.join(timeout=timeout)

    def queued(self) -> int:
        """Tasks waiting for a worker thread (``/metrics``)."""
        return self._queue.qsize()

    def is_alive(self) -> bool:
        """Every worker thread runs (``/readyz``)."""
        return not self._stop.is_set() and all(t.is_alive() for t in self._threads)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until the queue is empty and no task runs (tests, CLI)."""
        with self._idle:
            return self._idle.wait_for(
                lambda: self._busy == 0 and self._queue.empty(), timeout=timeout
            )

    def _work(self) -> None:
        while not self._stop.is_set():
            call = self._queue.get()
            if call is None:
                return
            with self._idle:
                self._busy += 1
            try:
                self._execute(call)
            except Exception:
                log.exception("background task %s failed", call.name)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _ticks(self) -> None:
        while True:
            try:
                self._tick()
            except Exception:
                log.exception("scheduler tick failed")
            if self._stop.wait(self._tick_seconds):
                return
