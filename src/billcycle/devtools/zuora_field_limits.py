"""Generates ``billcycle/zuora/schemas/field_limits.py``: the string lengths and array
lengths zuora-sdk (Zuora's OpenAPI document) declares for the request fields billcycle
accepts.

Pairs are found, not listed: each operation of billcycle's Zuora app (method and path)
is matched with the zuora-sdk API method that calls the same one, billcycle's request
model with zuora-sdk's body model; nested models pair through fields of the same JSON
name. For each shared field the generator takes zuora-sdk's ``max_length`` (a string's
characters, or a list's items). Run ``python -m billcycle.devtools.zuora_field_limits``
after upgrading zuora-sdk or adding a route; tests/protocol/test_field_limits.py fails
while the committed table differs from what this writes.

zuora-sdk is a development dependency: only this tool and the tests import it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from billcycle.zuora.schemas.base import CamelRequest, PascalRequest

TARGET = Path(__file__).resolve().parents[1] / "zuora" / "schemas" / "field_limits.py"
_PATH_PARAM = re.compile(r"\{[^}]*\}")

Limits = dict[str, int]


def _normal(method: str, path: str) -> tuple[str, str]:
    return method.upper(), _PATH_PARAM.sub("{}", path.rstrip("/"))


def sdk_operations() -> dict[tuple[str, str], type[BaseModel]]:
    """(method, path with ``{}`` for parameters) -> zuora-sdk's body model."""
    import zuora_sdk.api

    found: dict[tuple[str, str], type[BaseModel]] = {}
    for info in pkgutil.iter_modules(zuora_sdk.api.__path__):
        module = importlib.import_module(f"zuora_sdk.api.{info.name}")
        source = inspect.getsource(module)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            for name, function in vars(cls).items():
                if name.startswith("_") or name.endswith(("_with_http_info", "_content")):
                    continue
                body = _body_model(function)
                where = re.search(
                    rf"def _{re.escape(name)}_serialize\(.*?method='(\w+)',\s*"
                    r"resource_path='([^']+)'",
                    source,
                    re.S,
                )
                if body is not None and where is not None:
                    found.setdefault(_normal(where.group(1), where.group(2)), body)
    return found


def _body_model(function: Any) -> type[BaseModel] | None:
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception:
        return None
    for name, hint in hints.items():
        if name == "return":
            continue
        model = _model_in(hint)
        if model is not None:
            return model
    return None


def _model_in(hint: Any) -> type[BaseModel] | None:
    """The BaseModel a field's type holds (in Optional, Annotated or a list), if any."""
    if inspect.isclass(hint) and issubclass(hint, BaseModel):
        return hint
    for arg in typing.get_args(hint):
        model = _model_in(arg)
        if model is not None:
            return model
    return None


def _max_length(hint: Any, metadata: list[Any]) -> int | None:
    for item in metadata:
        value = getattr(item, "max_length", None)
        if isinstance(value, int):
            return value
        inner = getattr(item, "metadata", None)
        if isinstance(inner, list):
            found = _max_length(None, inner)
            if found is not None:
                return found
    if typing.get_origin(hint) is typing.Annotated:
        base, *extra = typing.get_args(hint)
        return _max_length(base, extra)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            found = _max_length(arg, [])
            if found is not None:
                return found
    return None


def _sized(hint: Any) -> bool:
    """Whether every value billcycle's field takes has a length (a string or a list): a
    field that also takes a number (``billCycleDay``) keeps no length limit."""
    if hint is None or hint is type(None):
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _sized(typing.get_args(hint)[0])
    if origin in (typing.Union, types.UnionType):
        return all(_sized(arg) for arg in typing.get_args(hint))
    return hint is str or origin in (list, tuple, set, frozenset) or hint in (list, tuple)


def _by_alias(model: type[BaseModel]) -> dict[str, Any]:
    return {(field.alias or name): field for name, field in model.model_fields.items()}


def our_operations() -> dict[tuple[str, str], type[BaseModel]]:
    from fastapi.routing import APIRoute

    from billcycle.zuora.routes.registry import RESOURCE_ROUTERS

    found: dict[tuple[str, str], type[BaseModel]] = {}
    for route in [route for router in RESOURCE_ROUTERS for route in router.routes]:
        if not isinstance(route, APIRoute):
            continue
        for param in route.dependant.body_params:
            model = _model_in(param.field_info.annotation)
            if model is not None and issubclass(model, (CamelRequest, PascalRequest)):
                for method in route.methods or ():
                    found[_normal(method, route.path)] = model
    return found


def key_of(model: type[BaseModel]) -> str:
    return f"{model.__module__.rsplit('.', 1)[-1]}.{model.__qualname__}"


def generate() -> dict[str, Limits]:
    sdk = sdk_operations()
    table: dict[str, Limits] = {}
    seen: set[tuple[type[BaseModel], type[BaseModel]]] = set()

    def pair(ours: type[BaseModel], theirs: type[BaseModel]) -> None:
        if (ours, theirs) in seen:
            return
        seen.add((ours, theirs))
        their_fields = _by_alias(theirs)
        for alias, field in _by_alias(ours).items():
            other = their_fields.get(alias)
            if other is None:
                continue
            limit = _max_length(other.annotation, list(other.metadata))
            if limit is not None and _sized(field.annotation):
                # A model two operations share keeps the stricter of their limits.
                limits = table.setdefault(key_of(ours), {})
                limits[alias] = min(limit, limits.get(alias, limit))
            mine, its = _model_in(field.annotation), _model_in(other.annotation)
            if mine is not None and its is not None:
                pair(mine, its)

    for operation, model in sorted(our_operations().items(), key=lambda item: item[0]):
        theirs = sdk.get(operation)
        if theirs is not None:
            pair(model, theirs)
    return {key: dict(sorted(limits.items())) for key, limits in sorted(table.items())}


def render(table: dict[str, Limits]) -> str:
    lines = [
        '"""Generated by ``python -m billcycle.devtools.zuora_field_limits`` from zuora-sdk:',
        "do not edit. The longest value (characters of a string, items of a list) Zuora's",
        "OpenAPI document allows for each request field billcycle accepts, by request model",
        '(``module.Class``) and JSON name; see billcycle.zuora.schemas.base."""',
        "",
        "FIELD_LIMITS: dict[str, dict[str, int]] = {",
    ]
    for key, limits in table.items():
        lines.append(f'    "{key}": {{')
        lines.extend(f'        "{alias}": {limit},' for alias, limit in limits.items())
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    TARGET.write_text(render(generate()))
    sys.stdout.write(f"wrote {TARGET}\n")


if __name__ == "__main__":
    main()
