"""Column types that keep money and time exact on both SQLite and PostgreSQL.

* Amounts that are summed (invoice totals, balances, ledger entries) are stored as
  integer minor units in plain ``BigInteger`` columns: exact and summable in SQL.
* Prices and quantities, which may carry more decimals than the currency (a unit price
  of 0.0035), use :class:`ExactDecimal`: ``NUMERIC(28, 9)`` on PostgreSQL and a decimal
  string on SQLite, whose NUMERIC affinity would otherwise round-trip through float.
* Instants use :class:`UtcDateTime`, always tz-aware UTC in Python whatever the driver.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Dialect, Integer, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

# SQLite only auto-increments an ``INTEGER PRIMARY KEY``; PostgreSQL gets 64-bit ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")

PRICE_SCALE = 9


class ExactDecimal(TypeDecorator[Decimal]):
    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(28, PRICE_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return format(Decimal(value).normalize(), "f")
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value).normalize() if dialect.name == "sqlite" else _trim(Decimal(value))


def _trim(value: Decimal) -> Decimal:
    """NUMERIC(28,9) answers 30.000000000; keep the value but drop the padding zeros."""
    normalized = value.normalize()
    return normalized.quantize(Decimal(1)) if normalized == normalized.to_integral() else normalized


class UtcDateTime(TypeDecorator[datetime]):
    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        from sqlalchemy import DateTime

        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use tz-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]
