"""Domain errors with stable, dialect-neutral kinds.

Services raise these; each HTTP dialect renders them in its own envelope (Zuora
``success/reasons`` with an 8-digit code, Fusebill ``ErrorId/HttpStatusCode/Errors``).
The ``kind`` decides the category (and so the HTTP status); ``resource`` lets the Zuora
dialect pick its 6-digit resource code; ``code`` names the few specific errors that a
dialect answers differently from the rest of their kind (each dialect keeps its own
table, e.g. Fusebill answers 400 where its kind would be 409).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import StrEnum


class ErrorKind(StrEnum):
    PERMISSION = "permission"  # 403
    AUTHENTICATION = "authentication"  # 401
    INVALID_VALUE = "invalid_value"  # 400
    UNKNOWN_FIELD = "unknown_field"  # 400
    MISSING_FIELD = "missing_field"  # 400
    RULE = "rule"  # business rule broken: Zuora 400, Fusebill 409 (400 for some codes)
    NOT_FOUND = "not_found"  # 404
    CONFLICT = "conflict"  # locking contention 409
    OVER_LIMIT = "over_limit"  # 429 / quota
    TOO_LARGE = "too_large"  # 413


class ErrorCode(StrEnum):
    """Stable names of specific errors, for dialects that treat them apart from their kind."""

    # A bulk job's status does not allow the action asked for.
    BULK_JOB_STATUS = "bulk_job_status"
    # An amount that must be an invoice's full balance is not.
    AMOUNT_NOT_FULL_BALANCE = "amount_not_full_balance"
    # An amount applied to an invoice exceeds its balance.
    AMOUNT_EXCEEDS_BALANCE = "amount_exceeds_balance"
    # A payment gateway declined the transaction the request asked for.
    GATEWAY_DECLINED = "gateway_declined"


class DomainError(Exception):
    kind: ErrorKind = ErrorKind.INVALID_VALUE

    def __init__(
        self,
        message: str,
        *,
        resource: str | None = None,
        field: str | None = None,
        code: ErrorCode | None = None,
        ids: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.field = field
        self.code = code
        # Object ids named in ``message`` as ``{name}`` placeholders: the domain knows
        # ids as integers; only a dialect knows how its clients write them (Zuora: 32
        # hex digits, Fusebill: the integer), so the dialect renders the message.
        self.ids: Mapping[str, int] = ids or {}

    def render(self, format_id: Callable[[int], str] = str) -> str:
        """The message with its ids written as a dialect writes them."""
        if not self.ids:
            return wire_text(self.message)
        return wire_text(self.message.format_map({k: format_id(v) for k, v in self.ids.items()}))

    def __str__(self) -> str:
        return self.render()


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


def wire_text(text: str) -> str:
    """``text`` as UTF-8 can carry it: a lone surrogate (``"\\ud800"``) that a message
    echoes from the request becomes U+FFFD, so writing the error never fails."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")

# Past this many digits either side of the point, a number is shown in scientific form.
_POSITIONAL_DIGITS = 40


def shown_number(value: Decimal) -> str:
    """``value`` as an error message may echo it: positional (``0.125``, ``-5``) when that
    is short, otherwise as the request wrote it (``1E+999999999``). ``format(value, "f")``
    of a number from the wire can be a gigabyte of zeros (``1e999999999``, ``1e-999999999``)."""
    if value.is_finite():
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        if exponent > -_POSITIONAL_DIGITS and value.adjusted() < _POSITIONAL_DIGITS:
            return format(value, "f")
    return str(value)
