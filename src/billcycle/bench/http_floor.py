"""The floor of ``billcycle bench http``: a bare Starlette app answering every GET with the
bytes (and headers) the real server sent for the bill run, on the same uvicorn HTTP
protocol (httptools, the head caps) and loop, driven by the same wrk settings in the same
run, with as many server processes as the real server had (``--server-workers``: a
client's connections shared between them as billcycle's are).

On a machine shared with other work the absolute figures move with the load; the ratio
of billcycle's p99 (and requests per second) to this floor's says what billcycle itself
costs. Run as ``python -m billcycle.bench.http_floor PORT BODY_FILE HEADERS_FILE [PROCESSES]``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billcycle.config import Settings
from billcycle.web.limits import server_options


def floor_app(body: bytes, headers: dict[str, str]) -> Starlette:
    async def answer(_request: Request) -> Response:
        return Response(body, headers=headers, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", answer, methods=["GET"])])


# For the processes of a multi-process floor (uvicorn imports the app by name).
BODY_ENV = "BILLCYCLE_FLOOR_BODY"
HEADERS_ENV = "BILLCYCLE_FLOOR_HEADERS"


def floor_app_from_environment() -> Starlette:
    """The floor app of the files named in the environment (uvicorn ``--factory``)."""
    headers: dict[str, str] = json.loads(Path(os.environ[HEADERS_ENV]).read_text())
    return floor_app(Path(os.environ[BODY_ENV]).read_bytes(), headers)


def main(argv: list[str]) -> None:
    port, body_file, headers_file = int(argv[0]), Path(argv[1]), Path(argv[2])
    processes = int(argv[3]) if len(argv) > 3 else 1
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "log_config": None,
        "access_log": False,
    }
    if processes > 1:
        os.environ[BODY_ENV] = str(body_file)
        os.environ[HEADERS_ENV] = str(headers_file)
        uvicorn.run(
            "billcycle.bench.http_floor:floor_app_from_environment",
            factory=True,
            workers=processes,
            **options,
            **server_options(Settings(), by_name=True),
        )
        return
    headers: dict[str, str] = json.loads(headers_file.read_text())
    uvicorn.run(floor_app(body_file.read_bytes(), headers), **options, **server_options(Settings()))


if __name__ == "__main__":
    main(sys.argv[1:])
