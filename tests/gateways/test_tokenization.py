"""Card numbers go no further than the test gateway's tokenize: never stored, never
logged; only the token, the brand and the mask are kept."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Table, select

from billcycle.errors import InvalidValue
from billcycle.gateways.interface import CardDetails, TokenizingGateway
from billcycle.gateways.models import PaymentGateway, TestGatewayCharge
from billcycle.gateways.test_gateway import charge_book
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.gateways.helpers import Sleeps, configure_test_gateway, open_test_gateway, sale

NUMBERS = ["4242424242424242", "4000000000000002", "4000000000009904", "4000000000009912"]


def _all_stored_text(runtime: Runtime, tenant_id: int) -> str:
    """Every column of every gateway row of the tenant, as text."""
    texts = []
    for factory, model in (
        (runtime.session_factory, PaymentGateway),
        (charge_book(runtime.engine), TestGatewayCharge),
    ):
        with factory() as session:
            table = model.__table__
            assert isinstance(table, Table)
            rows = session.execute(select(table).where(table.c.tenant_id == tenant_id)).all()
            assert rows
            texts.extend(repr(tuple(row)) for row in rows)
    return "\n".join(texts)


def test_a_card_number_is_never_stored_nor_logged(
    runtime: Runtime, tenant: NewTenant, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    configure_test_gateway(runtime, tenant.tenant_id)
    gateway = open_test_gateway(runtime, tenant.tenant_id, sleeps)
    assert isinstance(gateway, TokenizingGateway)
    for index, number in enumerate(NUMBERS):
        card = CardDetails(
            number=" ".join(number[i : i + 4] for i in range(0, 16, 4)),
            expiration_month=3,
            expiration_year=2031,
            security_code="123",
            holder_name="Ada Lovelace",
        )
        assert number[:12] not in repr(card)
        assert "123" not in repr(card)
        token = gateway.tokenize(card)
        assert token.mask == "************" + number[-4:]
        assert (token.expiration_month, token.expiration_year) == (3, 2031)
        result = gateway.sale(sale(f"P-{index}", token.token))
        gateway.status(f"P-{index}")
        assert number not in repr(result)
        assert number not in repr(token)

    stored = _all_stored_text(runtime, tenant.tenant_id)
    assert "tok_" in stored  # the rows were read: tokens are there
    for number in NUMBERS:
        assert number not in stored
        assert number[:12] not in stored  # nor any long part of it
    assert caplog.records  # the gateway does log its charges...
    for number in NUMBERS:
        assert number[:12] not in caplog.text  # ...but never a number


def test_two_tokens_of_one_card_differ(runtime: Runtime, tenant: NewTenant, sleeps: Sleeps) -> None:
    configure_test_gateway(runtime, tenant.tenant_id)
    gateway = open_test_gateway(runtime, tenant.tenant_id, sleeps)
    card = CardDetails(number="4242424242424242", expiration_month=1, expiration_year=2030)
    assert gateway.tokenize(card).token != gateway.tokenize(card).token


@pytest.mark.parametrize(
    ("number", "month", "year", "field"),
    [
        ("4242424242424241", 1, 2030, "cardNumber"),  # fails the Luhn check
        ("4111111111111111", 1, 2030, "cardNumber"),  # valid, but not a test card
        ("42424242", 1, 2030, "cardNumber"),
        ("4242x24242424242", 1, 2030, "cardNumber"),
        ("4242424242424242", 13, 2030, "expirationMonth"),
        ("4242424242424242", 1, 30, "expirationYear"),
    ],
)
def test_bad_cards_are_refused_without_repeating_the_number(
    runtime: Runtime,
    tenant: NewTenant,
    sleeps: Sleeps,
    number: str,
    month: int,
    year: int,
    field: str,
) -> None:
    configure_test_gateway(runtime, tenant.tenant_id)
    gateway = open_test_gateway(runtime, tenant.tenant_id, sleeps)
    with pytest.raises(InvalidValue) as raised:
        gateway.tokenize(CardDetails(number=number, expiration_month=month, expiration_year=year))
    assert raised.value.field == field
    assert number[:8] not in raised.value.message
