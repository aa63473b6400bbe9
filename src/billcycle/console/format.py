"""How the console writes amounts (Babel, per currency) and instants (tenant time zone)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.numbers import format_currency

from billcycle.money import from_minor

LOCALE = "en_US"


def money(minor: int | None, currency: str) -> str:
    if minor is None:
        return ""
    return format_currency(from_minor(int(minor), currency), currency, locale=LOCALE)


def amount(value: Decimal | None, currency: str) -> str:
    if value is None:
        return ""
    return format_currency(value, currency, locale=LOCALE)


def quantity(value: Decimal | None) -> str:
    """A quantity as people write it: ``20``, ``1.5`` (never ``2E+1``)."""
    if value is None:
        return ""
    text = f"{value.normalize():f}"
    return text


def instant(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def percent(done: int, total: int) -> int:
    """Whole percent of ``done`` in ``total`` (0 when there is nothing to do yet)."""
    if total <= 0:
        return 0
    return max(0, min(100, done * 100 // total))
