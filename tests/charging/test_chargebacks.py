"""Chargebacks and ACH returns after settlement, through zuora-sdk's
PaymentGatewayReconciliationApi on both databases: the money leaves the account, the
invoices reopen, the payment stays Processed, and the payment method counts a failure."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select
from zuora_sdk.exceptions import ApiException
from zuora_sdk.models.reject_payment_request import RejectPaymentRequest
from zuora_sdk.models.reverse_payment_request import ReversePaymentRequest
from zuora_sdk.zuora_client import ZuoraClient

from billcycle.ids import to_zuora_id
from billcycle.ledger.models import LedgerEntry
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.statuses import PaymentMethodType
from billcycle.payments import charging
from billcycle.payments import service as payments
from billcycle.payments.statuses import GatewayState, PaymentStatus
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.charging.helpers import Setup, Sleeps, balance, method, payment, request, setup
from tests.gateways.helpers import open_test_gateway
from tests.payments.helpers import check_invariants, pay
from tests.support.zuora_sdk import make_sdk_client


@pytest.fixture
def client(live_url: str, tenant: NewTenant) -> ZuoraClient:
    return make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)


def paid(runtime: Runtime, tenant_id: int, amounts: list[str]) -> tuple[Setup, int, str]:
    s = setup(runtime, tenant_id, amounts)
    outcome = charging.charge_now(
        runtime,
        tenant_id,
        request(s, sum(int(a) * 100 for a in amounts), *((i, None) for i in s.invoice_ids)),
    )
    assert outcome.succeeded
    assert outcome.payment_id is not None
    assert outcome.transaction_id is not None
    return s, outcome.payment_id, outcome.transaction_id


def entries(runtime: Runtime, tenant_id: int) -> int:
    with runtime.service_context(tenant_id) as ctx:
        return int(
            ctx.session.execute(
                select(func.count()).where(LedgerEntry.tenant_id == tenant_id)
            ).scalar_one()
        )


def test_a_chargeback_reopens_the_invoice_and_counts_as_a_failure(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    s, payment_id, sale = paid(runtime, t, ["100", "50"])
    first, second = s.invoice_ids
    number = payment(runtime, t, payment_id).number
    # The card network takes 60.00 back; the gateway's settlement report says so.
    dispute = open_test_gateway(runtime, t, Sleeps()).chargeback(sale, Decimal(60))
    assert dispute.approved
    refund = client.payment_gateway_reconciliation_api().reverse_payment(
        number,
        ReversePaymentRequest(
            amount=60,
            gateway_response=dispute.message,
            gateway_response_code=dispute.code,
            reference_id=dispute.transaction_id,
        ),
    )
    assert refund.amount == 60
    assert refund.type == "External"
    assert refund.refund_transaction_type == "Chargeback"
    assert refund.reason_code == "Payment Reversal"
    assert refund.method_type == "CreditCard"
    assert refund.status == "Processed"
    assert refund.payment_id == to_zuora_id(payment_id)
    assert refund.gateway_response_code == "chargeback"
    reversed_ = payment(runtime, t, payment_id)
    assert reversed_.status == PaymentStatus.PROCESSED
    assert reversed_.gateway_state == GatewayState.SETTLED
    # The newest application is taken back first: the second invoice reopens whole,
    # the first owes the other 10.00.
    assert balance(runtime, t, second) == 5000
    assert balance(runtime, t, first) == 1000
    assert method(runtime, t, s.method_id).num_consecutive_failures == 1
    with runtime.service_context(t) as ctx:
        view = payments.view_payment(ctx, payments.get_payment(ctx, payment_id))
        assert view.amounts.refunded_minor == 6000
        assert view.amounts.applied_minor == 9000
        check_invariants(ctx)
    # More than is left to give back is refused and changes nothing.
    before = entries(runtime, t)
    with pytest.raises(ApiException) as too_much:
        client.payment_gateway_reconciliation_api().reverse_payment(
            number, ReversePaymentRequest(amount=100)
        )
    assert too_much.value.status == 400
    assert entries(runtime, t) == before


def test_an_ach_return_rejects_the_whole_payment(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    s, payment_id, _ = paid(runtime, t, ["100"])
    with runtime.service_context(t) as ctx:
        row = ctx.session.get(PaymentMethod, s.method_id)
        assert row is not None
        row.type = PaymentMethodType.ACH.value
    (invoice,) = s.invoice_ids
    api = client.payment_gateway_reconciliation_api()
    refund = api.reject_payment(
        to_zuora_id(payment_id),
        RejectPaymentRequest(
            gateway_response="R01 Insufficient funds", gateway_response_code="R01"
        ),
    )
    assert refund.amount == 100
    assert refund.method_type == "ACH"
    assert refund.reason_code == "Payment Rejection"
    assert refund.refund_transaction_type == "PaymentReversal"
    rejected = payment(runtime, t, payment_id)
    assert rejected.status == PaymentStatus.PROCESSED
    assert rejected.gateway_state == GatewayState.FAILED_TO_SETTLE
    assert rejected.gateway_response_code == "R01"
    assert balance(runtime, t, invoice) == 10000
    assert method(runtime, t, s.method_id).num_consecutive_failures == 1
    before = entries(runtime, t)
    with pytest.raises(ApiException) as again:
        api.reject_payment(to_zuora_id(payment_id), RejectPaymentRequest())
    assert again.value.status == 400
    assert "already rejected" in str(again.value.body)
    # An external payment was never settled by a gateway; an unknown one is not found.
    with runtime.service_context(t) as ctx:
        external = pay(ctx, s.account_id, "5").number
    with pytest.raises(ApiException) as recorded:
        api.reject_payment(external, RejectPaymentRequest())
    assert recorded.value.status == 400
    with pytest.raises(ApiException) as missing:
        api.reject_payment("P-99999999", RejectPaymentRequest())
    assert missing.value.status == 404
    assert entries(runtime, t) == before + 1  # the external payment's own entry
    with runtime.service_context(t) as ctx:
        check_invariants(ctx)
