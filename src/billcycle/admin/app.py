"""billcycle's admin API as a FastAPI sub-application mounted at ``/billcycle``.

Routes live under ``/v1``; the OpenAPI document is ``/billcycle/openapi.json`` and its
docs page ``/billcycle/docs``. Every error under the prefix is problem+json.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from billcycle.admin.errors import domain_problem, problem_response
from billcycle.errors import DomainError

log = logging.getLogger(__name__)

DESCRIPTION = """
billcycle's own API for operators: tenants and their credentials, and whatever else
neither the Zuora nor the Fusebill dialect has.

Make an operator key with `billcycle operator create NAME` and send
`Authorization: Bearer <operator key>`; tenant credentials are never accepted here.
Errors are RFC 9457 `application/problem+json`; lists are keyset-paged with
`?limit=&after=` and give the next page in `next` and a `Link` header.
"""

_PARAMETER_SOURCES = ("query", "path", "header")


def _field_problem(error: dict[str, Any]) -> dict[str, str]:
    loc = [str(part) for part in error.get("loc", ())]
    detail = str(error.get("msg", "invalid value"))
    if loc and loc[0] in _PARAMETER_SOURCES:
        return {"parameter": ".".join(loc[1:]), "detail": detail}
    path = loc[1:] if loc and loc[0] == "body" else loc
    return {"pointer": "#/" + "/".join(path) if path else "#", "detail": detail}


def validation_problem(request: Request, exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return problem_response(request.url.path, 400, "The request body is not valid JSON.")
    return problem_response(
        request.url.path,
        422,
        "The request has invalid values; see errors.",
        type_="urn:billcycle:problem:invalid-value",
        title="Invalid value",
        errors=[_field_problem(error) for error in errors],
    )


def _http_detail(exc: StarletteHTTPException) -> str:
    if exc.status_code == 404:
        return "No such resource."
    if exc.status_code == 405:
        return "The resource does not support this method."
    return str(exc.detail)


def create_admin_app() -> FastAPI:
    from billcycle.admin.routes.registry import ADMIN_ROUTERS

    app = FastAPI(
        title="billcycle — admin API",
        description=DESCRIPTION,
        version="v1",
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    for router in ADMIN_ROUTERS:
        app.include_router(router)

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, exc: DomainError) -> Response:
        return domain_problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        return validation_problem(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return problem_response(
            request.url.path, exc.status_code, _http_detail(exc), headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            request.url.path, 500, "An internal error occurred; it has been logged."
        )

    return app
