"""Reading a charge's words and numbers: the one module the catalog and subscriptions share.

Pure: values in, enum members and exact decimals out, or a :class:`DomainError`. The
rules behind a charge's terms (its vocabulary, what a stored price may be) are written
once here; two wire APIs reach them, and each keeps its own habits, which its clients
already see:

* the catalog (object API) is strict: a word is accepted only as stored
  (``Per Unit Pricing``), fields are named as on the object (``Price``), and a refusal
  reads "Price cannot be negative (-1).";
* subscriptions (REST API) are forgiving: every spelling Zuora uses somewhere is read
  (``PerUnit``, ``Per Unit Pricing``, ``per_unit``), fields are camelCase, and a refusal
  reads "Invalid value for price: ...". Neither a catalog price nor a subscription's
  price override may be negative.

Tiers are read by :mod:`billcycle.catalog.price_tiers`, a catalog charge as a whole by
:mod:`billcycle.catalog.charge_resolution`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

from billcycle.catalog.vocabulary import (
    BillCycleType,
    BillingPeriod,
    BillingTiming,
    ChargeModel,
    ChargeType,
    PriceFormat,
    TriggerEvent,
    WeekDay,
)
from billcycle.db.types import PRICE_SCALE
from billcycle.errors import InvalidValue, MissingField, RuleViolation
from billcycle.money import decimal_places

E = TypeVar("E", bound=StrEnum)
S = TypeVar("S", bound=str)

_ZERO = Decimal(0)
# Catalog prices and units are NUMERIC(28, 9): 19 integer digits, 9 decimals.
CATALOG_AMOUNT_LIMIT = Decimal(10) ** (28 - PRICE_SCALE)
# Subscription prices and quantities stay one digit smaller, leaving room to multiply
# a price by a quantity.
SUBSCRIPTION_AMOUNT_LIMIT = Decimal(10) ** 18


def _choices(values: Iterable[str]) -> str:
    return ", ".join(values)


# -- the catalog's strict reading ------------------------------------------------------------


def text(value: str | None, field: str, resource: str, max_len: int) -> str | None:
    """Trimmed text, None when empty."""
    if value is None:
        return None
    trimmed = value.strip()
    if len(trimmed) > max_len:
        raise InvalidValue(
            f"{field} is longer than {max_len} characters.", resource=resource, field=field
        )
    return trimmed or None


def required_text(value: str | None, field: str, resource: str, max_len: int) -> str:
    trimmed = text(value, field, resource, max_len)
    if trimmed is None:
        raise MissingField(f"{field} is required.", resource=resource, field=field)
    return trimmed


def choice(
    kind: type[E], value: str, field: str, resource: str, allowed: Sequence[E] | None = None
) -> E:
    """``value`` exactly as stored, among ``allowed`` (default: every member of ``kind``)."""
    members: Sequence[E] = allowed if allowed is not None else tuple(kind)
    for member in members:
        if member.value == value:
            return member
    raise InvalidValue(
        f"Invalid value for {field}: '{value}'. Allowed: {_choices(m.value for m in members)}.",
        resource=resource,
        field=field,
    )


def amount(value: Decimal, field: str, resource: str) -> Decimal:
    """A catalog price or unit count: finite, not negative, at most 9 decimals, fits
    NUMERIC(28,9)."""
    if not value.is_finite():
        raise InvalidValue(f"{field} must be a number.", resource=resource, field=field)
    if value < 0:
        raise InvalidValue(f"{field} cannot be negative ({value}).", resource=resource, field=field)
    if decimal_places(value) > PRICE_SCALE:
        raise InvalidValue(
            f"{field} {value} has more than {PRICE_SCALE} decimal places.",
            resource=resource,
            field=field,
        )
    if value >= CATALOG_AMOUNT_LIMIT:
        raise InvalidValue(f"{field} {value} is too large.", resource=resource, field=field)
    return value if value else _ZERO


def int_in_range(value: int, low: int, high: int, field: str, resource: str) -> int:
    if not low <= value <= high:
        raise InvalidValue(
            f"{field} must be between {low} and {high}, got {value}.",
            resource=resource,
            field=field,
        )
    return value


# -- the subscription API's forgiving reading --------------------------------------------------

# Zuora spells several words differently in its catalog and subscription APIs ("Flat Fee
# Pricing" / "FlatFee", "In Advance" / "IN_ADVANCE", "Semi-Annual" / "Semi_Annual"):
# accept every spelling, keep the stored one.


def _squash(value: str) -> str:
    return value.replace(" ", "").replace("_", "").replace("-", "").lower()


def _by_squashed(kind: type[E]) -> dict[str, E]:
    """Each member under its squashed value and its squashed name (``Flat Fee Pricing``
    and ``FlatFee`` both read as :attr:`ChargeModel.FlatFee`)."""
    table: dict[str, E] = {}
    for member in kind:
        table[_squash(member.value)] = member
        table[_squash(member.name)] = member
    return table


_TYPES = {t.value.lower(): t for t in ChargeType}
_MODELS = _by_squashed(ChargeModel)
_TIMINGS = _by_squashed(BillingTiming)
_PRICE_FORMATS = _by_squashed(PriceFormat)
_PERIODS = {p.value.lower(): p for p in BillingPeriod}


def _invalid(message: str, field: str | None, resource: str) -> InvalidValue:
    return InvalidValue(message, resource=resource, field=field)


def charge_type(value: str, *, resource: str) -> ChargeType:
    found = _TYPES.get(_squash(value))
    if found is None:
        raise RuleViolation(f"Charge type '{value}' is not supported.", resource=resource)
    return found


def charge_model(value: str, *, resource: str) -> ChargeModel:
    found = _MODELS.get(_squash(value))
    if found is None:
        raise RuleViolation(
            f"Charge model '{value}' is not supported: use one of "
            f"{_choices(m.value for m in ChargeModel)}.",
            resource=resource,
        )
    return found


def billing_timing(value: str, field: str = "billingTiming", *, resource: str) -> BillingTiming:
    found = _TIMINGS.get(_squash(value))
    if found is None:
        raise _invalid(
            f"Invalid value for {field}: '{value}'. Use IN_ADVANCE or IN_ARREARS.", field, resource
        )
    return found


def billing_period(value: str, field: str = "billingPeriod", *, resource: str) -> BillingPeriod:
    found = _PERIODS.get(value.strip().replace(" ", "_").replace("-", "_").lower())
    if found is None:
        raise _invalid(
            f"Invalid value for {field}: '{value}'. Supported billing periods: "
            f"{_choices(p.value for p in BillingPeriod)}.",
            field,
            resource,
        )
    return found


def price_format(value: str | None, field: str = "priceFormat", *, resource: str) -> PriceFormat:
    if value is None:
        return PriceFormat.PerUnit
    found = _PRICE_FORMATS.get(_squash(value))
    if found is None:
        raise _invalid(
            f"Invalid value for {field}: '{value}'. Use PerUnit or FlatFee.", field, resource
        )
    return found


def match_name(value: str, known: Sequence[S], field: str, *, resource: str) -> S:
    """``value`` spelled as in ``known`` (case-insensitively), or InvalidValue."""
    wanted = value.strip().lower()
    for name in known:
        if name.lower() == wanted:
            return name
    raise _invalid(
        f"Invalid value for {field}: '{value}'. Use one of {_choices(known)}.", field, resource
    )


def trigger_event(value: str, field: str = "triggerEvent", *, resource: str) -> TriggerEvent:
    return match_name(value, tuple(TriggerEvent), field, resource=resource)


def bill_cycle_type(value: str, field: str = "billCycleType", *, resource: str) -> BillCycleType:
    return match_name(value, tuple(BillCycleType), field, resource=resource)


def weekday(value: str, field: str = "weeklyBillCycleDay", *, resource: str) -> WeekDay:
    return match_name(value, tuple(WeekDay), field, resource=resource)


def exact_number(value: Decimal, field: str, *, resource: str, negative: bool = True) -> Decimal:
    """A subscription price, quantity or unit bound that the database stores exactly."""
    if not value.is_finite():
        raise _invalid(f"Invalid value for {field}: '{value}' is not a number.", field, resource)
    if decimal_places(value) > PRICE_SCALE:
        raise _invalid(
            f"Invalid value for {field}: {value} has more than {PRICE_SCALE} decimal places.",
            field,
            resource,
        )
    if abs(value) >= SUBSCRIPTION_AMOUNT_LIMIT:
        raise _invalid(f"Invalid value for {field}: {value} is too large.", field, resource)
    if not negative and value < 0:
        raise _invalid(f"Invalid value for {field}: {value} must not be negative.", field, resource)
    return value.normalize() if value else _ZERO
