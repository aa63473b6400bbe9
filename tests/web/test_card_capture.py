"""The hosted card page over HTTP: a signed, expiring link shows a form; a card typed
there becomes the account's default payment method through the gateway's tokenization,
and the number is kept nowhere."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from billcycle.accounts import service as accounts
from billcycle.clock import FrozenClock
from billcycle.db.session import unit_of_work
from billcycle.gateways.test_gateway import charge_book
from billcycle.paymentmethods import service as methods
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.web.helpers import card_link

CARD = {
    "card_number": "4242 4242 4242 4242",
    "exp_month": "04",
    "exp_year": "2031",
    "security_code": "737",
    "holder_name": "Ada Lovelace",
}


def _methods(runtime: Runtime, tenant_id: int, account_id: int) -> list[dict[str, object]]:
    with runtime.service_context(tenant_id) as ctx:
        return [
            {"mask": m.card_mask, "default": m.is_default, "token": m.token, "type": m.card_type}
            for m in methods.methods_of_account(ctx, accounts.require_account(ctx, account_id))
        ]


def test_the_link_shows_a_form_and_the_card_becomes_the_default_method(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    link = card_link(app, runtime, tenant.tenant_id)
    with TestClient(app) as client:
        page = client.get(link.path)
        assert page.status_code == 200
        assert 'name="card_number"' in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "default-src 'none'" in page.headers["content-security-policy"]

        saved = client.post(link.path, data=CARD)
    assert saved.status_code == 200, saved.text
    assert "************4242" in saved.text
    [method] = _methods(runtime, tenant.tenant_id, link.account_id)
    assert method["mask"] == "************4242"
    assert method["default"] is True
    assert method["type"] == "Visa"
    assert str(method["token"]).startswith("tok_")


def test_the_card_number_is_stored_nowhere(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    link = card_link(app, runtime, tenant.tenant_id)
    with TestClient(app) as client:
        assert client.post(link.path, data=CARD).status_code == 200
    # The test gateway's book is a file of its own on SQLite (``charge_book``).
    for factory, table in (
        (runtime.session_factory, "payment_methods"),
        (runtime.session_factory, "test_gateway_charges"),
        (charge_book(runtime.engine), "test_gateway_charges"),
    ):
        with unit_of_work(factory) as session:
            rows = session.execute(text(f"SELECT * FROM {table}")).all()
            for row in rows:
                assert "4242424242424242" not in " ".join(str(v) for v in row)
                # The security code as a stored text value; integer columns are ids and
                # counters (tenant 737 of a long-lived test database is no leak).
                assert "737" not in [v for v in row if isinstance(v, str)]


def test_an_expired_link_is_refused_and_saves_nothing(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, machine_clock: FrozenClock
) -> None:
    link = card_link(app, runtime, tenant.tenant_id)
    machine_clock.advance(timedelta(days=7, seconds=1))
    with TestClient(app) as client:
        page = client.get(link.path)
        assert page.status_code == 403
        assert "expired" in page.text
        assert client.post(link.path, data=CARD).status_code == 403
    assert _methods(runtime, tenant.tenant_id, link.account_id) == []


def test_the_business_clock_does_not_expire_a_link(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, clock: FrozenClock
) -> None:
    """Link expiry is machine time: a test clock moved by a year changes nothing."""
    link = card_link(app, runtime, tenant.tenant_id)
    clock.advance(timedelta(days=365))
    with TestClient(app) as client:
        assert client.get(link.path).status_code == 200


def test_an_altered_link_is_refused(app: FastAPI, runtime: Runtime, tenant: NewTenant) -> None:
    link = card_link(app, runtime, tenant.tenant_id)
    head, _, signature = link.path.rpartition(".")
    forged = f"{head}.{signature[::-1]}"
    with TestClient(app) as client:
        page = client.get(forged)
        assert page.status_code == 403
        assert "not valid" in page.text
        assert client.post(forged, data=CARD).status_code == 403
        assert client.get("/pay/card/not-a-token").status_code == 403
    assert _methods(runtime, tenant.tenant_id, link.account_id) == []


def test_a_mistyped_card_shows_the_form_again_with_the_reason(
    app: FastAPI, runtime: Runtime, tenant: NewTenant
) -> None:
    link = card_link(app, runtime, tenant.tenant_id)
    with TestClient(app) as client:
        wrong_digit = client.post(link.path, data=CARD | {"card_number": "4242424242424241"})
        month = client.post(link.path, data=CARD | {"exp_month": "1x"})
    for page in (wrong_digit, month):
        assert page.status_code == 400
        assert 'role="alert"' in page.text
        assert 'name="card_number"' in page.text
        assert "Ada Lovelace" in page.text  # what was typed, but never the number
        assert "424242424242424" not in page.text
    assert _methods(runtime, tenant.tenant_id, link.account_id) == []
