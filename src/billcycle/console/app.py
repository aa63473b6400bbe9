"""The console sub-app, mounted at ``/`` after the API dialects: its pages, its static
files (htmx, styles, Swagger UI's assets for the API docs), a request id on every
response, and error pages that never show a traceback."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billcycle.console.render import page, redirect
from billcycle.console.session import Refused, SignInRequired
from billcycle.errors import DomainError, ErrorKind
from billcycle.runtime import Runtime

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"

_STATUS = {
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.PERMISSION: 403,
    ErrorKind.AUTHENTICATION: 403,
}
_TITLES = {
    400: "That did not work",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    500: "Something went wrong",
}


class RequestIdMiddleware:
    """Gives every request an id (``request.state.request_id``, ``X-Request-Id``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


def error_page(request: Request, status: int, message: str) -> Response:
    response = page(
        request,
        "error.html.j2",
        code=status,
        status_code=status,
        title=_TITLES.get(status, "Error"),
        message=message,
    )
    # A 500 is answered outside the request-id middleware: name the id here too.
    rid = str(request.scope.get("state", {}).get("request_id", ""))
    if rid and status == 500:
        response.headers["X-Request-Id"] = rid
    return response


def create_console_app(runtime: Runtime, signing_key: str) -> FastAPI:
    from billcycle.console.pages.registry import ROUTERS

    app = FastAPI(title="billcycle console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    app.state.signing_key = signing_key
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def on_signin(request: Request, _exc: SignInRequired) -> Response:
        if request.method == "GET" and not request.headers.get("hx-request"):
            nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response = redirect(request, f"/signin?next={_quote(nxt)}")
            return response
        return error_page(request, 403, "Your session has ended: sign in again.")

    @app.exception_handler(Refused)
    async def on_refused(request: Request, exc: Refused) -> Response:
        return error_page(request, 403, exc.message)

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, exc: DomainError) -> Response:
        return error_page(request, _STATUS.get(exc.kind, 400), str(exc))

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "The request is invalid."
        status = 404 if first.get("loc", ("",))[0] == "path" else 400
        return error_page(request, status, "No such page." if status == 404 else message)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(request, 404, "There is no page at this address.")
        return error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        rid = request.scope.get("state", {}).get("request_id", "")
        log.exception(
            "console: unhandled error on %s %s (request %s)", request.method, request.url.path, rid
        )
        return error_page(
            request, 500, "The console could not draw this page; the error has been logged."
        )

    app.add_middleware(RequestIdMiddleware)
    return app


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
