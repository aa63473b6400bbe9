"""Who is signed in: a signed session cookie (itsdangerous, HttpOnly, SameSite=Lax,
Secure when the console is served over TLS), re-checked against the database on every
request (the user still exists, its password has not changed since, its role in the
tenant is read fresh), and a CSRF token that every form carries back.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from billcycle.db.session import read_only_unit
from billcycle.runtime import Runtime
from billcycle.users import service as users
from billcycle.users.roles import Role
from billcycle.users.service import Grant

COOKIE = "billcycle_console"
SIGNIN_CSRF_COOKIE = "billcycle_signin"
FLASH_COOKIE = "billcycle_flash"
MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """No valid session: the page sends the person to the sign-in form."""


class Refused(Exception):
    """403: a viewer posting an action, or a form without its CSRF token."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as the current tenant sees them."""

    user_id: int
    email: str
    tenant_id: int
    tenant_name: str
    role: Role
    grants: list[Grant]
    csrf: str
    zone: ZoneInfo

    @property
    def can_act(self) -> bool:
        return self.role.can_act

    @property
    def can_administer(self) -> bool:
        return self.role.can_administer


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _serializer(request: Request, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.signing_key, salt=salt)


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/",
    )


def start_session(request: Request, response: Response, user_id: int, tenant_id: int) -> None:
    runtime = runtime_of(request)
    with read_only_unit(runtime.session_factory) as session:
        user = users.get_user(session, user_id)
        assert user is not None
        stamp = user.password_changed_at.isoformat()
    data = {"u": user_id, "t": tenant_id, "c": secrets.token_urlsafe(24), "p": stamp}
    token = _serializer(request, "console-session").dumps(data)
    set_cookie(request, response, COOKIE, token, MAX_AGE_SECONDS)


def switch_tenant(request: Request, response: Response, viewer: Viewer, tenant_id: int) -> None:
    """Same person, same CSRF token, another of its tenants (no sign-out)."""
    if tenant_id not in {g.tenant_id for g in viewer.grants}:
        raise Refused("You have no role in that tenant.")
    data = _read(request)
    assert data is not None
    data["t"] = tenant_id
    token = _serializer(request, "console-session").dumps(data)
    set_cookie(request, response, COOKIE, token, MAX_AGE_SECONDS)


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def _read(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(request, "console-session").loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    return data if isinstance(data, dict) else None


def current_viewer(request: Request) -> Viewer | None:
    cached = request.scope.get("billcycle_viewer")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    data = _read(request)
    if data is None:
        return None
    runtime = runtime_of(request)
    with read_only_unit(runtime.session_factory) as session:
        user = users.get_user(session, int(data["u"]))
        if user is None or user.password_changed_at.isoformat() != data.get("p"):
            return None
        grants = users.grants(session, user.id)
        tenant_id = int(data["t"])
        grant = next((g for g in grants if g.tenant_id == tenant_id), None)
        if grant is None:
            return None
        zone = runtime.business_clock(session, tenant_id).zone
        viewer = Viewer(
            user_id=user.id,
            email=user.email,
            tenant_id=tenant_id,
            tenant_name=grant.tenant_name,
            role=grant.role,
            grants=grants,
            csrf=str(data["c"]),
            zone=zone,
        )
    request.scope["billcycle_viewer"] = viewer
    return viewer


def require_viewer(request: Request) -> Viewer:
    """A FastAPI dependency: the signed-in person, or off to the sign-in page."""
    viewer = current_viewer(request)
    if viewer is None:
        raise SignInRequired()
    return viewer


def _same(given: object, expected: str) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(given, expected)


async def checked_form(request: Request, viewer: Viewer, *, admin: bool = False) -> FormData:
    """The posted form, once its CSRF token matches the session's and the person's role
    allows actions (``admin``: settings); else ``Refused`` (403) and nothing changes."""
    form = await request.form()
    token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not _same(token, viewer.csrf):
        raise Refused("This form has expired or did not come from this console; reload and retry.")
    if admin and not viewer.can_administer:
        raise Refused("Only an admin of this tenant can change its settings.")
    if not viewer.can_act:
        raise Refused("Your role in this tenant (viewer) cannot change anything.")
    return form


def signin_csrf(request: Request) -> str:
    """The sign-in form's token (double submit: a cookie and the form must agree)."""
    return request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def signin_csrf_ok(request: Request, given: object) -> bool:
    expected = request.cookies.get(SIGNIN_CSRF_COOKIE)
    return expected is not None and _same(given, expected)


def set_flash(request: Request, response: Response, kind: str, message: str) -> None:
    token = _serializer(request, "console-flash").dumps([kind, message[:500]])
    set_cookie(request, response, FLASH_COOKIE, token, 60)


def read_flash(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        kind, message = _serializer(request, "console-flash").loads(raw, max_age=60)
    except (BadSignature, ValueError, TypeError):
        return None
    return str(kind), str(message)


async def checked_form_any_role(request: Request, viewer: Viewer) -> FormData:
    """The posted form once its CSRF token matches (sign-out, tenant switch: every role)."""
    form = await request.form()
    token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not _same(token, viewer.csrf):
        raise Refused("This form has expired or did not come from this console; reload and retry.")
    return form
