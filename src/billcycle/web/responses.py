"""Responses serialised once, by the route.

Returning a dict or a Pydantic model makes FastAPI validate it again against the
response model (in a worker thread for sync routes) before serialising it; a route that
has already built its body returns :func:`json_response` instead. The bytes are the
ones FastAPI would have sent: the same Pydantic serialiser (by alias, compact JSON).
The route keeps ``response_model`` for its OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter
from starlette.responses import Response

_OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


def json_response(body: dict[str, Any] | BaseModel, status_code: int = 200) -> Response:
    content = (
        body.model_dump_json(by_alias=True)
        if isinstance(body, BaseModel)
        else _OBJECT.dump_json(body)
    )
    return Response(content=content, status_code=status_code, media_type="application/json")
