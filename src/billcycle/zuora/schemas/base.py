"""Base classes and value types shared by every Zuora wire model.

Requests allow extra fields so that unknown ones are ignored, as Zuora does, unless the
client asks ``rejectUnknownFields=true`` (see :mod:`billcycle.zuora.unknown_fields`).
Dates and amounts have one wire form each across the dialect (:data:`WireDate`,
:data:`WireAmount`), so two endpoints never disagree on how ``10`` or a date is written.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from annotated_types import MaxLen
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel, to_pascal

ZUORA_DATETIME = "%Y-%m-%d %H:%M:%S"
_WIRE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


def wire_date(value: object) -> date:
    """A Zuora date: a ``yyyy-mm-dd`` string, blanks around it ignored as in every string
    field. Numbers are refused (pydantic would read them as epochs) and so are date-times
    passed off as dates."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _WIRE_DATE.match(value.strip()):
        raise ValueError("use a date in yyyy-mm-dd format")
    return date.fromisoformat(value.strip())  # raises ValueError for 2026-02-30


def wire_number(value: Decimal) -> float:
    """Zuora writes amounts as decimal JSON numbers (``5.00``, ``49.99``; quantities and
    prices ``1.000000000``) and zuora-sdk types them as floats. A float keeps the decimal
    point of a whole amount (``100.0``) but not Zuora's padding zeros. Amounts are rounded
    to their currency and prices carry at most 9 decimals, so the shortest float repr is
    the same decimal."""
    return float(value)


# A date in Python, ``yyyy-mm-dd`` on the wire.
WireDate = Annotated[date, BeforeValidator(wire_date)]
# A Decimal in Python, a JSON number on the wire; whole amounts keep their ``.0``.
WireAmount = Annotated[Decimal, PlainSerializer(wire_number, return_type=float)]


def zuora_datetime(value: datetime | None) -> str | None:
    return value.strftime(ZUORA_DATETIME) if value is not None else None


def apply_field_limits(model: type[BaseModel]) -> None:
    """Give ``model``'s fields the longest value Zuora's OpenAPI document allows them
    (:data:`~billcycle.zuora.schemas.field_limits.FIELD_LIMITS`, generated from zuora-sdk):
    a string's characters, a list's items. A longer value is refused with 400 in Zuora's
    envelope, as any invalid field is, and the OpenAPI document shows
    ``maxLength``/``maxItems``."""
    from billcycle.zuora.schemas.field_limits import FIELD_LIMITS

    key = f"{model.__module__.rsplit('.', 1)[-1]}.{model.__qualname__}"
    limits = FIELD_LIMITS.get(key) if model.__module__.startswith(__package__ or "") else None
    if not limits:
        return
    own: frozenset[str] = getattr(model, "limits_checked_by_hand", frozenset())
    changed = False
    for name, field in model.model_fields.items():
        wire = field.alias or name
        limit = limits.get(wire)
        if limit is None:
            continue
        if wire in own:
            # The model's own validator bounds it with the dialect's exact message (a bill
            # run's 53100320 reasons): the documents show the limit, pydantic does not check.
            word = "maxItems" if "list" in str(field.annotation) else "maxLength"
            field.json_schema_extra = {**(field.json_schema_extra or {}), word: limit}  # type: ignore[dict-item]
            changed = True
        elif MaxLen(limit) not in field.metadata:
            field.metadata.append(MaxLen(limit))
            changed = True
    if changed:
        model.model_rebuild(force=True)


class CamelRequest(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", str_strip_whitespace=True
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        apply_field_limits(cls)


def sent_fields(model: BaseModel) -> set[str]:
    """The declared fields the client sent. ``model_fields_set`` also holds the unknown
    keys an ``extra="allow"`` request kept (any text, ``""`` too), which Zuora ignores
    unless ``rejectUnknownFields``: never pass it on as names."""
    return model.model_fields_set & type(model).model_fields.keys()


class CamelResponse(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PascalRequest(BaseModel):
    """Zuora's object API (``/v1/object/...``) speaks PascalCase."""

    model_config = ConfigDict(
        alias_generator=to_pascal, populate_by_name=True, extra="allow", str_strip_whitespace=True
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        apply_field_limits(cls)


class PascalResponse(BaseModel):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True)


class CommonResponse(CamelResponse):
    success: bool = True
