"""procrastinate, the PostgreSQL job queue behind ``billcycle worker``.

One procrastinate task, ``billcycle.run``, carries every billcycle task call; a periodic
task ticks the scheduler and the reaper. Workers on any number of machines share the
queue through PostgreSQL (``SELECT ... FOR UPDATE SKIP LOCKED`` inside procrastinate,
LISTEN/NOTIFY to wake up at once).

A worker killed outright (SIGKILL, OOM, a lost machine) leaves the procrastinate job it
was running in ``doing``, where procrastinate itself never looks again. Workers send a
heartbeat (every quarter lease), and the reaper's tick settles the ``doing`` jobs of
workers silent for longer than a lease: a drain or a tick is marked failed (the chunk
reaper, the source of truth, re-dispatches a drain for the chunks it held, and ticks
come every few seconds anyway); any other task is retried, since every task is
idempotent, at most ``STALLED_RETRIES`` times so that a task that kills its worker
cannot take the fleet down one worker after another.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, NamedTuple

import procrastinate
from procrastinate import sql, utils
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job, Status
from sqlalchemy.engine import make_url

from billcycle import logs
from billcycle.jobs.dispatch import TaskCall

log = logging.getLogger(__name__)

QUEUE = "billcycle"
RUN = "billcycle.run"
STALLED_RETRIES = 3
# billcycle tasks whose work the chunk reaper and the scheduler re-dispatch by themselves.
_REDISPATCHED = frozenset({"drain", "tick"})
_RUNNER: Any = None  # the JobRunner of a worker process, set by run_worker()


def conninfo(database_url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_app(database_url: str, tick_seconds: float = 5.0) -> procrastinate.App:
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)),
    )

    @app.task(name=RUN, queue=QUEUE, pass_context=True)
    def run(context: JobContext, name: str, kwargs: dict[str, Any]) -> None:
        if _RUNNER is None:
            raise RuntimeError("billcycle.run executed outside `billcycle worker`")
        # A worker shutting down (SIGTERM) asks its jobs to stop: a drain finishes its
        # chunk, claims no more and hands the rest to another worker.
        with _RUNNER.stop_signal(context.should_abort), logs.bound(job_id=context.job.id):
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
        self.app.configure_task(RUN, queue=QUEUE).defer(name=call.name, kwargs=call.kwargs)

    def recover_stalled(self, stalled_after: timedelta) -> int:
        """Fail or retry the ``doing`` jobs of workers without a heartbeat for longer than
        ``stalled_after``.

        Through the connector's synchronous face and procrastinate's own queries (those of
        ``JobManager.get_stalled_jobs`` and ``finish_job``, whose manager methods are only
        asynchronous): a worker's tick runs in a thread beside the worker's event loop,
        and the server process opens the app synchronously."""
        connector = self.app.connector.get_sync_connector()
        rows = connector.execute_query_all(
            query=sql.queries["select_stalled_jobs_by_heartbeat"],
            queue=QUEUE,
            task_name=None,
            seconds_since_heartbeat=stalled_after.total_seconds(),
        )
        stalled = [Job.from_row(row) for row in rows]
        for job in stalled:
            assert job.id is not None
            try:
                if _retry(job):
                    log.warning("retrying %s, whose worker died", job.call_string)
                    self.app.job_manager.retry_job_by_id(job.id, retry_at=utils.utcnow())
                else:
                    log.warning("failing %s, whose worker died", job.call_string)
                    connector.execute_query(
                        query=sql.queries["finish_job"],
                        job_id=job.id,
                        status=Status.FAILED.value,
                        delete_job=False,
                    )
            except Exception:
                # Another worker's tick settled it first (it is no longer ``doing``).
                log.info("stalled job %s was settled elsewhere", job.id, exc_info=True)
        return len(stalled)


def _retry(job: Job) -> bool:
    if job.task_name != RUN or job.task_kwargs.get("name") in _REDISPATCHED:
        return False
    return job.attempts < STALLED_RETRIES


class Heartbeat(NamedTuple):
    """How often a worker says it is alive, and the silence after which it counts as dead:
    a lease, as for the chunks it holds."""

    interval: float
    stalled_after: float


def heartbeat(lease_seconds: float) -> Heartbeat:
    return Heartbeat(max(0.25, min(10.0, lease_seconds / 4)), float(lease_seconds))


def set_runner(runner: Any) -> None:
    global _RUNNER
    _RUNNER = runner
