"""Base classes for Zuora wire models.

Requests allow extra fields so that unknown ones are ignored, as Zuora does, unless the
client asks ``rejectUnknownFields=true`` (see :mod:`billcycle.zuora.unknown_fields`).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel, to_pascal

ZUORA_DATETIME = "%Y-%m-%d %H:%M:%S"


def zuora_datetime(value: datetime | None) -> str | None:
    return value.strftime(ZUORA_DATETIME) if value is not None else None


class CamelRequest(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", str_strip_whitespace=True
    )


class CamelResponse(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PascalRequest(BaseModel):
    """Zuora's object API (``/v1/object/...``) speaks PascalCase."""

    model_config = ConfigDict(
        alias_generator=to_pascal, populate_by_name=True, extra="allow", str_strip_whitespace=True
    )


class PascalResponse(BaseModel):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True)


class CommonResponse(CamelResponse):
    success: bool = True
