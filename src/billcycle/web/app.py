"""The root ASGI app: ``/zuora``, ``/fusebill``, the admin API ``/billcycle`` and the hosted
card page ``/pay/card`` over one runtime."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware, IdentityResponder
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from billcycle import __version__
from billcycle.admin.app import create_admin_app
from billcycle.admin.errors import problem_response
from billcycle.console.app import create_console_app
from billcycle.console.docs import serve_docs_locally
from billcycle.fusebill.app import create_fusebill_app
from billcycle.fusebill.errors import error_response as fusebill_error
from billcycle.ratelimits.counter import WindowCounter
from billcycle.ratelimits.service import RateLimiter
from billcycle.runtime import Runtime
from billcycle.tenancy.tokens import TokenSigner, load_signing_key
from billcycle.web import card_capture, observability, units
from billcycle.web.observability import ObservabilityMiddleware
from billcycle.zuora.app import create_zuora_app
from billcycle.zuora.errors import error_response as zuora_error
from billcycle.zuora.hot_reads import HotReadsFront, hot_shaped
from billcycle.zuora.hot_writes import HotWritesFront, hot_write_shaped

# A server process's youngest-generation GC threshold (Python's default: 700); see
# freeze_startup_objects.
SERVER_GC_THRESHOLD = 20_000
# Zuora compresses responses "that contain over 1000 bytes".
GZIP_MINIMUM_SIZE = 1001
# zlib's fastest level (nginx's default, ``gzip_comp_level 1``), not Starlette's 9: on a
# bulk job's answer (JSON records) level 9 took ~4x the CPU for ~8% fewer bytes, ~1.9 s of
# a million-record Process answer's ~2.6 s of rendering (docs/benchmarks.md, "BulkPayment,
# seventh round (session 8, bulkpay)").
GZIP_LEVEL = 1


class _Identity(IdentityResponder):
    """Starlette's identity responder (the answer as is, ``Vary: Accept-Encoding`` past
    the minimum size) without normalising the excluded content types again for every
    request: that was ~10% of a hot GET's Python (docs/benchmarks.md, "GET bill run
    latency, fifth round")."""

    def __init__(
        self, app: ASGIApp, minimum_size: int, *, exclude_content_types: tuple[str, ...]
    ) -> None:
        super().__init__(app, minimum_size, exclude_content_types=())
        self.exclude_content_types = exclude_content_types  # normalised once, by GZip


