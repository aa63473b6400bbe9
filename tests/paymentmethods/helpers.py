"""Shared steps of the payment-method tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

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


def waiting_on_a_lock(runtime: Runtime) -> int:
    """PostgreSQL sessions of this test database waiting for a lock."""
    with runtime.session_factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(text("pg_stat_activity"))
                .where(text("wait_event_type = 'Lock'"), text("datname = current_database()"))
            )
            or 0
        )


def wait_until_blocked(runtime: Runtime, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while waiting_on_a_lock(runtime) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert waiting_on_a_lock(runtime) >= 1


# A third-party gateway that, like real ones, neither takes card numbers nor verifies.
REMOTE_MODULE = """
from billcycle.gateways.interface import GatewayResult
from billcycle.gateways.statuses import GatewayOutcome


class RemoteGateway:
    def __init__(self, config):
        self.config = config

    def sale(self, request):
        raise NotImplementedError

    def refund(self, request):
        raise NotImplementedError

    def void(self, request):
        raise NotImplementedError

    def status(self, idempotency_key):
        return GatewayResult(None, GatewayOutcome.NOT_FOUND, idempotency_key)


class RemoteType:
    name = "Remote"

    def validate_settings(self, settings):
        return {}

    def create(self, config):
        return RemoteGateway(config)


GATEWAY_TYPE = RemoteType()
"""


def install_remote_gateway(site: Path) -> None:
    """Writes the ``remote-gateway`` distribution (module + dist-info) into ``site``,
    a directory the caller puts on ``sys.path``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "remote_gateway.py").write_text(REMOTE_MODULE)
    info = site / "remote_gateway-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: remote-gateway\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[billcycle.gateways]\nRemote = remote_gateway:GATEWAY_TYPE\n"
    )
