# The SDK types nearly every field Optional and leaves its constructors untyped.
# mypy: disable-error-code="union-attr, no-untyped-call, arg-type, index"
"""``POST /v1/payments`` with ``type: Electronic`` charges through the gateway at once
(``payments.charging``) and answers the payment with the gateway's outcome: Processed and
applied, a failed request (the Error payment kept) on a decline, or Processing while the
gateway's answer is pending. An Idempotency-Key charges once."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from zuora_sdk.exceptions import ApiException
from zuora_sdk.models.create_payment_invoice_application import CreatePaymentInvoiceApplication
from zuora_sdk.models.create_payment_request import CreatePaymentRequest
from zuora_sdk.models.create_refundwith_auto_unapply import CreateRefundwithAutoUnapply
from zuora_sdk.zuora_client import ZuoraClient

from billcycle.clock import FrozenClock
from billcycle.gateways.statuses import TransactionKind
from billcycle.ids import to_zuora_id
from billcycle.payments import reconciler
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.charging.helpers import add_method, balance, charge_rows
from tests.gateways.helpers import SETTLE_AFTER, Sleeps, configure_test_gateway
from tests.payments.helpers import Billed, posted_invoices
from tests.support.zuora_sdk import make_sdk_client
from tests.zuora_payments.helpers import ledger_state


@pytest.fixture
def client(live_url: str, tenant: NewTenant) -> ZuoraClient:
    return make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)


@pytest.fixture
def billed(runtime: Runtime, tenant: NewTenant) -> Billed:
    billed = posted_invoices(runtime, tenant.tenant_id, ["100", "40"])
    configure_test_gateway(runtime, tenant.tenant_id, make_default=True)
    return billed


def electronic(
    billed: Billed, amount: float, *invoices: tuple[int, float], **extra: object
) -> CreatePaymentRequest:
    return CreatePaymentRequest(
        account_id=to_zuora_id(billed.account_id),
        amount=amount,
        currency="USD",
        type="Electronic",
        effective_date="2026-01-10",
        invoices=[
            CreatePaymentInvoiceApplication(invoice_id=to_zuora_id(i), amount=a)
            for i, a in invoices
        ]
        or None,
        **extra,
    )


def test_an_approved_charge_is_processed_and_applied(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant, billed: Billed
) -> None:
    method_id = add_method(runtime, tenant.tenant_id, billed.account_id, "tok_visa")
    first = billed.invoice_ids[0]
    paid = client.payments_api().create_payment(electronic(billed, 100, (first, 100)))
    assert (paid.status, paid.type, paid.gateway_state) == ("Processed", "Electronic", "Settled")
    assert paid.payment_method_id == to_zuora_id(method_id)
    assert paid.gateway_order_id == paid.number
    assert paid.reference_id  # the gateway's transaction id
    assert Decimal(str(paid.applied_amount)) == 100
    assert balance(runtime, tenant.tenant_id, first) == 0


def test_a_declined_charge_fails_the_request_and_keeps_the_error_payment(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant, billed: Billed
) -> None:
    """Zuora answers a gateway's refusal as a failed request (category 99, integration
    error) with the gateway's reason; the attempt stays recorded as an Error payment."""
    add_method(runtime, tenant.tenant_id, billed.account_id, "tok_visa")
    declined = add_method(
        runtime, tenant.tenant_id, billed.account_id, "tok_chargeDeclined", default=False
    )
    first = billed.invoice_ids[0]
    payments = client.payments_api()
    body = electronic(billed, 100, (first, 100), payment_method_id=to_zuora_id(declined))
    with pytest.raises(ApiException) as refused:
        payments.create_payment(body, idempotency_key="declined-1")
    assert refused.value.status == 402
    answer = json.loads(refused.value.body)
    assert answer["success"] is False
    [reason] = answer["reasons"]
    assert reason["code"] == 50050099
    assert reason["message"].startswith("Transaction declined.generic_decline - ")
    # A replay of the key answers the same failure and charges nothing more.
    with pytest.raises(ApiException) as replayed:
        payments.create_payment(body, idempotency_key="declined-1")
    assert replayed.value.status == 402
    assert json.loads(replayed.value.body)["reasons"][0]["message"] == reason["message"]
    assert len(charge_rows(runtime, tenant.tenant_id)) == 1
    # The attempt is kept: an Error payment with the gateway's code, nothing applied.
    [failed] = payments.get_retrieve_all_payments(status="Error").payments
    assert (failed.type, failed.payment_method_id) == ("Electronic", to_zuora_id(declined))
    assert failed.gateway_response_code == "generic_decline"
    assert failed.gateway_response
    assert failed.gateway_response in reason["message"]
    assert Decimal(str(failed.applied_amount)) == 0
    assert balance(runtime, tenant.tenant_id, first) == 10000
    # Clients on a Zuora-Version before 2024-05-20 get the same failure with HTTP 200.
    client.set_zuora_version("2023-01-01")  # the SDK's default header wins over a call's
    legacy = client.payments_api().create_payment(
        electronic(billed, 5, payment_method_id=to_zuora_id(declined))
    )
    assert legacy.success is False
    assert legacy.reasons[0].code == 50050099
    assert legacy.id is None
    assert len(payments.get_retrieve_all_payments(status="Error").payments) == 2


