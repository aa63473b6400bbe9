"""Exact money: Decimal amounts, ISO 4217 currencies and the one rounding rule.

Every amount that reaches an invoice goes through :func:`round_money`, so the whole
engine rounds the same way (half-up to the currency's minor unit). Amounts are stored
as integer minor units (:func:`to_minor` / :func:`from_minor`) so SQL sums stay exact
on SQLite as well as PostgreSQL.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

import pycountry
from babel.numbers import get_currency_precision

from billcycle.errors import InvalidValue

ZERO = Decimal(0)

# Currencies ISO 4217 marks as funds, precious metals or testing codes: not billable.
_NON_BILLABLE = frozenset(
    {"XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XTS", "XXX"}
)


@cache
def _billable_currencies() -> frozenset[str]:
    # pycountry carries the current ISO 4217 list (withdrawn codes such as DEM are gone);
    # babel (CLDR) carries the minor units.
    return frozenset(c.alpha_3 for c in pycountry.currencies if c.alpha_3 not in _NON_BILLABLE)


def normalize_currency(code: str) -> str:
    """Upper-case and validate an ISO 4217 code, raising a domain error for unknown ones."""
    upper = code.strip().upper()
    if upper not in _billable_currencies():
        raise InvalidValue(f"Invalid currency: '{code}' is not an ISO 4217 currency code.")
    return upper


@cache
def minor_unit_exponent(currency: str) -> int:
    """Digits after the decimal point of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    return int(get_currency_precision(currency))


@cache
def _quantum(exponent: int) -> Decimal:
    return Decimal(1).scaleb(-exponent)


# The largest amount, in minor units, that a column holds (BIGINT is 2**63 - 1; one
# digit less leaves room for sums). Larger amounts are refused, never a 500.
MAX_MINOR_DIGITS = 18


def decimal_places(value: Decimal) -> int:
    """Significant digits after the point (``1.50`` has 1). Read from the digits, not by
    ``normalize()``, which overflows the decimal context for ``1e999999999`` and rounds
    ``1e-999999999`` to 0."""
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return 0
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(-exponent - trailing_zeros, 0)


def check_magnitude(amount: Decimal, currency: str) -> Decimal:
    """``amount`` when it is a finite number whose minor units fit a database integer;
    otherwise a domain error (``1e999999999`` must not reach the arithmetic, where it
    overflows the decimal context, nor the database)."""
    _check_magnitude(amount, minor_unit_exponent(currency))
    return amount


def _check_magnitude(amount: Decimal, exponent: int) -> None:
    # Two C calls on the usual path: every rounding and every stored amount pass here.
    if amount.is_finite() and amount.adjusted() + exponent < MAX_MINOR_DIGITS:
        return
    if not amount.is_finite():
        raise InvalidValue(f"Amount {amount} is not a number.")
    raise InvalidValue(f"Amount {amount} is too large.")


def round_money(amount: Decimal, currency: str) -> Decimal:
    """THE rounding rule: half-up to the currency's minor unit."""
    exponent = minor_unit_exponent(currency)
    _check_magnitude(amount, exponent)
    return amount.quantize(_quantum(exponent), rounding=ROUND_HALF_UP)


def to_minor(amount: Decimal, currency: str) -> int:
    """Store an already-rounded amount as integer minor units; refuses sub-minor digits."""
    exponent = minor_unit_exponent(currency)
    _check_magnitude(amount, exponent)
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise InvalidValue(
            f"Amount {amount} has more decimal places than {currency} allows ({exponent})."
        )
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    exponent = minor_unit_exponent(currency)
    return Decimal(minor).scaleb(-exponent).quantize(_quantum(exponent))


def parse_amount(value: object, currency: str, *, field: str = "amount") -> Decimal:
    """Parse a client-supplied amount exactly, rejecting floats' noise and extra decimals."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidValue(f"Invalid value for {field}: '{value}' is not a number.") from exc
    if not amount.is_finite():
        raise InvalidValue(f"Invalid value for {field}: '{value}' is not a number.")
    to_minor(amount, currency)
    return amount
