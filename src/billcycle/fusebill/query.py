"""Fusebill request values: integer ids in paths, ``sortExpression`` and the ``query=``
filter, parsed into the neutral filter structure of :mod:`billcycle.invoicing.listing`.

Pure: no SQL, no I/O. Every malformed value raises :class:`InvalidValue` (400).

The ``query`` syntax, as Fusebill documents it (String Filtering, Date Filtering):

- ``field:value;field2:value2``: terms are ANDed; field names are case-insensitive;
- ``a,b``: a set, any alternative matches (alternatives may themselves be ranges);
- ``*``: any run of characters, text and enum fields only (``555*``, ``*Paid``);
- ``[empty]``: no value;
- ``lo|hi``, ``lo|``, ``|hi``: a range, for dates, timestamps and numbers. Dates and
  timestamps: lower bound inclusive, upper exclusive (``2018-01-01|2019-01-01`` is the
  year 2018). Numbers: both bounds inclusive (``50.00|180.00`` is "between").

An exact date or timestamp matches everything within its written precision:
``dueDate:2026-02-01`` is that day, ``postedTimestamp:2026-01-10T09:00:00`` that second.
Text matches ignore case; enum values are accepted in any case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Generic, TypeVar

from billcycle.errors import InvalidValue, NotFound
from billcycle.invoicing.listing import (
    Between,
    Condition,
    Equals,
    IsEmpty,
    Like,
    Match,
    Scalar,
)

F = TypeVar("F")

MAX_QUERY_LENGTH = 2_000
MAX_TERMS = 20
MAX_ALTERNATIVES = 100
EMPTY = "[empty]"
MAX_ID = 2**63 - 1

_INTEGER = re.compile(r"^\d{1,18}$", re.ASCII)
_SIGNED_INTEGER = re.compile(r"^[+-]?\d{1,40}$", re.ASCII)
_DECIMAL = re.compile(r"^[+-]?\d{1,18}(\.\d{1,12})?$", re.ASCII)
_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?$",
    re.ASCII,
)


class Kind(StrEnum):
    TEXT = "text"
    ENUM = "enum"
    INTEGER = "integer"
    DECIMAL = "number"
    TIMESTAMP = "timestamp"  # a date or a date and time


_DESCRIBED = {
    Kind.TEXT: "text",
    Kind.ENUM: "a list of values",
    Kind.INTEGER: "an integer",
    Kind.DECIMAL: "a number",
    Kind.TIMESTAMP: "a date",
}


@dataclass(frozen=True)
class QueryField(Generic[F]):
    """A field the ``query`` parameter may name.

    ``convert`` turns each parsed wire value into the domain's value (e.g. a Fusebill
    invoice number, an integer, into billcycle's ``INV00000012``); it must keep order.
    """

    name: str
    field: F
    kind: Kind
    choices: tuple[str, ...] = ()
    convert: Callable[[Scalar], Scalar] | None = None


def _invalid(message: str, field: str = "query") -> InvalidValue:
    return InvalidValue(message, field=field)


# -- ids -------------------------------------------------------------------------------


def parse_id(value: str, resource: str) -> int:
    """A Fusebill integer id from a path. Not an integer: 400; an integer that cannot be
    an id (zero, negative, too large): not found."""
    text = value.strip()
    if not _SIGNED_INTEGER.match(text):
        raise _invalid(f"Invalid {resource} id '{value}': ids are integers.", "id")
    number = int(text)
    if not 1 <= number <= MAX_ID:
        raise NotFound(f"{resource.capitalize()} {text} not found.", resource=resource)
    return number


# -- sorting ---------------------------------------------------------------------------


def parse_sort(
    expression: str | None, sortable: Sequence[tuple[str, F]], default: str
) -> tuple[str, F]:
    """``sortExpression``, case-insensitive, from a whitelist: (wire name, domain field)."""
    by_name = {name.casefold(): (name, field) for name, field in sortable}
    wanted = (expression or "").strip() or default
    found = by_name.get(wanted.casefold())
    if found is None:
        names = ", ".join(name for name, _ in sortable)
        raise _invalid(
            f"Invalid sortExpression '{wanted}'. Sortable fields: {names}.", "sortExpression"
        )
    return found


# -- values ----------------------------------------------------------------------------


def _timestamp(text: str, name: str) -> tuple[datetime, timedelta]:
    """A UTC instant and the precision it was written with."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise _invalid(
            f"Invalid query value for {name}: '{text}' is not a date (YYYY-MM-DD) or a "
            "timestamp (YYYY-MM-DDTHH:MM:SS)."
        )
    year, month, day, hour, minute, second, fraction = match.groups()
    precision = timedelta(days=1)
    if hour is not None:
        precision = timedelta(minutes=1)
    if second is not None:
        precision = timedelta(seconds=1)
    micro = 0
    if fraction is not None:
        digits = fraction[:6]
        micro = int(digits.ljust(6, "0"))
        precision = timedelta(microseconds=10 ** (6 - len(digits)))
    try:
        instant = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise _invalid(f"Invalid query value for {name}: '{text}' is not a valid date.") from exc
    return instant, precision


