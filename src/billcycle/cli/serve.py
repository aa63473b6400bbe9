from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from billcycle.cli.common import console, runtime_for
from billcycle.cli.db import DatabaseOpt
from billcycle.db import migrate
from billcycle.web.app import create_app


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8080,
    database: DatabaseOpt = None,
) -> None:
    """Apply migrations and serve both APIs (/zuora and /fusebill)."""
    runtime = runtime_for(database)
    migrate.upgrade(runtime.settings.database_url)
    app = create_app(runtime)
    console.print(
        f"billcycle serving http://{host}:{port}  "
        f"(Zuora: /zuora, docs: http://{host}:{port}/zuora/docs)"
    )
    uvicorn.run(app, host=host, port=port, log_level=runtime.settings.log_level)
