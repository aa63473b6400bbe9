"""Choosing how a process runs background work.

* SQLite (embedded default): ``billcycle serve`` runs a worker thread itself.
* PostgreSQL: the server defers jobs through procrastinate; ``billcycle worker``
  processes (any number, any machines) run them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from billcycle.db import bulk
from billcycle.jobs.dispatch import ManualDispatcher, ThreadDispatcher
from billcycle.jobs.runner import JobRunner
from billcycle.runtime import Runtime


def is_postgres(runtime: Runtime) -> bool:
    return bulk.is_postgres(runtime.engine)


@contextmanager
def embedded_worker(runtime: Runtime) -> Iterator[ThreadDispatcher]:
    """A worker thread in this process (SQLite has a single writer: one thread)."""
    holder: list[JobRunner] = []
    dispatcher = ThreadDispatcher(
        lambda call: holder[0].execute(call),
        lambda: holder[0].tick(),
        tick_seconds=runtime.settings.worker_tick_seconds,
    )
    runtime.dispatcher = dispatcher
    holder.append(JobRunner(runtime, dispatcher))
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        holder[0].stopping.set()  # a drain finishes its chunk and claims no more
        dispatcher.stop()


@contextmanager
def procrastinate_dispatch(runtime: Runtime) -> Iterator[None]:
    """Defer jobs to PostgreSQL for ``billcycle worker`` processes."""
    from billcycle.jobs.queue import ProcrastinateDispatcher, make_app

    app = make_app(runtime.settings.database_url, runtime.settings.worker_tick_seconds)
    with app.open():
        runtime.dispatcher = ProcrastinateDispatcher(app)
        yield


def manual(runtime: Runtime) -> tuple[ManualDispatcher, JobRunner]:
    """Tasks run only when ``run_until_idle`` is called, in the calling thread."""
    dispatcher = ManualDispatcher()
    runtime.dispatcher = dispatcher
    runner = JobRunner(runtime, dispatcher)
    dispatcher.execute = runner.execute
    return dispatcher, runner


def run_worker(runtime: Runtime, *, concurrency: int = 1) -> None:
    """The body of ``billcycle worker``: run procrastinate jobs until stopped."""
    from billcycle.jobs.queue import (
        QUEUE,
        ProcrastinateDispatcher,
        heartbeat,
        make_app,
        set_runner,
    )

    app = make_app(runtime.settings.database_url, runtime.settings.worker_tick_seconds)
    with app.open():
        dispatcher = ProcrastinateDispatcher(app)
        runtime.dispatcher = dispatcher
        set_runner(JobRunner(runtime, dispatcher))
        beat = heartbeat(runtime.settings.worker_lease_seconds)
        # SIGTERM/SIGINT: procrastinate takes no new job and at once asks the running
        # ones to stop (shutdown_graceful_timeout=0); a drain finishes the chunk in hand
        # (well within its lease), claims no more, re-dispatches the rest for the other
        # workers, and the process exits.
        app.run_worker(
            queues=[QUEUE],
            concurrency=concurrency,
            install_signal_handlers=True,
            update_heartbeat_interval=beat.interval,
            stalled_worker_timeout=beat.stalled_after,
            shutdown_graceful_timeout=0,
        )
