"""Sign-in, sign-out and the tenant switcher."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from billcycle.console.actions import record_action
from billcycle.console.pages.common import CurrentViewer, optional_int
from billcycle.console.render import page, redirect
from billcycle.console.session import (
    SIGNIN_CSRF_COOKIE,
    Refused,
    checked_form_any_role,
    current_viewer,
    end_session,
    runtime_of,
    set_cookie,
    signin_csrf,
    signin_csrf_ok,
    start_session,
    switch_tenant,
)
from billcycle.db.session import read_only_unit
from billcycle.errors import NotAuthenticated
from billcycle.users import service as users

router = APIRouter(include_in_schema=False)


def _safe_next(value: object) -> str:
    text = value if isinstance(value, str) else ""
    # Only a path of this console: never another host ("//evil", "https://...").
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return "/"
    return text


def _signin_page(
    request: Request,
    *,
    status: int = 200,
    error: str | None = None,
    email: str = "",
    nxt: str = "/",
) -> Response:
    token = signin_csrf(request)
    response = page(
        request,
        "signin.html.j2",
        code=status,
        error=error,
        email=email,
        next=nxt,
        signin_token=token,
    )
    set_cookie(request, response, SIGNIN_CSRF_COOKIE, token, 3600)
    return response


@router.get("/signin")
def signin_form(request: Request, next: str = "/") -> Response:
    if current_viewer(request) is not None:
        return redirect(request, _safe_next(next))
    return _signin_page(request, nxt=_safe_next(next))


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    email = str(form.get("email") or "").strip()
    password = str(form.get("password") or "")
    nxt = _safe_next(form.get("next"))
    if not signin_csrf_ok(request, form.get("csrf_token")):
        return _signin_page(
            request,
            status=403,
            email=email,
            nxt=nxt,
            error="The sign-in form expired; please try again.",
        )
    runtime = runtime_of(request)
    try:
        with read_only_unit(runtime.session_factory) as session:
            user = users.authenticate(session, email, password)
            grants = users.grants(session, user.id)
    except NotAuthenticated as exc:
        return _signin_page(request, status=400, email=email, nxt=nxt, error=str(exc))
    if not grants:
        return _signin_page(
            request,
            status=403,
            email=email,
            nxt=nxt,
            error="Your account has no role in any tenant.",
        )
    response = redirect(request, nxt)
    start_session(request, response, user.id, grants[0].tenant_id)
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/")
    record_action(
        runtime,
        tenant_id=grants[0].tenant_id,
        user_email=user.email,
        action="sign_in",
        object_type="console_user",
        object_id=user.id,
        at=runtime.machine_clock.now(),
    )
    return response


@router.post("/signout")
async def signout(request: Request, viewer: CurrentViewer) -> Response:
    await checked_form_any_role(request, viewer)
    response = redirect(request, "/signin", notice="You are signed out.")
    end_session(response)
    return response


@router.post("/tenant")
async def choose_tenant(request: Request, viewer: CurrentViewer) -> Response:
    form = await checked_form_any_role(request, viewer)
    tenant_id = optional_int(str(form.get("tenant_id") or ""), "tenant_id")
    if tenant_id is None:
        raise Refused("Choose a tenant.")
    response = redirect(request, "/")
    switch_tenant(request, response, viewer, tenant_id)
    return response
