"""The root app's gzip layer (billcycle.web.app.GZip) answers what Starlette's
GZipMiddleware answers, byte for byte and header for header, whether or not the client
accepts gzip (it only builds the identity responder more cheaply)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from billcycle.web.app import GZIP_MINIMUM_SIZE, GZip


def _app() -> Starlette:
    async def answer(request: Request) -> Response:
        size = int(request.query_params["size"])
        media = request.query_params.get("media", "application/json")
        return Response(b"x" * size, media_type=media)

    return Starlette(routes=[Route("/", answer)])


def _answers(app: ASGIApp, **params: str) -> list[tuple[int, bytes, list[tuple[str, str]]]]:
    client = TestClient(app)
    found = []
    for accept in (None, "gzip", "gzip, deflate", "identity", "br"):
        headers = {"Accept-Encoding": accept} if accept else {"Accept-Encoding": ""}
        response = client.get("/", params=params, headers=headers)
        found.append(
            (
                response.status_code,
                response.content,
                [(k, v) for k, v in response.headers.multi_items() if k != "date"],
            )
        )
    return found


@pytest.mark.parametrize("size", [0, GZIP_MINIMUM_SIZE - 1, GZIP_MINIMUM_SIZE, 5000])
@pytest.mark.parametrize("media", ["application/json", "text/event-stream"])
def test_the_gzip_layer_answers_as_starlettes(size: int, media: str) -> None:
    ours = GZip(_app(), minimum_size=GZIP_MINIMUM_SIZE)
    theirs = GZipMiddleware(_app(), minimum_size=GZIP_MINIMUM_SIZE)
    params = {"size": str(size), "media": media}
    assert _answers(ours, **params) == _answers(theirs, **params)
