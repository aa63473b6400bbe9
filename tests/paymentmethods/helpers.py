"""Shared steps of the payment-method tests."""

from __future__ import annotations

from typing import Any

from billcycle.accounts import service as accounts
from billcycle.accounts.inputs import ContactInput, NewAccount
from billcycle.accounts.models import Account
from billcycle.context import ServiceContext
from billcycle.gateways import service as gateways
from billcycle.gateways.inputs import NewGateway
from billcycle.gateways.interface import CardDetails
from billcycle.paymentmethods import service
from billcycle.paymentmethods.inputs import NewPaymentMethod
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.runtime import Runtime


def configure_gateway(runtime: Runtime, tenant_id: int, name: str = "test") -> int:
    with runtime.service_context(tenant_id) as ctx:
        return gateways.create_gateway(ctx, NewGateway(name=name, type="Test")).id


def account(ctx: ServiceContext, **overrides: Any) -> Account:
    fields: dict[str, Any] = {
        "name": "Acme Corp",
        "currency": "USD",
        "bill_cycle_day": 1,
        "bill_to_contact": ContactInput(first_name="Ada", last_name="Lovelace"),
    }
    fields.update(overrides)
    return accounts.create_account(ctx, NewAccount(**fields))


def card(number: str = "4242424242424242", month: int = 3, year: int = 2031) -> CardDetails:
    return CardDetails(
        number=number, expiration_month=month, expiration_year=year, security_code="737"
    )


def card_method(
    ctx: ServiceContext, account_id: int | None, number: str = "4242424242424242", **kw: Any
) -> PaymentMethod:
    return service.create_method(
        ctx,
        NewPaymentMethod(type="CreditCard", account_id=account_id, card=card(number), **kw),
    )


def token_method(ctx: ServiceContext, account_id: int | None, **kw: Any) -> PaymentMethod:
    fields: dict[str, Any] = {
        "type": "CreditCard",
        "account_id": account_id,
        "token": "tok_visa",
        "card_mask": "************4242",
        "card_type": "Visa",
        "expiration_month": 12,
        "expiration_year": 2030,
    }
    fields.update(kw)
    return service.create_method(ctx, NewPaymentMethod(**fields))
