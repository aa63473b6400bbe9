"""billcycle's admin API as a FastAPI sub-application mounted at ``/billcycle``.

Routes live under ``/v1``; the OpenAPI document is ``/billcycle/openapi.json`` and its
docs page ``/billcycle/docs``. Every error under the prefix is problem+json.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from billcycle.admin.errors import MEDIA_TYPE, domain_problem, problem_response
from billcycle.errors import DomainError
from billcycle.ids import is_ascii_digits

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


def problem_media(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The app's ``openapi`` with every error response filed under
    ``application/problem+json``, the media type it is sent with (FastAPI files a
    response model under ``application/json``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if (
                        is_ascii_digits(status)
                        and int(status) >= 400
                        and "application/json" in content
                    ):
                        response["content"] = {MEDIA_TYPE: content["application/json"]}
        return schema

    return openapi


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
    app.openapi = problem_media(app)  # type: ignore[method-assign]

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
