"""Shared steps of the gateway tests."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from billcycle.gateways import service as gateways
from billcycle.gateways.inputs import NewGateway
from billcycle.gateways.interface import PaymentMethodRef, SaleRequest
from billcycle.gateways.models import TestGatewayCharge
from billcycle.gateways.test_gateway import TestGateway, charge_book
from billcycle.runtime import Runtime

SETTLE_AFTER = 600


class Sleeps:
    """The sleep a gateway is given: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def configure_test_gateway(
    runtime: Runtime,
    tenant_id: int,
    name: str = "test",
    settings: Mapping[str, Any] | None = None,
    *,
    make_default: bool = False,
) -> int:
    with runtime.service_context(tenant_id) as ctx:
        row = gateways.create_gateway(
            ctx,
            NewGateway(
                name=name,
                type="Test",
                settings=dict(settings or {"settle_after_seconds": SETTLE_AFTER}),
                make_default=make_default,
            ),
        )
        return row.id


def open_test_gateway(
    runtime: Runtime, tenant_id: int, sleeps: Sleeps, gateway_id: int | None = None
) -> TestGateway:
    with runtime.service_context(tenant_id) as ctx:
        gateway = gateways.open_gateway(ctx, gateway_id, sleep=sleeps)
    assert isinstance(gateway, TestGateway)
    return gateway


def sale(key: str, token: str, amount: str = "10.00", currency: str = "USD") -> SaleRequest:
    return SaleRequest(
        idempotency_key=key,
        amount=Decimal(amount),
        currency=currency,
        payment_method=PaymentMethodRef(token=token),
    )


def charge_rows(runtime: Runtime, tenant_id: int) -> list[TestGatewayCharge]:
    with charge_book(runtime.engine)() as session:
        return list(
            session.scalars(
                select(TestGatewayCharge)
                .where(TestGatewayCharge.tenant_id == tenant_id)
                .order_by(TestGatewayCharge.id)
            )
        )
