"""API docs pages (Swagger UI) whose script and styles are served by the console from
``static/swagger-ui/`` (Swagger UI 5, vendored from npm, see its README): the docs work on
a machine without internet access."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

SWAGGER_PREFIX = "/static/swagger-ui"


def serve_docs_locally(app: FastAPI) -> None:
    """Replaces ``app``'s ``/docs`` (FastAPI's, which loads Swagger UI from a CDN)."""
    docs_url, openapi_url, title = app.docs_url, app.openapi_url, app.title
    if docs_url is None or openapi_url is None:
        return
    app.router.routes[:] = [
        r for r in app.router.routes if not (isinstance(r, Route) and r.path == docs_url)
    ]

    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{SWAGGER_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_PREFIX}/favicon-32x32.png",
        )

    app.add_route(docs_url, docs, include_in_schema=False)
