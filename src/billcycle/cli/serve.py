from __future__ import annotations

import os
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from billcycle.cli.common import console, runtime_for
from billcycle.cli.db import DatabaseOpt
from billcycle.db import migrate
from billcycle.jobs import wiring
from billcycle.runtime import Runtime
from billcycle.web.app import create_app, freeze_startup_objects

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
    migrate.upgrade(runtime.settings.database_url)
    if workers > 1:
        # Each process builds its own runtime (and background work) from the environment.
        os.environ["BILLCYCLE_DATABASE_URL"] = runtime.settings.database_url
        # One rate-limit counter file for all the processes (billcycle.ratelimits.counter).
        if not runtime.settings.rate_limit_file:
            counters = Path(tempfile.mkdtemp(prefix="billcycle-")) / "ratelimits"
            os.environ["BILLCYCLE_RATE_LIMIT_FILE"] = str(counters)
        runtime.dispose()
        console.print(f"billcycle serving http://{host}:{port} with {workers} processes")
        uvicorn.run(
            "billcycle.web.factory:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=runtime.settings.log_level,
            # A worker process answers uvicorn's health ping only once it has imported and
            # built the app; on a busy machine that takes longer than uvicorn's 5 s, and a
            # worker that misses the ping is killed and restarted, forever.
            timeout_worker_healthcheck=WORKER_START_SECONDS,
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
        uvicorn.run(app, host=host, port=port, log_level=runtime.settings.log_level)


def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at once by this process", min=1)] = 1,
    database: DatabaseOpt = None,
) -> None:
    """Run background work (bill runs, bulk jobs, schedules) from the PostgreSQL queue."""
    runtime = runtime_for(database, ensure=False)
    if not wiring.is_postgres(runtime):
        typer.echo(
            "billcycle: `billcycle worker` needs PostgreSQL; on SQLite "
            "`billcycle serve` runs the worker itself",
            err=True,
        )
        raise typer.Exit(2)
    migrate.upgrade(runtime.settings.database_url)
    console.print(f"billcycle worker: concurrency {concurrency}")
    wiring.run_worker(runtime, concurrency=concurrency)