def test_the_clients_fields_are_kept_on_an_electronic_payment(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant, billed: Billed
) -> None:
    """authTransactionId, softDescriptor, comment and gatewayOrderId come back as sent; the
    referenceId shown is the gateway's transaction id, as Zuora documents it."""
    add_method(runtime, tenant.tenant_id, billed.account_id, "tok_visa")
    paid = client.payments_api().create_payment(
        electronic(
            billed,
            20,
            auth_transaction_id="auth-123",
            soft_descriptor="BILLCYCLE*PLAN",
            reference_id="client-ref-1",
            comment="first charge",
            gateway_order_id="order-77",
        )
    )
    assert paid.status == "Processed"
    shown = client.payments_api().get_payment(paid.id)
    for answer in (paid, shown):
        assert answer.auth_transaction_id == "auth-123"
        assert answer.soft_descriptor == "BILLCYCLE*PLAN"
        assert answer.comment == "first charge"
        assert answer.gateway_order_id == "order-77"
        assert answer.reference_id
        assert answer.reference_id != "client-ref-1"
        assert Decimal(str(answer.credit_balance_amount)) == 0


def test_a_pending_charge_stays_processing_until_the_gateway_settles_it(
    client: ZuoraClient,
    runtime: Runtime,
    tenant: NewTenant,
    billed: Billed,
    machine_clock: FrozenClock,
) -> None:
    add_method(runtime, tenant.tenant_id, billed.account_id, "tok_pendingThenSettled")
    second = billed.invoice_ids[1]
    payments = client.payments_api()
    waiting = payments.create_payment(electronic(billed, 40, (second, 40)))
    assert waiting.status == "Processing"
    assert Decimal(str(waiting.applied_amount)) == 0
    assert balance(runtime, tenant.tenant_id, second) == 4000
    # The gateway settles it; the reconciler's sweep records that and applies it.
    machine_clock.advance(timedelta(seconds=SETTLE_AFTER))
    reconciler.reconcile_due(
        runtime, older_than=timedelta(0), sleep=Sleeps(), tenant_id=tenant.tenant_id
    )
    settled = payments.get_payment(waiting.number)
    assert (settled.status, settled.applied_amount) == ("Processed", 40)
    assert balance(runtime, tenant.tenant_id, second) == 0


def test_the_idempotency_key_charges_once(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant, billed: Billed
) -> None:
    add_method(runtime, tenant.tenant_id, billed.account_id, "tok_visa")
    payments = client.payments_api()
    body = electronic(billed, 30)
    one = payments.create_payment(body, idempotency_key="pay-once-1")
    two = payments.create_payment(body, idempotency_key="pay-once-1")
    assert (one.id, one.status) == (two.id, "Processed")
    assert len(charge_rows(runtime, tenant.tenant_id)) == 1
    with pytest.raises(ApiException) as other_body:
        payments.create_payment(electronic(billed, 31), idempotency_key="pay-once-1")
    assert other_body.value.status == 422  # the key was used with another body
    assert len(charge_rows(runtime, tenant.tenant_id)) == 1


def test_refused_charges_write_nothing(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant, billed: Billed
) -> None:
    payments = client.payments_api()
    before = ledger_state(runtime, tenant.tenant_id, billed.account_id, billed.invoice_ids)
    # No default payment method yet.
    with pytest.raises(ApiException) as no_method:
        payments.create_payment(electronic(billed, 10))
    assert no_method.value.status == 400
    assert json.loads(no_method.value.body)["reasons"][0]["code"] == 50050030
    add_method(runtime, tenant.tenant_id, billed.account_id, "tok_visa")
    for bad in (
        CreatePaymentRequest(
            account_id=to_zuora_id(billed.account_id), amount=10, currency="EUR", type="Electronic"
        ),
        CreatePaymentRequest(
            account_id=to_zuora_id(billed.account_id), amount=0, currency="USD", type="Electronic"
        ),
        CreatePaymentRequest(
            account_id=to_zuora_id(billed.account_id),
            amount=10,
            currency="USD",
            type="Electronic",
            effective_date="2026-01-09",
        ),
        electronic(billed, 10, (billed.invoice_ids[1], 50)),
    ):
        with pytest.raises(ApiException) as refused:
            payments.create_payment(bad)
        assert refused.value.status == 400, refused.value.body
    assert charge_rows(runtime, tenant.tenant_id) == []
    assert ledger_state(runtime, tenant.tenant_id, billed.account_id, billed.invoice_ids) == before


def test_electronic_refunds_go_back_through_the_gateway(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant, billed: Billed
) -> None:
    add_method(runtime, tenant.tenant_id, billed.account_id, "tok_visa")
    first = billed.invoice_ids[0]
    payments = client.payments_api()
    paid = payments.create_payment(electronic(billed, 100, (first, 80)))
    refund = payments.refund_paymentwith_auto_unapply(
        paid.number,
        CreateRefundwithAutoUnapply(total_amount=30, type="Electronic"),
        idempotency_key="refund-card-1",
    )
    assert (refund.status, refund.type, refund.gateway_id) == (
        "Processed",
        "Electronic",
        paid.gateway_id,
    )
    assert refund.reference_id  # the gateway's refund transaction
    again = payments.refund_paymentwith_auto_unapply(
        paid.number,
        CreateRefundwithAutoUnapply(total_amount=30, type="Electronic"),
        idempotency_key="refund-card-1",
    )
    assert again.id == refund.id
    after = payments.get_payment(paid.id)
    assert (after.applied_amount, after.unapplied_amount, after.refund_amount) == (70, 0, 30)
    assert balance(runtime, tenant.tenant_id, first) == 3000
    # One refund reached the gateway, once.
    kinds = [row.kind for row in charge_rows(runtime, tenant.tenant_id)]
    assert kinds.count(TransactionKind.REFUND) == 1
