"""RFC 9457 problem details (``application/problem+json``) for every error under the
prefix: domain errors, validation errors, HTTP errors (401, 404, 405, ...) and 500s.

``type`` is ``about:blank`` when the status says it all (then ``title`` is the status
phrase, as the RFC asks) and ``urn:billcycle:problem:<kind>`` for domain errors, whose
stable kinds are listed in docs/admin-api.md. ``instance`` is the request's path.
Field validation adds ``errors``: ``[{"pointer": "#/name", "detail": "..."}]`` (JSON
Pointer into the body) or ``[{"parameter": "limit", "detail": "..."}]`` for the query.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from billcycle.errors import DomainError, ErrorKind, wire_text

MEDIA_TYPE = "application/problem+json"

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.PERMISSION: 403,
    ErrorKind.AUTHENTICATION: 401,
    ErrorKind.INVALID_VALUE: 422,
    ErrorKind.UNKNOWN_FIELD: 422,
    ErrorKind.MISSING_FIELD: 422,
    ErrorKind.RULE: 409,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.OVER_LIMIT: 429,
    ErrorKind.TOO_LARGE: 413,
}

TITLE_BY_KIND: dict[ErrorKind, str] = {
    ErrorKind.PERMISSION: "Forbidden",
    ErrorKind.AUTHENTICATION: "Not authenticated",
    ErrorKind.INVALID_VALUE: "Invalid value",
    ErrorKind.UNKNOWN_FIELD: "Unknown field",
    ErrorKind.MISSING_FIELD: "Missing field",
    ErrorKind.RULE: "Business rule violated",
    ErrorKind.NOT_FOUND: "Not found",
    ErrorKind.CONFLICT: "Conflict",
    ErrorKind.OVER_LIMIT: "Over limit",
    ErrorKind.TOO_LARGE: "Too large",
}

# Sent with every 401, as RFC 9110 requires.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="billcycle admin"'}


def problem_type(kind: ErrorKind) -> str:
    return f"urn:billcycle:problem:{kind.value.replace('_', '-')}"


def problem_response(
    instance: str,
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": wire_text(detail),
        "instance": instance,
    }
    if errors:
        body["errors"] = errors
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.update(CHALLENGE)
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=all_headers,
    )


def domain_problem(request: Request, exc: DomainError) -> Response:
    """Ids in the message are billcycle's integers, as everywhere in this API."""
    detail = exc.render(str)
    errors = [{"pointer": f"#/{exc.field}", "detail": detail}] if exc.field else None
    return problem_response(
        request.url.path,
        # A kind added later and not mapped yet is still a client error, not a 500.
        STATUS_BY_KIND.get(exc.kind, 400),
        detail,
        type_=problem_type(exc.kind),
        title=TITLE_BY_KIND.get(exc.kind),
        errors=errors,
    )
