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
from typing import Any

from sqlalchemy import inspect

from billcycle.money import from_minor

# Columns no event carries: the tenant is on the event itself; the rest are internal.
_LEFT_OUT = frozenset({"tenant_id", "attempt_key", "settings"})


def json_value(value: Any) -> Any:
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


def snapshot(obj: object | Mapping[str, Any]) -> dict[str, Any]:
    """The object's columns as JSON values (a mapped object or a row's mapping)."""
    if isinstance(obj, Mapping):
        values = dict(obj)
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
        if key in _LEFT_OUT:
            continue
        out[key] = json_value(value)
        if key.endswith("_minor") and isinstance(currency, str) and isinstance(value, int):
            out[key.removesuffix("_minor")] = str(from_minor(value, currency))
    return out
