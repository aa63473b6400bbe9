"""An electronic payment asked for through an API (Zuora's ``POST /v1/payments`` with
``type: Electronic``): the client's payment, checked as a recorded one is, becomes a
``ChargeRequest`` that ``payments.charging`` sends to the gateway.

The checks a recorded payment gets in ``service.create_payment`` happen here before
anything is written, so a bad request is refused whole: the account's currency, an
amount above zero in its minor unit, an effective date of today.
"""

from __future__ import annotations

from billcycle.accounts import service as accounts
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue
from billcycle.payments.charging import ChargeRequest
from billcycle.payments.checks import PAYMENT, account_currency, positive_minor
from billcycle.payments.inputs import NewPayment


def charge_request(ctx: ServiceContext, data: NewPayment) -> ChargeRequest:
    """The charge for ``data``; the payment method is ``data.payment_method_id`` or the
    account's default, the gateway ``data.gateway_id`` or the method's, else the
    tenant's default (``charging`` resolves both)."""
    account = accounts.require_account(ctx, data.account_id)
    currency = account_currency(account, data.currency)
    amount_minor = positive_minor(data.amount, currency)
    today = ctx.clock.today()
    if data.effective_date is not None and data.effective_date != today:
        raise InvalidValue(
            f"The effective date of an electronic payment must be today ({today}).",
            resource=PAYMENT,
            field="effectiveDate",
        )
    return ChargeRequest(
        account_id=account.id,
        amount_minor=amount_minor,
        invoices=data.invoices,
        payment_method_id=data.payment_method_id,
        gateway_id=data.gateway_id,
        comment=data.comment,
        source=data.source,
        gateway_order_id=data.gateway_order_id,
        auth_transaction_id=data.auth_transaction_id,
        soft_descriptor=data.soft_descriptor,
        reference_id=data.reference_id,
    )
