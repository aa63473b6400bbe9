from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Annotated

import typer
import uvicorn

from billcycle.cli.common import console, runtime_for
from billcycle.cli.db import DatabaseOpt
from billcycle.db import migrate
from billcycle.jobs import wiring
from billcycle.runtime import Runtime
from billcycle.web.app import create_app, for_server, freeze_startup_objects
from billcycle.web.limits import server_options


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
        runtime.dispose()
        console.print(f"billcycle serving http://{host}:{port} with {workers} processes")
        uvicorn.run(
            "billcycle.web.factory:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=runtime.settings.log_level,
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
            **server_options(runtime.settings),
        )


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
