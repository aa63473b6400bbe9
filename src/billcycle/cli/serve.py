from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from billcycle import logs, metrics
from billcycle.cli.common import console, runtime_for
from billcycle.cli.db import DatabaseOpt
from billcycle.db import migrate
from billcycle.jobs import wiring
from billcycle.runtime import Runtime
from billcycle.web.app import create_app, for_server, freeze_startup_objects
from billcycle.web.limits import server_options

WORKER_START_SECONDS = 60


def background(runtime: Runtime) -> AbstractContextManager[object]:
    if wiring.is_postgres(runtime):
        return wiring.procrastinate_dispatch(runtime)
    return wiring.embedded_worker(runtime)


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on", min=1, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(help="Server processes (uvicorn workers)", min=1)] = 1,
    database: DatabaseOpt = None,
) -> None:
    """Apply migrations and serve both APIs (/zuora and /fusebill).

    On SQLite a worker thread in this process runs bill runs and bulk jobs; on
    PostgreSQL start `billcycle worker` processes (any number, any machines).
    """
    runtime = runtime_for(database, ensure=False)
    logs.configure(runtime.settings.log_format, runtime.settings.log_level)
    migrate.upgrade(runtime.settings.database_url)
    if workers > 1:
        # Each process builds its own runtime (and background work) from the environment,
        # and writes its metrics where /metrics (answered by any of them) sums them all.
        os.environ["BILLCYCLE_DATABASE_URL"] = runtime.settings.database_url
        # One rate-limit counter file for all the processes (billcycle.ratelimits.counter).
        if not runtime.settings.rate_limit_file:
            counters = Path(tempfile.mkdtemp(prefix="billcycle-")) / "ratelimits"
            os.environ["BILLCYCLE_RATE_LIMIT_FILE"] = str(counters)
        directory = multiprocess_metrics_dir()
        runtime.dispose()
        console.print(
            f"billcycle serving http://{host}:{port} with {workers} processes "
            f"(metrics in {directory})"
        )
        uvicorn.run(
            "billcycle.web.factory:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=runtime.settings.log_level,
            log_config=None,  # each process's logs go through billcycle.logs
            # A worker process answers uvicorn's health ping only once it has imported and
            # built the app; on a busy machine that takes longer than uvicorn's 5 s, and a
            # worker that misses the ping is killed and restarted, forever.
            timeout_worker_healthcheck=WORKER_START_SECONDS,
            access_log=False,  # billcycle logs one line per request itself
            **server_options(runtime.settings, by_name=True),
        )
        return
    app = create_app(runtime)
    mode = "queue for `billcycle worker`" if wiring.is_postgres(runtime) else "embedded worker"
    console.print(
        f"billcycle serving http://{host}:{port} ({mode})  "
        f"Zuora: /zuora (docs /zuora/docs), Fusebill: /fusebill (docs /fusebill/docs)"
    )
    with background(runtime):
        freeze_startup_objects()
        uvicorn.run(
            for_server(app),
            host=host,
            port=port,
            log_level=runtime.settings.log_level,
            log_config=None,
            access_log=False,
            **server_options(runtime.settings),
        )


def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at once by this process", min=1)] = 1,
    database: DatabaseOpt = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve this worker's Prometheus /metrics on this port "
            "(default: BILLCYCLE_WORKER_METRICS_PORT; unset: none)",
            min=1,
            max=65535,
        ),
    ] = None,
) -> None:
    """Run background work (bill runs, bulk jobs, schedules) from the PostgreSQL queue.

    SIGTERM: the worker takes no new job, finishes the chunk in hand (well within its
    lease), hands the rest of that run to the other workers, and exits.
    """
    runtime = runtime_for(database, ensure=False)
    if not wiring.is_postgres(runtime):
        typer.echo(
            "billcycle: `billcycle worker` needs PostgreSQL; on SQLite "
            "`billcycle serve` runs the worker itself",
            err=True,
        )
        raise typer.Exit(2)
    logs.configure(runtime.settings.log_format, runtime.settings.log_level)
    migrate.upgrade(runtime.settings.database_url)
    port = metrics_port if metrics_port is not None else runtime.settings.worker_metrics_port
    if metrics.multiprocess_dir() is not None:
        os.makedirs(str(metrics.multiprocess_dir()), exist_ok=True)
        atexit.register(metrics.mark_process_dead)
    if port is not None:
        serve_worker_metrics(port)
    console.print(
        f"billcycle worker: concurrency {concurrency}"
        + (f", metrics on :{port}/metrics" if port is not None else "")
    )
    wiring.run_worker(runtime, concurrency=concurrency)


def multiprocess_metrics_dir() -> str:
    """The directory where the server processes of ``serve --workers N`` write their
    metrics: ``PROMETHEUS_MULTIPROC_DIR`` when the operator set it (shared with
    ``billcycle worker`` processes on this machine, say), else a fresh temporary one
    removed at exit. Set in the environment before the server processes start, since
    prometheus-client reads it once, when first imported."""
    directory = metrics.multiprocess_dir()
    if directory is not None:
        os.makedirs(directory, exist_ok=True)
        return directory
    directory = tempfile.mkdtemp(prefix="billcycle-metrics-")
    os.environ[metrics.MULTIPROC_ENV] = directory
    atexit.register(shutil.rmtree, directory, True)
    return directory


def serve_worker_metrics(port: int) -> None:
    """``/metrics`` of this worker process (or of every process sharing the
    multiprocess directory) on ``port``, from a daemon thread."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client import multiprocess as prometheus_multiprocess

    if metrics.multiprocess_dir() is None:
        start_http_server(port)
        return
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, registry=registry)
