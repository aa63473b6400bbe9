"""Fusebill reads a body's field names without regard to case (``customerId`` and
``CustomerID`` are one field): one folding for the request models that need it."""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo


def fold_names(fields: dict[str, FieldInfo], data: Any) -> Any:
    """``data`` (a model's raw input) with each key spelled as ``fields`` spell it when it
    matches one of them but for case; other keys and non-dict input as they are."""
    if not isinstance(data, dict):
        return data
    canonical = {
        (field.alias or name).casefold(): field.alias or name for name, field in fields.items()
    }
    return {canonical.get(str(key).casefold(), key): value for key, value in data.items()}
