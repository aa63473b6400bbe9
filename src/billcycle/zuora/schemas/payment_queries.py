"""Query parameters of ``GET /v1/payments`` and ``GET /v1/refunds``: paging, filters named
after response fields, and ``sort``, read into the domain's PaymentQuery / RefundQuery.

Every bad value raises InvalidValue; the routes answer it as an invalid query parameter
(category 27). Filters on ``createdById``/``updatedById`` match nothing: billcycle records
no user ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, TypeVar

from fastapi import Query

from billcycle.errors import InvalidValue
from billcycle.ids import is_ascii_digits, parse_zuora_id
from billcycle.payments.inputs import PaymentQuery, RefundQuery, Span
from billcycle.payments.statuses import (
    PaymentSortField,
    PaymentStatus,
    PaymentType,
    RefundMethodType,
    RefundSortField,
    RefundStatus,
)
from billcycle.zuora.paging import MAX_PAGE_NUMBER

MAX_PAGE_SIZE = 40  # zuora-sdk's limit for payments and refunds
DEFAULT_PAGE_SIZE = 20
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
E = TypeVar("E", bound=StrEnum)

# The list parameters, read as text so that a bad value is answered as a bad query
# parameter (category 27) rather than FastAPI's own validation error.
PageText = Annotated[str | None, Query(description="Page number, a whole number from 1")]
PageSizeText = Annotated[
    str | None, Query(alias="pageSize", description="Records per page, 1 to 40")
]
SortText = Annotated[
    str | None,
    Query(description="Up to two of `[-|+]field`; `-` ascending. Default: `number` descending"),
]


def _bad(name: str, value: str, hint: str = "") -> InvalidValue:
    return InvalidValue(f"Invalid value for query parameter {name}: '{value}'.{hint}", field=name)


def page_of(params: Mapping[str, str]) -> tuple[int, int]:
    """``(page, pageSize)``: pages from 1, at most 40 records a page."""
    numbers = []
    for name, default, top in (
        ("page", 1, MAX_PAGE_NUMBER),
        ("pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
    ):
        raw = params.get(name)
        if raw is None:
            numbers.append(default)
            continue
        if not is_ascii_digits(raw.strip()) or int(raw) < 1 or (top is not None and int(raw) > top):
            limit = f" from 1 to {top}" if top else " of 1 or more"
            raise _bad(name, raw, f" Use a whole number{limit}.")
        numbers.append(int(raw))
    return numbers[0], numbers[1]


def _word(params: Mapping[str, str], name: str, words: type[E]) -> E | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return words(raw)
    except ValueError:
        raise _bad(name, raw, f" Use one of {', '.join(words)}.") from None


def _id(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    parsed = parse_zuora_id(raw.strip())
    if parsed is None:
        raise _bad(name, raw, " Use a 32-character id.")
    return parsed


def _amount(params: Mapping[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise _bad(name, raw, " Use a number.") from None
    if not value.is_finite():
        raise _bad(name, raw, " Use a number.")
    return value


def _date(params: Mapping[str, str], name: str) -> date | None:
    """A date filter; zuora-sdk sends date-time filters as ISO date-times, whose date is
    taken."""
    span = _span(params, name)
    return span.start.date() if span is not None else None


def _span(params: Mapping[str, str], name: str) -> Span | None:
    """A date-time filter: ``yyyy-mm-dd`` is that whole day (UTC); a date-time (``yyyy-mm-dd
    hh:mm:ss`` or ISO, as zuora-sdk sends it) is that second."""
    raw = params.get(name)
    if raw is None:
        return None
    text = raw.strip()
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(name, raw, " Use yyyy-mm-dd or yyyy-mm-dd hh:mm:ss.") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    instant = instant.astimezone(UTC)
    if _DATE.match(text):
        return Span(instant, instant + timedelta(days=1))
    start = instant.replace(microsecond=0)
    return Span(start, start + timedelta(seconds=1))


def _sort(raw: str | None, fields: type[E]) -> tuple[tuple[E, bool], ...]:
    """Zuora's ``sort``: at most two ``[operator]field`` terms, comma-separated; ``-``
    ascending, ``+`` or none descending (a raw ``+`` in a URL arrives as a space)."""
    if raw is None or not raw.strip():
        return ()
    terms = raw.split(",")
    if len(terms) > 2:
        raise _bad("sort", raw, " At most two sortable fields are allowed.")
    keys: list[tuple[E, bool]] = []
    for term in terms:
        text = term.lstrip(" ")
        descending = True
        if text[:1] == "-":
            descending, text = False, text[1:]
        elif text[:1] == "+":
            text = text[1:]
        try:
            field = fields(text.strip())
        except ValueError:
            raise _bad(
                "sort",
                raw,
                f" Sortable fields: {', '.join(fields)}, each optionally preceded "
                "by - (ascending) or + (descending).",
            ) from None
        if any(known == field for known, _ in keys):
            raise _bad("sort", raw, f" '{field}' is given twice.")
        keys.append((field, descending))
    return tuple(keys)


def _no_user_filter(params: Mapping[str, str]) -> bool:
    return params.get("createdById") is not None or params.get("updatedById") is not None


def payment_query(params: Mapping[str, str]) -> PaymentQuery:
    page, size = page_of(params)
    return PaymentQuery(
        account_id=_id(params, "accountId"),
        number=params.get("number"),
        currency=(params["currency"].strip().upper() if params.get("currency") else None),
        status=_word(params, "status", PaymentStatus),
        payment_type=_word(params, "type", PaymentType),
        amount=_amount(params, "amount"),
        applied_amount=_amount(params, "appliedAmount"),
        unapplied_amount=_amount(params, "unappliedAmount"),
        refund_amount=_amount(params, "refundAmount"),
        credit_balance_amount=_amount(params, "creditBalanceAmount"),
        effective_date=_date(params, "effectiveDate"),
        created=_span(params, "createdDate"),
        updated=_span(params, "updatedDate"),
        nothing=_no_user_filter(params),
        sort=_sort(params.get("sort"), PaymentSortField),
        offset=(page - 1) * size,
        limit=size,
    )


def refund_query(params: Mapping[str, str]) -> RefundQuery:
    page, size = page_of(params)
    return RefundQuery(
        account_id=_id(params, "accountId"),
        payment_id=_id(params, "paymentId"),
        number=params.get("number"),
        status=_word(params, "status", RefundStatus),
        refund_type=_word(params, "type", PaymentType),
        method_type=_word(params, "methodType", RefundMethodType),
        amount=_amount(params, "amount"),
        refund_date=_date(params, "refundDate"),
        created=_span(params, "createdDate"),
        updated=_span(params, "updatedDate"),
        nothing=_no_user_filter(params),
        sort=_sort(params.get("sort"), RefundSortField),
        offset=(page - 1) * size,
        limit=size,
    )
