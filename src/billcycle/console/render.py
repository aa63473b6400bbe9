"""Drawing console pages: one Jinja2 environment (autoescaped), the layout's values
(the signed-in person, the CSRF token, the request id, a one-time notice), and redirects
after a form that carry their notice in a short-lived signed cookie."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from billcycle.console import format as fmt
from billcycle.console.session import (
    CSRF_FIELD,
    FLASH_COOKIE,
    current_viewer,
    read_flash,
    set_flash,
)

TEMPLATES = Path(__file__).parent / "templates"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.globals.update(
    money=fmt.money,
    amount=fmt.amount,
    day=fmt.day,
    percent=fmt.percent,
    quantity=fmt.quantity,
    csrf_field=CSRF_FIELD,
)
SECURITY_HEADERS = {
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: https:; style-src 'self'; "
        "script-src 'self'; frame-ancestors 'self'; form-action 'self'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
}


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def url_with(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters changed (None drops one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


def render_text(template: str, request: Request, **values: Any) -> str:
    viewer = current_viewer(request)
    zone = viewer.zone if viewer is not None else None
    context = {
        "request": request,
        "viewer": viewer,
        "request_id": request_id(request),
        "url_with": lambda **c: url_with(request, **c),
        "instant": (lambda v: fmt.instant(v, zone)) if zone else (lambda v: str(v or "")),
        "path": request.url.path,
        # Drawn inside another page's frame (the invoice document): no navigation.
        "embedded": request.headers.get("sec-fetch-dest") == "iframe",
    } | values
    return _ENV.get_template(template).render(context)


def page(request: Request, template: str, code: int = 200, **values: Any) -> HTMLResponse:
    flash = read_flash(request)
    html = render_text(template, request, flash=flash, **values)
    response = HTMLResponse(html, status_code=code, headers=SECURITY_HEADERS)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def fragment(request: Request, template: str, **values: Any) -> HTMLResponse:
    return HTMLResponse(render_text(template, request, **values), headers=SECURITY_HEADERS)


def redirect(
    request: Request, url: str, *, notice: str | None = None, error: str | None = None
) -> Response:
    response = RedirectResponse(url, status_code=303)
    if error is not None:
        set_flash(request, response, "error", error)
    elif notice is not None:
        set_flash(request, response, "notice", notice)
    return response
