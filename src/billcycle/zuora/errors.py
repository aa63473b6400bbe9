"""Zuora's error envelope and 8-digit codes (6-digit resource code + 2-digit category).

Clients sending a ``Zuora-Version`` older than 2024-05-20 get the legacy behaviour
(HTTP 200 with ``success: false``); everyone else gets the status the category implies.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from billcycle.errors import DomainError, ErrorCode, ErrorKind, wire_text
from billcycle.ids import to_zuora_id

CATEGORY_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.PERMISSION: 10,
    ErrorKind.AUTHENTICATION: 11,
    ErrorKind.INVALID_VALUE: 20,
    ErrorKind.UNKNOWN_FIELD: 21,
    ErrorKind.MISSING_FIELD: 22,
    ErrorKind.RULE: 30,
    ErrorKind.NOT_FOUND: 40,
    ErrorKind.CONFLICT: 50,
    ErrorKind.OVER_LIMIT: 70,
    ErrorKind.TOO_LARGE: 90,
}

STATUS_BY_CATEGORY: dict[int, int] = {
    10: 403,
    11: 401,
    20: 400,
    21: 400,
    22: 400,
    23: 400,
    27: 400,
    30: 400,
    40: 404,
    45: 405,
    50: 409,
    60: 500,
    61: 500,
    70: 429,
    90: 400,
    # A payment gateway refused a transaction; 402 as Zuora's Payment Form answers a
    # declined transaction.
    99: 402,
}

# Error category 99, "integration error": an outside system (a payment gateway) failed
# the request.
GATEWAY_FAILURE = 99

# Stable 6-digit resource codes for billcycle's Zuora dialect.
RESOURCE_CODES: dict[str, int] = {
    "generic": 500000,
    "auth": 500001,
    "product": 500100,
    "product_rate_plan": 500110,
    "product_rate_plan_charge": 500120,
    "catalog": 500130,
    "account": 500200,
    "contact": 500210,
    "subscription": 500300,
    "invoice": 500400,
    "invoice_item": 500410,
    "billing_document": 500420,
    "bill_run": 531003,
    "payment": 500500,
    "payment_run": 500510,
    "payment_method": 500530,
    "payment_gateway": 500540,
    "refund": 500520,
}


def error_code(resource: str | None, category: int) -> int:
    return RESOURCE_CODES.get(resource or "generic", RESOURCE_CODES["generic"]) * 100 + category


def envelope(request_id: str, reasons: list[tuple[int, str]]) -> dict[str, Any]:
    return {
        "success": False,
        "processId": secrets.token_hex(8).upper(),
        "requestId": request_id,
        "reasons": [{"code": code, "message": message} for code, message in reasons],
    }


def request_id_of(request: Request) -> str:
    rid = getattr(request.state, "zuora_request_id", None)
    return rid if isinstance(rid, str) else str(uuid.uuid4())


def is_legacy(request: Request) -> bool:
    return bool(getattr(request.state, "zuora_legacy", False))


def error_response(
    request: Request,
    category: int,
    message: str,
    *,
    resource: str | None = None,
    status: int | None = None,
) -> JSONResponse:
    http_status = status or STATUS_BY_CATEGORY[category]
    body = envelope(request_id_of(request), [(error_code(resource, category), wire_text(message))])
    if is_legacy(request) and http_status not in (401, 413, 415):
        http_status = 200
    return JSONResponse(body, status_code=http_status)


def domain_error_response(request: Request, exc: DomainError) -> JSONResponse:
    category = (
        GATEWAY_FAILURE if exc.code is ErrorCode.GATEWAY_DECLINED else CATEGORY_BY_KIND[exc.kind]
    )
    status = 413 if exc.kind is ErrorKind.TOO_LARGE else None
    return error_response(
        request, category, exc.render(to_zuora_id), resource=exc.resource, status=status
    )
