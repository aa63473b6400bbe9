"""Fusebill's error envelope.

``{"ErrorId":0,"HttpStatusCode":N,"Errors":[{"Key":"Api Error","Value":"..."}]}``

Statuses: 400 malformed request, 401 bad key, 404 not found (or feature not enabled),
409 a valid request that breaks a business rule, 413 body too large.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from billcycle.errors import DomainError, ErrorCode, ErrorKind, wire_text

STATUS_BY_KIND: dict[ErrorKind, int] = {
    ErrorKind.PERMISSION: 403,
    ErrorKind.AUTHENTICATION: 401,
    ErrorKind.INVALID_VALUE: 400,
    ErrorKind.UNKNOWN_FIELD: 400,
    ErrorKind.MISSING_FIELD: 400,
    ErrorKind.RULE: 409,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.OVER_LIMIT: 429,
    ErrorKind.TOO_LARGE: 413,
}

# Specific errors Fusebill answers apart from their kind: these rules break on what the
# request itself says (a bulk job's status named in the call, an amount that Fusebill's
# reference requires to be the full balance), so Fusebill calls them bad requests.
STATUS_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.BULK_JOB_STATUS: 400,
    ErrorCode.AMOUNT_NOT_FULL_BALANCE: 400,
    ErrorCode.AMOUNT_EXCEEDS_BALANCE: 400,
}


def error_body(status: int, message: str) -> dict[str, object]:
    return {
        "ErrorId": 0,
        "HttpStatusCode": status,
        "Errors": [{"Key": "Api Error", "Value": wire_text(message)}],
    }


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status)


def domain_error_response(exc: DomainError) -> JSONResponse:
    by_code = STATUS_BY_CODE.get(exc.code) if exc.code is not None else None
    status = by_code if by_code is not None else STATUS_BY_KIND[exc.kind]
    return error_response(status, exc.render(str))
