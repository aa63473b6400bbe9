"""procrastinate, the PostgreSQL job queue behind ``billcycle worker``.

One procrastinate task, ``billcycle.run``, carries every billcycle task call; a periodic
task ticks the scheduler and the reaper. Workers on any number of machines share the
queue through PostgreSQL (``SELECT ... FOR UPDATE SKIP LOCKED`` inside procrastinate,
LISTEN/NOTIFY to wake up at once).
"""

from __future__ import annotations

import logging
from typing import Any

import procrastinate
from sqlalchemy.engine import make_url

from billcycle.jobs.dispatch import TaskCall

log = logging.getLogger(__name__)

QUEUE = "billcycle"
_RUNNER: Any = None  # the JobRunner of a worker process, set by run_worker()


def conninfo(database_url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_app(database_url: str, tick_seconds: float = 5.0) -> procrastinate.App:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)),
    )

    @app.task(name="billcycle.run", queue=QUEUE)
    def run(name: str, kwargs: dict[str, Any]) -> None:
        if _RUNNER is None:
            raise RuntimeError("billcycle.run executed outside `billcycle worker`")
        _RUNNER.execute(TaskCall(name, kwargs))

    seconds = max(1, int(tick_seconds))

    @app.periodic(cron=f"* * * * * */{seconds}", periodic_id="tick")
    @app.task(name="billcycle.tick", queue=QUEUE, queueing_lock="billcycle.tick")
    def tick(timestamp: int) -> None:
        if _RUNNER is not None:
            _RUNNER.tick()

    return app


class ProcrastinateDispatcher:
    def __init__(self, app: procrastinate.App) -> None:
        self.app = app

    def dispatch(self, call: TaskCall) -> None:
        self.app.configure_task("billcycle.run", queue=QUEUE).defer(
            name=call.name, kwargs=call.kwargs
        )


def set_runner(runner: Any) -> None:
    global _RUNNER
    _RUNNER = runner