def _scalar(text: str, spec: QueryField[F]) -> Scalar:
    name = spec.name
    if spec.kind is Kind.INTEGER:
        if not _INTEGER.match(text):
            raise _invalid(f"Invalid query value for {name}: '{text}' is not a positive integer.")
        return int(text)
    if spec.kind is Kind.DECIMAL:
        if not _DECIMAL.match(text):
            raise _invalid(f"Invalid query value for {name}: '{text}' is not a number.")
        try:
            return Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the pattern excludes it
            raise _invalid(f"Invalid query value for {name}: '{text}' is not a number.") from exc
    if spec.kind is Kind.ENUM:
        by_folded = {choice.casefold(): choice for choice in spec.choices}
        canonical = by_folded.get(text.casefold())
        if canonical is None:
            raise _invalid(
                f"Invalid query value for {name}: '{text}' is not one of {', '.join(spec.choices)}."
            )
        return canonical
    if spec.kind is Kind.TIMESTAMP:
        return _timestamp(text, name)[0]
    return text


def _convert(value: Scalar | None, spec: QueryField[F]) -> Scalar | None:
    if value is None or spec.convert is None:
        return value
    return spec.convert(value)


def _range(text: str, spec: QueryField[F]) -> Match:
    if spec.kind not in (Kind.INTEGER, Kind.DECIMAL, Kind.TIMESTAMP):
        raise _invalid(
            f"Invalid query for {spec.name}: ranges (lo|hi) apply to dates, timestamps and "
            f"numbers, and {spec.name} is {_DESCRIBED[spec.kind]}."
        )
    low_text, _, high_text = (part.strip() for part in text.partition("|"))
    if "|" in high_text:
        raise _invalid(f"Invalid query for {spec.name}: '{text}' has more than one '|'.")
    if not low_text and not high_text:
        raise _invalid(f"Invalid query for {spec.name}: a range needs at least one bound.")
    low = _scalar(low_text, spec) if low_text else None
    high = _scalar(high_text, spec) if high_text else None
    inclusive = spec.kind is not Kind.TIMESTAMP
    return Between(_convert(low, spec), _convert(high, spec), upper_inclusive=inclusive)


def _alternative(text: str, spec: QueryField[F]) -> Match:
    if not text:
        raise _invalid(f"Invalid query for {spec.name}: a value is missing.")
    if text.casefold() == EMPTY:
        return IsEmpty()
    if "|" in text:
        return _range(text, spec)
    if "*" in text:
        if spec.kind not in (Kind.TEXT, Kind.ENUM):
            raise _invalid(
                f"Invalid query for {spec.name}: wildcards (*) apply to text fields, and "
                f"{spec.name} is {_DESCRIBED[spec.kind]}."
            )
        return Like(text)
    if spec.kind is Kind.TIMESTAMP:
        instant, precision = _timestamp(text, spec.name)
        # An exact date or time covers what it names, to the precision it was written;
        # the last day of the calendar (9999-12-31) has no day after it: no upper bound.
        try:
            end: datetime | None = instant + precision
        except OverflowError:
            end = None
        return Between(_convert(instant, spec), _convert(end, spec))
    value = _convert(_scalar(text, spec), spec)
    assert value is not None
    return Equals(value)


def parse_query(text: str | None, fields: Sequence[QueryField[F]]) -> list[Condition[F]]:
    """``field:value;field2:value2`` into ANDed conditions, each an OR of alternatives."""
    if text is None or not text.strip():
        return []
    if len(text) > MAX_QUERY_LENGTH:
        raise _invalid(f"Invalid query: longer than {MAX_QUERY_LENGTH} characters.")
    by_name: Mapping[str, QueryField[F]] = {spec.name.casefold(): spec for spec in fields}
    terms = [term.strip() for term in text.split(";") if term.strip()]
    if len(terms) > MAX_TERMS:
        raise _invalid(f"Invalid query: at most {MAX_TERMS} field:value terms are allowed.")
    conditions: list[Condition[F]] = []
    for term in terms:
        name, colon, value = term.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not name:
            raise _invalid(f"Invalid query term '{term}': use field:value.")
        spec = by_name.get(name.casefold())
        if spec is None:
            known = ", ".join(spec.name for spec in fields)
            raise _invalid(f"Invalid query: cannot filter on '{name}'. Filterable fields: {known}.")
        if not value:
            raise _invalid(f"Invalid query for {spec.name}: a value is missing.")
        parts = value.split(",")
        if len(parts) > MAX_ALTERNATIVES:
            raise _invalid(
                f"Invalid query for {spec.name}: at most {MAX_ALTERNATIVES} values in a set."
            )
        alternatives = tuple(_alternative(part.strip(), spec) for part in parts)
        conditions.append(Condition(spec.field, alternatives))
    return conditions
