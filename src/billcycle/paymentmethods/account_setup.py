"""An account's payment settings, set with the account: an inline payment method on
create, the account's gateway, its default method, and the autopay rule.

Zuora refuses an autopay account without a default electronic payment method
("Because this customer account is designated as Auto-Pay, you must specify an
Electronic Payment Method as the default"); its account create says: with ``autoPay``
true, give ``creditCard`` (or a payment method id). The rule is checked once the
account's create or update is complete, in the same unit of work, so a refused request
leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import replace

from billcycle.accounts import service as accounts
from billcycle.accounts.inputs import AccountChanges, NewAccount
from billcycle.accounts.models import Account
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue
from billcycle.gateways import service as gateways
from billcycle.paymentmethods import service
from billcycle.paymentmethods.inputs import AccountPaymentSetup
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.statuses import ELECTRONIC_TYPES, USABLE_STATUSES
from billcycle.unset import UNSET


def create_account(
    ctx: ServiceContext, data: NewAccount, setup: AccountPaymentSetup
) -> tuple[Account, PaymentMethod | None]:
    """The account and the payment method made with it (None when none was)."""
    gateway_id = (
        service.find_gateway_by_name(ctx, setup.gateway_name)
        if isinstance(setup.gateway_name, str)
        else None
    )
    account = accounts.create_account(ctx, data)
    if gateway_id is not None:
        account.payment_gateway_id = gateway_id
        ctx.session.flush()
    method = None
    if setup.new_method is not None:
        method = service.create_method(
            ctx, replace(setup.new_method, account_id=account.id, make_default=True)
        )
    if setup.default_method_id is not None:
        service.set_default_for_account(ctx, account, setup.default_method_id)
    check_auto_pay(ctx, account)
    return account, method


def update_account(
    ctx: ServiceContext, account: Account, changes: AccountChanges, setup: AccountPaymentSetup
) -> Account:
    if setup.gateway_name is not UNSET:
        gateway_id = (
            service.find_gateway_by_name(ctx, setup.gateway_name)
            if setup.gateway_name is not None
            else None
        )
    account = accounts.update_account(ctx, account, changes)
    if setup.gateway_name is not UNSET:
        account.payment_gateway_id = gateway_id
        ctx.session.flush()
    if setup.default_method_id is not None:
        service.set_default_for_account(ctx, account, setup.default_method_id)
    check_auto_pay(ctx, account)
    return account


def gateway_name(ctx: ServiceContext, account: Account) -> str | None:
    """Zuora's account ``paymentGateway``: the name of the account's own gateway."""
    if account.payment_gateway_id is None:
        return None
    return gateways.get_gateway(ctx, account.payment_gateway_id).name


def check_auto_pay(ctx: ServiceContext, account: Account) -> None:
    """An autopay account's default method is an active electronic one."""
    if not account.auto_pay:
        return
    default = service.default_method(ctx, account)
    if (
        default is None
        or default.type not in ELECTRONIC_TYPES
        or default.status not in (USABLE_STATUSES)
    ):
        raise InvalidValue(
            "Because this customer account is designated as Auto-Pay, you must specify an "
            "Electronic Payment Method as the default.",
            resource="account",
            field="autoPay",
        )
