"""Domain errors with stable, dialect-neutral kinds.

Services raise these; each HTTP dialect renders them in its own envelope (Zuora
``success/reasons`` with an 8-digit code, Fusebill ``ErrorId/HttpStatusCode/Errors``).
The ``kind`` decides the category (and so the HTTP status); ``resource`` lets the Zuora
dialect pick its 6-digit resource code.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    PERMISSION = "permission"  # 403
    AUTHENTICATION = "authentication"  # 401
    INVALID_VALUE = "invalid_value"  # 400
    UNKNOWN_FIELD = "unknown_field"  # 400
    MISSING_FIELD = "missing_field"  # 400
    RULE = "rule"  # business rule broken: Zuora 400, Fusebill 409 unless told otherwise
    NOT_FOUND = "not_found"  # 404
    CONFLICT = "conflict"  # locking contention 409
    OVER_LIMIT = "over_limit"  # 429 / quota
    TOO_LARGE = "too_large"  # 413


class DomainError(Exception):
    kind: ErrorKind = ErrorKind.INVALID_VALUE

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        field: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.field = field
        # A dialect-specific status override (e.g. Fusebill answers 400 for some rules).
        self.http_status = http_status


class InvalidValue(DomainError):
    kind = ErrorKind.INVALID_VALUE


class MissingField(DomainError):
    kind = ErrorKind.MISSING_FIELD


class UnknownField(DomainError):
    kind = ErrorKind.UNKNOWN_FIELD


class RuleViolation(DomainError):
    kind = ErrorKind.RULE


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND


class Conflict(DomainError):
    kind = ErrorKind.CONFLICT


class OverLimit(DomainError):
    kind = ErrorKind.OVER_LIMIT


class NotAuthenticated(DomainError):
    kind = ErrorKind.AUTHENTICATION


class Forbidden(DomainError):
    kind = ErrorKind.PERMISSION


class PayloadTooLarge(DomainError):
    kind = ErrorKind.TOO_LARGE
