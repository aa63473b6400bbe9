"""Electronic refunds through the payment's gateway, on both databases: Processing until
the gateway answers, Processed when it approves, Error with the money back on the
payment (unapplied) when it declines, and settled by the reconciler when the answer was
lost. ``amount = applied + unapplied + refunded`` at every step."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from billcycle.errors import RuleViolation
from billcycle.gateways.interface import RefundRequest
from billcycle.payments import charging, gateway_refunds, reconciler, refunds
from billcycle.payments import service as payments
from billcycle.payments.inputs import NewRefund
from billcycle.payments.statuses import PaymentType, RefundStatus
from billcycle.payments.views import PaymentAmounts
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.charging.helpers import Setup, Sleeps, balance, charge_rows, request, setup
from tests.gateways.helpers import open_test_gateway
from tests.payments.helpers import check_invariants, pay


def electronic(amount: str) -> NewRefund:
    return NewRefund(amount=Decimal(amount), refund_type=PaymentType.ELECTRONIC)


def amounts(runtime: Runtime, tenant_id: int, payment_id: int) -> PaymentAmounts:
    with runtime.service_context(tenant_id) as ctx:
        return payments.view_payment(ctx, payments.get_payment(ctx, payment_id)).amounts


def charged(runtime: Runtime, tenant_id: int) -> tuple[Setup, int, str]:
    s = setup(runtime, tenant_id, ["100"])
    outcome = charging.charge_now(runtime, tenant_id, request(s, 10000, (s.invoice_ids[0], None)))
    assert outcome.succeeded
    assert outcome.payment_id is not None
    assert outcome.transaction_id is not None
    return s, outcome.payment_id, outcome.transaction_id


def test_refunds_go_through_the_gateway(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    s, payment_id, sale = charged(runtime, t)
    (invoice,) = s.invoice_ids
    refund = gateway_refunds.refund_now(runtime, t, payment_id, electronic("30"), auto_unapply=True)
    assert refund.status == RefundStatus.PROCESSED
    assert refund.refund_type == PaymentType.ELECTRONIC
    assert refund.gateway_transaction_id is not None
    assert refund.gateway_id == s.gateway_id
    rows = charge_rows(runtime, t)
    assert [(row.kind, row.idempotency_key, row.amount_minor) for row in rows[1:]] == [
        ("Refund", refund.number, 3000)
    ]
    assert balance(runtime, t, invoice) == 3000
    got = amounts(runtime, t, payment_id)
    assert (got.applied_minor, got.unapplied_minor, got.refunded_minor) == (7000, 0, 3000)
    # Part of the sale is refunded at the gateway by other means: a refund of more than
    # is left there is declined, fails, and its money is back on the payment, unapplied.
    gateway = open_test_gateway(runtime, t, Sleeps())
    gateway.refund(
        RefundRequest(
            idempotency_key="outside-1", transaction_id=sale, amount=Decimal(60), currency="USD"
        )
    )
    declined = gateway_refunds.refund_now(
        runtime, t, payment_id, electronic("20"), auto_unapply=True
    )
    assert declined.status == RefundStatus.ERROR
    assert declined.gateway_response_code == "amount_too_large"
    got = amounts(runtime, t, payment_id)
    assert (got.applied_minor, got.unapplied_minor, got.refunded_minor) == (5000, 2000, 3000)
    assert balance(runtime, t, invoice) == 5000
    with runtime.service_context(t) as ctx:
        check_invariants(ctx)


def test_a_lost_refund_answer_is_reconciled(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    _s, payment_id, _ = charged(runtime, t)
    with runtime.service_context(t) as ctx:
        refund = gateway_refunds.begin_refund(ctx, payment_id, electronic("10"), auto_unapply=True)
    result, error = gateway_refunds.send_refund(runtime, t, refund.id)
    assert error is None
    assert result is not None
    assert result.approved
    # The process died here: the refund is Processing, its money already off the payment.
    got = amounts(runtime, t, payment_id)
    assert got.refunded_minor == 1000
    # Another one never reached the gateway.
    with runtime.service_context(t) as ctx:
        lost = gateway_refunds.begin_refund(ctx, payment_id, electronic("5"), auto_unapply=True)
    reconciler.reconcile_due(runtime, older_than=timedelta(0), tenant_id=t)
    with runtime.service_context(t) as ctx:
        assert refunds.get_refund(ctx, refund.id).status == RefundStatus.PROCESSED
        assert refunds.get_refund(ctx, lost.id).status == RefundStatus.ERROR
        check_invariants(ctx)
    got = amounts(runtime, t, payment_id)
    assert (got.applied_minor, got.unapplied_minor, got.refunded_minor) == (8500, 500, 1000)
    assert len(charge_rows(runtime, t)) == 2


def test_only_charged_electronic_payments_refund_through_a_gateway(
    runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["100"])
    with runtime.service_context(t) as ctx:
        external = pay(ctx, s.account_id, "10").id
        recorded = pay(ctx, s.account_id, "10", payment_type=PaymentType.ELECTRONIC).id
    with pytest.raises(RuleViolation, match="external"):
        gateway_refunds.refund_now(runtime, t, external, electronic("1"))
    with pytest.raises(RuleViolation):
        gateway_refunds.refund_now(runtime, t, recorded, electronic("1"))
    assert charge_rows(runtime, t) == []
    with runtime.service_context(t) as ctx:
        check_invariants(ctx)
