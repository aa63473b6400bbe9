"""``rejectUnknownFields=true``: refuse request fields the operation does not define."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from billcycle.errors import UnknownField


def unknown_paths(model: BaseModel, prefix: str = "") -> list[str]:
    found = [f"{prefix}{key}" for key in (model.model_extra or {})]
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        alias = info.alias or name
        if isinstance(value, BaseModel):
            found += unknown_paths(value, f"{prefix}{alias}.")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += unknown_paths(item, f"{prefix}{alias}[{index}].")
    return found


async def reject_unknown_fields(request: Request) -> None:
    """Router-level dependency; a no-op unless the client opted in."""
    if request.query_params.get("rejectUnknownFields", "").lower() != "true":
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return
    model_type: Any = route.body_field.field_info.annotation
    if not (isinstance(model_type, type) and issubclass(model_type, BaseModel)):
        return
    try:
        body = await request.json()
        parsed = model_type.model_validate(body)
    except (ValueError, ValidationError):
        return  # the body's own validation reports this
    unknown = unknown_paths(parsed)
    if unknown:
        raise UnknownField(f"Unknown field(s) in the request: {', '.join(unknown)}.")
