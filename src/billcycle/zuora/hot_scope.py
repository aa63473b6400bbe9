"""What the hot fronts (``hot_reads``, ``hot_writes``) read from a request's ASGI scope
themselves, as the route's own dependencies would have read it: they answer before
FastAPI's dependency machinery runs."""

from __future__ import annotations

from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from starlette.types import Scope


def bearer_credentials(scope: Scope) -> HTTPAuthorizationCredentials | None:
    """What ``HTTPBearer(auto_error=False)`` gives the route."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, token = get_authorization_scheme_param(value.decode("latin-1"))
            if not (scheme and token) or scheme.lower() != "bearer":
                return None
            return HTTPAuthorizationCredentials(scheme=scheme, credentials=token)
    return None


def header_text(scope: Scope, wanted: bytes) -> str | None:
    """The first ``wanted`` header's value (lower-case name), as Starlette decodes it."""
    for name, value in scope["headers"]:
        if name == wanted:
            text: str = value.decode("latin-1")
            return text
    return None
