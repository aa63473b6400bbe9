"""An account's payment settings through the domain: the inline method becomes the
default, the gateway is found by name, and autopay needs an electronic default, on
create and on update, with nothing left behind when refused."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from billcycle.accounts.inputs import AccountChanges, ContactInput, NewAccount
from billcycle.accounts.models import Account
from billcycle.errors import InvalidValue, NotFound
from billcycle.paymentmethods import account_setup, service
from billcycle.paymentmethods.inputs import AccountPaymentSetup, NewPaymentMethod
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.paymentmethods.helpers import account, card, configure_gateway, token_method


def _new(**overrides: object) -> NewAccount:
    fields: dict[str, object] = {
        "name": "Acme",
        "currency": "USD",
        "bill_cycle_day": 1,
        "bill_to_contact": ContactInput(first_name="Ada", last_name="Lovelace"),
    }
    fields.update(overrides)
    return NewAccount(**fields)  # type: ignore[arg-type]


def test_an_autopay_account_with_an_inline_card(runtime: Runtime, tenant: NewTenant) -> None:
    gateway_id = configure_gateway(runtime, tenant.tenant_id, "cards")
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct, method = account_setup.create_account(
            ctx,
            _new(auto_pay=True),
            AccountPaymentSetup(
                new_method=NewPaymentMethod(type="CreditCard", card=card()),
                gateway_name="cards",
            ),
        )
        assert method is not None
        assert method.account_id == acct.id
        assert method.is_default
        assert acct.payment_gateway_id == gateway_id
        assert account_setup.gateway_name(ctx, acct) == "cards"


@pytest.mark.parametrize(
    "setup",
    [
        AccountPaymentSetup(),
        AccountPaymentSetup(gateway_name="nope"),
        AccountPaymentSetup(default_method_id=10**9),
    ],
)
def test_refused_creates_leave_nothing(
    runtime: Runtime, tenant: NewTenant, setup: AccountPaymentSetup
) -> None:
    with (
        pytest.raises((InvalidValue, NotFound)),
        runtime.service_context(tenant.tenant_id) as ctx,
    ):
        account_setup.create_account(ctx, _new(auto_pay=True), setup)
    with runtime.session_factory() as session:
        for model in (Account, PaymentMethod):
            assert not session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == tenant.tenant_id)
            )


def test_autopay_on_update_and_an_orphan_as_default(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
        with pytest.raises(InvalidValue):
            account_setup.update_account(
                ctx, acct, AccountChanges(auto_pay=True), AccountPaymentSetup()
            )
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account_setup.create_account(ctx, _new(name="B"), AccountPaymentSetup())[0]
        orphan = token_method(ctx, None)
        account_setup.update_account(
            ctx,
            acct,
            AccountChanges(auto_pay=True),
            AccountPaymentSetup(default_method_id=orphan.id),
        )
        assert acct.auto_pay
        assert service.require_default_method(ctx, acct).id == orphan.id
