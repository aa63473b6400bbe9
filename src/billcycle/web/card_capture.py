"""The hosted card page: a customer opens a signed, expiring link (from a failed-payment
email, or one an operator sends) and types a card, which the account's gateway
tokenizes and billcycle keeps as the account's default payment method.

The page is for gateways that take a card number on billcycle's side (the test gateway);
a real gateway tokenizes in the customer's browser with its own script, and its adapter
attaches the token through the API, so no card number ever reaches billcycle. Nothing
here is business logic: the link is read by ``paymentmethods.capture_links`` and the card
saved by ``paymentmethods.service``, as an API call would. No script, no outside asset:
the page works on a machine without internet access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from billcycle.accounts import service as accounts
from billcycle.errors import DomainError, ErrorKind, NotAuthenticated
from billcycle.gateways.interface import CardDetails
from billcycle.ids import is_ascii_digits
from billcycle.paymentmethods import capture_links
from billcycle.paymentmethods import service as methods
from billcycle.paymentmethods.inputs import NewPaymentMethod
from billcycle.paymentmethods.statuses import PaymentMethodType
from billcycle.runtime import Runtime

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
)
_PAGE = "card_capture.html.j2"
TITLE = "Update your payment card"

router = APIRouter(include_in_schema=False)

# Errors a customer can fix by typing again; anything else is the link's or the server's.
_STATUS = {ErrorKind.AUTHENTICATION: 403, ErrorKind.NOT_FOUND: 404}


def _page(status: int = 200, **values: Any) -> HTMLResponse:
    html = _TEMPLATES.get_template(_PAGE).render({"title": TITLE, "holder_name": ""} | values)
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            # Card data: never cached, never framed, no outside resource of any kind.
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                "frame-ancestors 'none'; base-uri 'none'"
            ),
        },
    )


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _key(request: Request) -> str:
    key: str = request.app.state.signing_key
    return key


def _claims(request: Request, token: str) -> capture_links.CaptureClaims:
    return capture_links.read(_key(request), token, _runtime(request).machine_clock.now())


def _refused(exc: DomainError) -> HTMLResponse:
    return _page(_STATUS.get(exc.kind, 400), error=str(exc))


@router.get("/pay/card/{token}", response_class=HTMLResponse)
def show_card_page(request: Request, token: str) -> HTMLResponse:
    try:
        claims = _claims(request, token)
        with _runtime(request).service_context(claims.tenant_id) as ctx:
            account = accounts.require_account(ctx, claims.account_id)
    except DomainError as exc:
        return _refused(exc)
    return _page(
        show_form=True,
        account_name=account.name,
        account_number=account.account_number,
        expires=claims.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
    )


@router.post("/pay/card/{token}", response_class=HTMLResponse)
def save_card(
    request: Request,
    token: str,
    card_number: Annotated[str, Form(max_length=23)],
    exp_month: Annotated[str, Form(max_length=2)],
    exp_year: Annotated[str, Form(max_length=4)],
    security_code: Annotated[str, Form(max_length=4)] = "",
    holder_name: Annotated[str, Form(max_length=50)] = "",
) -> HTMLResponse:
    try:
        claims = _claims(request, token)
    except NotAuthenticated as exc:
        return _refused(exc)
    shown: dict[str, Any] = {
        "expires": claims.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        "holder_name": holder_name,
    }
    try:
        card = CardDetails(
            number=card_number.replace(" ", "").replace("-", ""),
            expiration_month=_number(exp_month, "expiry month"),
            expiration_year=_number(exp_year, "expiry year"),
            security_code=security_code or None,
            holder_name=holder_name.strip() or None,
        )
        with _runtime(request).service_context(claims.tenant_id) as ctx:
            account = accounts.require_account(ctx, claims.account_id)
            shown |= {"account_name": account.name, "account_number": account.account_number}
            method = methods.create_method(
                ctx,
                NewPaymentMethod(
                    type=PaymentMethodType.CREDIT_CARD.value,
                    account_id=account.id,
                    make_default=True,
                    card=card,
                    holder={"holder_name": card.holder_name} if card.holder_name else None,
                ),
            )
    except ValueError as exc:
        return _page(400, show_form=True, error=str(exc), **shown)
    except DomainError as exc:
        if exc.kind in _STATUS:
            return _refused(exc)
        return _page(400, show_form=True, error=str(exc), **shown)
    return _page(saved_mask=method.card_mask, saved_brand=method.card_type, **shown)


def _number(text: str, what: str) -> int:
    if not text.strip().isascii() or not is_ascii_digits(text.strip()):
        raise ValueError(f"The {what} is a number.")
    return int(text.strip())
