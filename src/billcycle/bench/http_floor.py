"""The floor of ``billcycle bench http``: a bare Starlette app answering every GET with the
bytes (and headers) the real server sent for the bill run, on the same uvicorn HTTP
protocol (httptools, the head caps) and loop, driven by the same wrk settings in the same
run.

On a machine shared with other work the absolute figures move with the load; the ratio
of billcycle's p99 (and requests per second) to this floor's says what billcycle itself
costs. Run as ``python -m billcycle.bench.http_floor PORT BODY_FILE HEADERS_FILE``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

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


def main(argv: list[str]) -> None:
    port, body_file, headers_file = int(argv[0]), Path(argv[1]), Path(argv[2])
    headers: dict[str, str] = json.loads(headers_file.read_text())
    uvicorn.run(
        floor_app(body_file.read_bytes(), headers),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        log_config=None,
        access_log=False,
        **server_options(Settings()),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
