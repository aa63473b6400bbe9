"""A tenant's payment gateways: several per tenant, exactly one default."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from billcycle.db.session import unit_of_work
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.gateways import service as gateways
from billcycle.gateways.inputs import NewGateway
from billcycle.gateways.models import PaymentGateway
from billcycle.gateways.test_gateway import TestGateway
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.gateways.helpers import Sleeps, configure_test_gateway, open_test_gateway, sale


def _defaults(runtime: Runtime, tenant_id: int) -> list[str]:
    with runtime.service_context(tenant_id) as ctx:
        return [g.name for g in gateways.list_gateways(ctx) if g.is_default]


def test_the_first_gateway_is_the_default_and_one_stays_so(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx, pytest.raises(NotFound):
        gateways.get_default_gateway(ctx)
    first = configure_test_gateway(runtime, tenant.tenant_id, "first")
    second = configure_test_gateway(runtime, tenant.tenant_id, "second")
    assert _defaults(runtime, tenant.tenant_id) == ["first"]

    third = configure_test_gateway(runtime, tenant.tenant_id, "third", make_default=True)
    assert _defaults(runtime, tenant.tenant_id) == ["third"]
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert gateways.get_default_gateway(ctx).id == third
        assert [g.id for g in gateways.list_gateways(ctx)] == [first, second, third]
        listed = gateways.get_gateway(ctx, second)
        assert (listed.name, listed.type, listed.is_active) == ("second", "Test", True)
        assert listed.settings == {
            "latency_ms": 0,
            "settle_after_seconds": 600,
            "max_calls_per_second": 0,
        }
        gateways.set_default_gateway(ctx, second)
    assert _defaults(runtime, tenant.tenant_id) == ["second"]


def test_settings_get_the_types_defaults(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        row = gateways.create_gateway(ctx, NewGateway(name="plain", type="Test"))
        assert row.settings == {
            "latency_ms": 0,
            "settle_after_seconds": 3600,
            "max_calls_per_second": 0,
        }


def _insert_a_second_default(runtime: Runtime, tenant_id: int) -> None:
    """Past the service, straight to the table: the partial unique index refuses it."""
    with unit_of_work(runtime.session_factory) as session:
        now = runtime.clock.now()
        session.add(
            PaymentGateway(
                tenant_id=tenant_id,
                name="sneaky",
                type="Test",
                settings={},
                is_active=True,
                is_default=True,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()


def test_the_database_refuses_a_second_default(runtime: Runtime, tenant: NewTenant) -> None:
    configure_test_gateway(runtime, tenant.tenant_id, "first")
    with pytest.raises(IntegrityError):
        _insert_a_second_default(runtime, tenant.tenant_id)
    assert _defaults(runtime, tenant.tenant_id) == ["first"]


@pytest.mark.parametrize(
    ("new", "error", "field"),
    [
        (NewGateway(name="x", type="Stripe"), InvalidValue, "type"),
        (NewGateway(name=" ", type="Test"), InvalidValue, "name"),
        (NewGateway(name="x" * 65, type="Test"), InvalidValue, "name"),
        (NewGateway(name="x", type="Test", settings={"api_key": "k"}), InvalidValue, "settings"),
        (NewGateway(name="x", type="Test", settings={"latency_ms": -1}), InvalidValue, "settings"),
        (NewGateway(name="x", type="Test", settings={"latency_ms": 1.5}), InvalidValue, "settings"),
        (
            NewGateway(name="x", type="Test", settings={"latency_ms": True}),
            InvalidValue,
            "settings",
        ),
        (NewGateway(name="taken", type="Test"), RuleViolation, None),
        (
            NewGateway(name="x", type="Test", is_active=False, make_default=True),
            RuleViolation,
            None,
        ),
    ],
)
def test_bad_gateways_are_refused_and_nothing_changes(
    runtime: Runtime, tenant: NewTenant, new: NewGateway, error: type[Exception], field: str | None
) -> None:
    configure_test_gateway(runtime, tenant.tenant_id, "taken")
    with pytest.raises(error) as raised, runtime.service_context(tenant.tenant_id) as ctx:
        gateways.create_gateway(ctx, new)
    assert getattr(raised.value, "field", None) == field
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert [g.name for g in gateways.list_gateways(ctx)] == ["taken"]


def test_an_inactive_gateway_is_not_opened_nor_made_default(
    runtime: Runtime, tenant: NewTenant, sleeps: Sleeps
) -> None:
    configure_test_gateway(runtime, tenant.tenant_id, "main")
    with runtime.service_context(tenant.tenant_id) as ctx:
        spare = gateways.create_gateway(
            ctx, NewGateway(name="spare", type="Test", is_active=False)
        ).id
    with pytest.raises(RuleViolation), runtime.service_context(tenant.tenant_id) as ctx:
        gateways.open_gateway(ctx, spare, sleep=sleeps)
    with pytest.raises(RuleViolation), runtime.service_context(tenant.tenant_id) as ctx:
        gateways.set_default_gateway(ctx, spare)
    assert _defaults(runtime, tenant.tenant_id) == ["main"]


def test_a_payment_is_charged_through_the_gateway_asked_for(
    runtime: Runtime, tenant: NewTenant, sleeps: Sleeps
) -> None:
    main = configure_test_gateway(runtime, tenant.tenant_id, "main")
    other = configure_test_gateway(runtime, tenant.tenant_id, "other", {"latency_ms": 5})
    default = open_test_gateway(runtime, tenant.tenant_id, sleeps)
    chosen = open_test_gateway(runtime, tenant.tenant_id, sleeps, other)
    assert isinstance(default, TestGateway)
    assert isinstance(chosen, TestGateway)
    chosen.sale(sale("P-1", "tok_visa"))
    assert sleeps.calls == [0.005]
    default.sale(sale("P-2", "tok_visa"))
    assert sleeps.calls == [0.005]
    assert main != other


def test_another_tenants_gateway_is_not_found(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant, sleeps: Sleeps
) -> None:
    theirs = configure_test_gateway(runtime, other_tenant.tenant_id, "theirs")
    with runtime.service_context(tenant.tenant_id) as ctx:
        with pytest.raises(NotFound) as raised:
            gateways.get_gateway(ctx, theirs)
        assert raised.value.ids == {"gateway": theirs}
        with pytest.raises(NotFound):
            gateways.open_gateway(ctx, theirs, sleep=sleeps)
        with pytest.raises(NotFound):
            gateways.get_default_gateway(ctx)
        assert gateways.list_gateways(ctx) == []
    # Each tenant has its own default.
    configure_test_gateway(runtime, tenant.tenant_id, "theirs")
    assert _defaults(runtime, tenant.tenant_id) == ["theirs"]
    assert _defaults(runtime, other_tenant.tenant_id) == ["theirs"]
