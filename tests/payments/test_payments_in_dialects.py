"""A payment made through the payment service shows in both dialects' answers, which read
the ledger: Zuora's invoice ``balance``/``paymentAmount``, the account summary's
``balance`` and the account's ``unappliedPaymentAmount`` (its ``creditBalance`` stays 0, as
under Zuora's Invoice Settlement); Fusebill's invoice ``totalPayments``,
``outstandingBalance`` and status. A Processing payment shows nowhere until it settles."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billcycle.accounts.models import Account
from billcycle.payments import applications, refunds
from billcycle.payments import service as payments
from billcycle.payments.inputs import GatewayOutcome, NewRefund
from billcycle.payments.statuses import PaymentType, RefundMethodType
from billcycle.runtime import Runtime
from tests.payments.helpers import apps, pay, posted_invoices
from tests.support.api import Api


def zuora(api: Api, path: str) -> dict[str, Any]:
    response = api.client.get(f"/zuora{path}", headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def fusebill(api: Api, path: str) -> dict[str, Any]:
    response = api.client.get(f"/fusebill{path}", headers=api.fusebill_headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def views(api: Api, invoice_id: int) -> tuple[Any, ...]:
    z = zuora(api, f"/v1/invoices/{invoice_id:032x}")
    f = fusebill(api, f"/v1/invoices/{invoice_id}")
    return (
        z["balance"],
        z["paymentAmount"],
        f["outstandingBalance"],
        f["totalPayments"],
        f["status"],
    )


def summary(api: Api, runtime: Runtime, account_id: int) -> tuple[Any, Any]:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        account = ctx.session.get(Account, account_id)
        assert account is not None
        number = account.account_number
    owed = zuora(api, f"/v1/accounts/{number}/summary")["basicInfo"]["balance"]
    metrics = zuora(api, f"/v1/accounts/{number}")["metrics"]
    assert Decimal(owed) == Decimal(str(metrics["balance"]))  # the summary writes a string
    assert metrics["creditBalance"] == 0
    return metrics["balance"], metrics["unappliedPaymentAmount"]


def test_payments_show_in_both_dialects(api: Api, runtime: Runtime) -> None:
    t = api.tenant.tenant_id
    billed = posted_invoices(runtime, t, ["100", "40"])
    first, second = billed.invoice_ids
    assert views(api, first) == (100, 0, 100, 0, "Overdue")
    with runtime.service_context(t) as ctx:
        electronic = pay(ctx, billed.account_id, "100", payment_type=PaymentType.ELECTRONIC).id
        external = pay(ctx, billed.account_id, "150", (first, "100"), (second, "15")).id
    assert views(api, first) == (0, 100, 0, 100, "Paid")
    assert views(api, second) == (25, 15, 25, 15, "Overdue")  # due in 2025
    # The Processing electronic payment adds nothing unapplied; the external one's 35 is.
    assert summary(api, runtime, billed.account_id) == (25, 35)

    with runtime.service_context(t) as ctx:
        payments.settle_payment(ctx, electronic, GatewayOutcome(succeeded=True))
        applications.unapply_payment(ctx, external, apps((first, "60")))
        refunds.refund_payment(
            ctx, external, NewRefund(amount=Decimal("95"), method_type=RefundMethodType.CHECK)
        )
    assert views(api, first) == (60, 40, 60, 40, "Overdue")
    assert summary(api, runtime, billed.account_id) == (85, 100)
