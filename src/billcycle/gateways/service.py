"""A tenant's payment gateways: configure them, list them, find the default, and open
one as a :class:`~billcycle.gateways.interface.Gateway` to call.

Several gateways per tenant, exactly one default once there is any (the service keeps
it so; a partial unique index makes a second default impossible even under concurrent
changes). The default is what a payment with no gateway of its own is charged through.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.gateways import registry
from billcycle.gateways import repository as repo
from billcycle.gateways.inputs import NewGateway
from billcycle.gateways.interface import Gateway, GatewayConfig
from billcycle.gateways.models import PaymentGateway

_NAME = re.compile(r"\S(.{0,62}\S)?")


def create_gateway(ctx: ServiceContext, new: NewGateway) -> PaymentGateway:
    name = new.name.strip() if isinstance(new.name, str) else ""
    if not _NAME.fullmatch(name):
        raise InvalidValue("A payment gateway's name is 1 to 64 characters.", field="name")
    gateway_type = registry.gateway_type(new.type)
    settings = gateway_type.validate_settings(dict(new.settings))
    try:
        json.dumps(settings)
    except (TypeError, ValueError) as exc:
        raise InvalidValue("Gateway settings must be JSON values.", field="settings") from exc
    session = ctx.session
    if repo.find_by_name(session, ctx.tenant_id, name) is not None:
        raise RuleViolation(
            f"A payment gateway named {name!r} already exists.", resource="payment_gateway"
        )
    first = repo.get_default(session, ctx.tenant_id) is None
    make_default = new.make_default or first
    if make_default and not new.is_active:
        raise RuleViolation(
            "The default payment gateway must be active.", resource="payment_gateway"
        )
    if make_default and not first:
        repo.clear_default(session, ctx.tenant_id)
    now = ctx.clock.now()
    return repo.add_gateway(
        session,
        PaymentGateway(
            tenant_id=ctx.tenant_id,
            name=name,
            type=gateway_type.name,
            settings=settings,
            is_active=new.is_active,
            is_default=make_default,
            created_at=now,
            updated_at=now,
        ),
    )


def list_gateways(ctx: ServiceContext) -> Sequence[PaymentGateway]:
    return repo.list_gateways(ctx.session, ctx.tenant_id)


def get_gateway(ctx: ServiceContext, gateway_id: int) -> PaymentGateway:
    gateway = repo.get_gateway(ctx.session, ctx.tenant_id, gateway_id)
    if gateway is None:
        raise NotFound(
            "Payment gateway {gateway} not found.",
            resource="payment_gateway",
            ids={"gateway": gateway_id},
        )
    return gateway


def get_default_gateway(ctx: ServiceContext) -> PaymentGateway:
    gateway = repo.get_default(ctx.session, ctx.tenant_id)
    if gateway is None:
        raise NotFound("The tenant has no payment gateway.", resource="payment_gateway")
    return gateway


def set_default_gateway(ctx: ServiceContext, gateway_id: int) -> PaymentGateway:
    gateway = get_gateway(ctx, gateway_id)
    if gateway.is_default:
        return gateway
    if not gateway.is_active:
        raise RuleViolation(
            "The default payment gateway must be active.", resource="payment_gateway"
        )
    repo.clear_default(ctx.session, ctx.tenant_id)
    gateway.is_default = True
    gateway.updated_at = ctx.clock.now()
    ctx.session.flush()
    return gateway


def open_gateway(
    ctx: ServiceContext,
    gateway_id: int | None = None,
    *,
    engine: Engine | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Gateway:
    """The gateway to call: ``gateway_id``, or the tenant's default. ``engine`` (the
    unit of work's by default) is where gateways that keep state in billcycle's database
    open their own connections; ``sleep`` is how they wait (tests pass their own)."""
    row = get_gateway(ctx, gateway_id) if gateway_id is not None else get_default_gateway(ctx)
    if not row.is_active:
        raise RuleViolation(
            "Payment gateway {gateway} is not active.",
            resource="payment_gateway",
            ids={"gateway": row.id},
        )
    return registry.gateway_type(row.type).create(
        GatewayConfig(
            tenant_id=ctx.tenant_id,
            gateway_id=row.id,
            name=row.name,
            settings=dict(row.settings),
            engine=engine if engine is not None else _engine_of(ctx),
            machine_clock=ctx.machine_clock,
            sleep=sleep,
        )
    )


def _engine_of(ctx: ServiceContext) -> Engine:
    bind: Any = ctx.session.get_bind()
    engine: Engine = bind.engine
    return engine
