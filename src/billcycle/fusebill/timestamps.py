"""Fusebill shows UTC instants without an offset, with milliseconds when there are any."""

from __future__ import annotations

from datetime import UTC, datetime

# What Fusebill shows for a timestamp that was never set.
UNSET_TIMESTAMP = "0001-01-01T00:00:00"


def fusebill_timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text
