# The SDK types nearly every field Optional and leaves its constructors untyped.
# mypy: disable-error-code="union-attr, no-untyped-call, arg-type, index"
"""Transfer, cancel, delete and update through zuora-sdk, keys by id and by number, and
refund lists: pages, filters (date-times as the SDK sends them) and sort."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from zuora_sdk.exceptions import ApiException
from zuora_sdk.models.create_payment_request import CreatePaymentRequest
from zuora_sdk.models.create_refund_request import CreateRefundRequest
from zuora_sdk.models.transfer_payment import TransferPayment
from zuora_sdk.models.update_payment_request import UpdatePaymentRequest
from zuora_sdk.zuora_client import ZuoraClient

from billcycle.clock import FrozenClock
from billcycle.ids import to_zuora_id
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.payments.helpers import check_invariants, posted_invoices
from tests.support.api import Api
from tests.support.zuora_sdk import make_sdk_client


@pytest.fixture
def client(live_url: str, tenant: NewTenant) -> ZuoraClient:
    return make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)


def external(account_id: int, amount: float) -> CreatePaymentRequest:
    return CreatePaymentRequest(
        account_id=to_zuora_id(account_id), amount=amount, currency="USD", type="External"
    )


def test_transfer_cancel_delete_and_update(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant
) -> None:
    one = posted_invoices(runtime, tenant.tenant_id, ["10"])
    two = posted_invoices(runtime, tenant.tenant_id, ["10"])
    payments = client.payments_api()
    created = payments.create_payment(external(one.account_id, 25))

    moved = payments.transfer_payment(
        created.number, TransferPayment(account_id=to_zuora_id(two.account_id))
    )
    assert moved.account_id == to_zuora_id(two.account_id)
    assert moved.unapplied_amount == 25
    listed = payments.get_retrieve_all_payments(account_id=to_zuora_id(two.account_id))
    assert [p.number for p in listed.payments] == [created.number]
    assert payments.get_retrieve_all_payments(account_id=to_zuora_id(one.account_id)).payments == []

    updated = payments.update_payment(
        created.id, UpdatePaymentRequest(comment="wire 77", reference_id="BANK-77")
    )
    assert (updated.comment, updated.reference_id) == ("wire 77", "BANK-77")

    canceled = payments.cancel_payment(created.number)
    assert (canceled.status, canceled.cancelled_on) == ("Canceled", "2026-01-10 09:00:00")
    assert payments.delete_payment(created.id).success is True
    with pytest.raises(ApiException) as gone:
        payments.get_payment(created.number)
    assert gone.value.status == 404
    with runtime.service_context(tenant.tenant_id) as ctx:
        check_invariants(ctx)


def test_refund_lists_page_filter_and_sort(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant, clock: FrozenClock, api: Api
) -> None:
    billed = posted_invoices(runtime, tenant.tenant_id, ["10"])
    payments, refunds = client.payments_api(), client.refunds_api()
    payment = payments.create_payment(external(billed.account_id, 100))
    numbers = []
    for amount, method in ((10, "Check"), (20, "Cash"), (30, "Check")):
        refund = payments.create_refund_payment(
            payment.id,
            CreateRefundRequest(total_amount=amount, type="External", method_type=method),
        )
        numbers.append(refund.number)
        clock.advance(timedelta(days=1))

    first = refunds.get_refunds(page_size=2)
    assert [r.number for r in first.refunds] == [numbers[2], numbers[1]]
    assert first.next_page is not None
    last = refunds.get_refunds(page_size=2, page=2)
    assert [r.number for r in last.refunds] == [numbers[0]]
    assert last.next_page is None

    # zuora-sdk 3.21 cannot send methodType (it calls ``.value`` on the string its own
    # validation made): asked over HTTP instead.
    checks = api.client.get(
        "/zuora/v1/refunds?methodType=Check&sort=-amount", headers=api.zuora_headers
    )
    assert [r["amount"] for r in checks.json()["refunds"]] == [10, 30]
    assert [r.number for r in refunds.get_refunds(amount=20).refunds] == [numbers[1]]
    assert [r.number for r in refunds.get_refunds(refund_date=date(2026, 1, 11)).refunds] == [
        numbers[1]
    ]
    # The SDK sends date-times as ISO with microseconds: the second they name.
    second_day = datetime(2026, 1, 11, 9, 0, tzinfo=UTC)
    assert [r.number for r in refunds.get_refunds(created_date=second_day).refunds] == [numbers[1]]
    assert refunds.get_refunds(created_date=second_day + timedelta(seconds=1)).refunds == []
    by_payment = refunds.get_refunds(payment_id=payment.id, status="Processed", type="External")
    assert len(by_payment.refunds) == 3
    assert refunds.get_refunds(account_id=to_zuora_id(billed.account_id)).refunds[0].account_id == (
        to_zuora_id(billed.account_id)
    )
    # Payments: by effective date and creation time as the SDK sends them.
    assert [
        p.number
        for p in payments.get_retrieve_all_payments(
            effective_date=datetime(2026, 1, 10), created_date=datetime(2026, 1, 10, 9, 0)
        ).payments
    ] == [payment.number]
    assert payments.get_retrieve_all_payments(refund_amount=60).payments[0].number == payment.number
    assert payments.get_retrieve_all_payments(refund_amount=59).payments == []


def test_idempotency_keys_record_and_refund_once(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant
) -> None:
    billed = posted_invoices(runtime, tenant.tenant_id, ["10"])
    payments = client.payments_api()
    body = external(billed.account_id, 40)
    one = payments.create_payment(body, idempotency_key="cash-1")
    two = payments.create_payment(body, idempotency_key="cash-1")
    assert (two.id, two.number) == (one.id, one.number)
    with pytest.raises(ApiException) as reused:
        payments.create_payment(external(billed.account_id, 41), idempotency_key="cash-1")
    assert reused.value.status == 422  # the key was used with another body
    refund = CreateRefundRequest(total_amount=15, type="External", method_type="Check")
    first = payments.create_refund_payment(one.number, refund, idempotency_key="back-1")
    again = payments.create_refund_payment(one.number, refund, idempotency_key="back-1")
    assert again.id == first.id
    after = payments.get_payment(one.id)
    assert (after.refund_amount, after.unapplied_amount) == (15, 25)
    assert len(payments.get_retrieve_all_payments().payments) == 1
