"""Fusebill's forgiving paths: case-insensitive, trailing slashes and doubled slashes
(the seed's own cancel example is ``/v1//BulkApi/Cancel/{id}``) all reach the route.

Routes are declared in lower case; this middleware folds the path before routing.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

_SLASHES = re.compile(r"/{2,}")


def normalize_path(path: str) -> str:
    folded = _SLASHES.sub("/", path).lower()
    if len(folded) > 1 and folded.endswith("/"):
        folded = folded.rstrip("/") or "/"
    return folded


class FusebillPathMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = dict(scope)
            scope["path"] = normalize_path(scope["path"])
            scope["raw_path"] = scope["path"].encode()
        await self.app(scope, receive, send)
