"""Event payloads: an object in billcycle's own representation, built from its row.

The representation is the domain's own, the one the admin API speaks: snake_case column
names, integer ids, ISO 8601 dates and instants, exact amounts as decimal strings next to
their integer minor units (``amount_minor`` 1999 and ``amount`` "19.99"). Never a
dialect's wire shape (no 32-hex ids, no camelCase). Built here, from the row the service
already holds, so the services' write paths only name the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import inspect

from billcycle.money import minor_unit_exponent

# Columns no event carries: the tenant is on the event itself; the rest are internal
# (``pending_invoice_id``: a payment run's payment's open intention, storage only, as
# intention rows never were in a payload either).
LEFT_OUT = frozenset({"tenant_id", "attempt_key", "settings", "pending_invoice_id"})


_PLAIN = (str, int, float, bool, type(None))


def json_value(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return value


@lru_cache(maxsize=64)
def _exponent(currency: str) -> int | None:
    try:
        return minor_unit_exponent(currency)
    except Exception:  # not a currency billcycle knows: no decimal string then
        return None


def decimal_text(minor: int, currency: str) -> str | None:
    """``minor`` units of ``currency`` as an exact decimal string (6000 USD: "60.00")."""
    exponent = _exponent(currency)
    if exponent is None:
        return None
    if exponent == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{part:0{exponent}d}"


def snapshot(obj: object | Mapping[str, Any]) -> dict[str, Any]:
    """The object's columns as JSON values (a mapped object or a row's mapping)."""
    if isinstance(obj, Mapping):
        values = obj
    else:
        # Loaded attributes only: a payload never costs a lazy load (a column the unit of
        # work has not read is left out rather than fetched).
        state = inspect(obj)
        loaded = state.dict
        values = {
            attr.key: loaded[attr.key] for attr in state.mapper.column_attrs if attr.key in loaded
        }
    out: dict[str, Any] = {}
    currency = values.get("currency")
    for key, value in values.items():
        if key in LEFT_OUT:
            continue
        out[key] = json_value(value)
        if key.endswith("_minor") and isinstance(currency, str) and type(value) is int:
            out[key[: -len("_minor")]] = decimal_text(value, currency)
    return out