class GZip(GZipMiddleware):
    """Starlette's gzip middleware; a request that does not accept gzip goes to
    :class:`_Identity` (the same responder, the same bytes)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _accepts_gzip(scope):
            await _Identity(
                self.app, self.minimum_size, exclude_content_types=self.exclude_content_types
            )(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _accepts_gzip(scope: Scope) -> bool:
    """As ``GZipMiddleware``: "gzip" in the first ``Accept-Encoding`` header."""
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            return b"gzip" in value
    return False


def _body_error(scope: Scope, status: int, message: str) -> Response:
    path: str = scope.get("path", "")
    if path.startswith("/zuora"):
        category = 45 if status == 415 else 60 if status >= 500 else 40 if status == 404 else 90
        category = 20 if status == 400 else category
        return zuora_error(Request(scope), category, message, status=status)
    if path.lower().startswith("/fusebill"):
        return fusebill_error(status, message)
    if path.startswith("/billcycle/"):
        return problem_response(path, status, message)
    return JSONResponse({"detail": message}, status_code=status)


def for_server(app: ASGIApp) -> ASGIApp:
    """The app as a server runs it: an unexpected error leaves the connection usable
    (see :class:`billcycle.web.limits.ContainErrors`)."""
    from billcycle.web.limits import ContainErrors

    return ContainErrors(app, render_error=_body_error)


def freeze_startup_objects() -> None:
    """Move everything a server process built at start-up (modules, models, routes, the
    OpenAPI machinery: ~180,000 objects) out of the garbage collector's reach.

    They live as long as the process, yet every full collection walked them all: a
    90 ms pause under load, a few times a minute, which was most of the p99 latency.
    Only for server processes (``billcycle serve``): tests build many apps in one
    process and must keep collecting them.

    The youngest generation's threshold is raised too (``SERVER_GC_THRESHOLD``): a
    request's objects are freed by reference counting, but with 64 requests in flight
    the allocations since the last collection passed Python's default 700 every ~25
    GETs, and each collection walked the requests in flight and moved them to older
    generations, to be walked again by the fuller collections: ~5% of a process's CPU
    under a GET load and its longest pauses. Cyclic garbage still gets collected, after
    ``SERVER_GC_THRESHOLD`` allocations instead of 700 (docs/benchmarks.md, "GET bill
    run on PostgreSQL (session 8, pgget)").
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(SERVER_GC_THRESHOLD, older, oldest)
    from billcycle.documents.warmup import start_pdf_warm_up

    start_pdf_warm_up()  # the first invoice PDF would pay ~3 s of font start-up


def build_rate_limiter(runtime: Runtime) -> RateLimiter:
    settings = runtime.settings
    return RateLimiter(
        WindowCounter(settings.rate_limit_file),
        runtime.session_factory,
        runtime.machine_clock,
        default_per_tenant=settings.rate_limit_per_minute,
        default_per_client=settings.client_rate_limit_per_minute,
    )


class _Root(FastAPI):
    """The root app. A GET shaped like a hot read (``zuora.hot_reads``: a bill run by id,
    no query) enters the app's own middleware (observability, head limits, the body
    guard, gzip, the hot front: every layer a request passes) directly, without
    FastAPI's wrappers above them: its telemetry check (which asks OpenTelemetry for its
    three global providers on every request; billcycle configures none), its server
    error middleware and its body-limit middleware (no limit is set: the body guard
    below enforces billcycle's). Those wrappers cost a hot GET about as much as
    answering it from a kept answer (docs/benchmarks.md, "GET bill run on PostgreSQL
    (session 7, pgget)"). A server still wraps the whole app in
    ``web.limits.ContainErrors`` (an unexpected error answers a 500 and keeps the
    connection), and a hot-shaped GET the front does not take (a bad ``Zuora-Version``
    header) goes on down the same stack to the router."""

    _hot_stack: ASGIApp | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        # The outermost of the app's own middleware, as FastAPI built it into the stack.
        outermost: Any = self.user_middleware[0].cls if self.user_middleware else None
        found: Any = stack
        for _ in range(8):
            if outermost is not None and type(found) is outermost:
                self._hot_stack = found
                break
            found = getattr(found, "app", None)
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and (
                (
                    scope["method"] == "GET"
                    and not scope["query_string"]
                    and hot_shaped(scope["path"])
                )
                or hot_write_shaped(scope)
            )
            and not self.root_path
            and not scope.get("root_path")
        ):
            if self.middleware_stack is None:
                self.middleware_stack = self.build_middleware_stack()
            hot = self._hot_stack
            if hot is not None:
                scope["app"] = self
                await hot(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(runtime: Runtime) -> FastAPI:
    units.prepare_writers(runtime.engine)
    signing_key = load_signing_key(runtime.session_factory, runtime.settings.secret_key)
    signer = TokenSigner(signing_key, runtime.settings.access_token_ttl_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    app = _Root(
        title="billcycle", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    zuora = create_zuora_app()
    fusebill = create_fusebill_app()
    admin = create_admin_app()
    limiter = build_rate_limiter(runtime)
    for sub in (app, zuora, fusebill, admin):
        sub.state.runtime = runtime
        sub.state.token_signer = signer
        sub.state.signing_key = signing_key
        sub.state.rate_limiter = limiter
    app.include_router(card_capture.router)
    app.include_router(observability.router)
    app.mount("/zuora", zuora)
    app.mount("/fusebill", fusebill)
    app.mount("/billcycle", admin)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # The operator's console answers every path the others leave (mounted last).
    for documented in (zuora, fusebill, admin):
        serve_docs_locally(documented)
    app.mount("/", create_console_app(runtime, signing_key))

    # Innermost: the polled reads, answered before the router and the /zuora mount, inside
    # the layers every request passes (billcycle.zuora.hot_reads).
    app.add_middleware(HotReadsFront, zuora=zuora)
    # Inside it, the hot write (billcycle.zuora.hot_writes: POST /zuora/v1/accounts).
    app.add_middleware(HotWritesFront, zuora=zuora)
    # Outermost first: the body guard must see the raw (possibly gzipped) request.
    from billcycle.web.body import RequestBodyMiddleware

    app.add_middleware(GZip, minimum_size=GZIP_MINIMUM_SIZE, compresslevel=GZIP_LEVEL)
    app.add_middleware(
        RequestBodyMiddleware,
        max_bytes=runtime.settings.max_body_bytes,
        render_error=_body_error,
        max_string_chars=runtime.settings.max_string_chars,
    )
    # Outermost: a request head past the caps is refused before anything reads it.
    from billcycle.web.limits import HeaderLimitMiddleware

    app.add_middleware(
        HeaderLimitMiddleware,
        max_bytes=runtime.settings.max_header_bytes,
        max_count=runtime.settings.max_header_count,
        max_line_bytes=runtime.settings.max_request_line_bytes,
        render_error=_body_error,
    )
    # Outermost of all: counts and logs every request, the body guard's answers too.
    app.add_middleware(ObservabilityMiddleware, log_requests=runtime.settings.log_requests)
    return app
