"""Fusebill card payments through the test gateway: an approved charge is a payment that
pays its invoices; a declined one answers an error and leaves a Failed payment activity
and no payment (Fusebill's documented behaviour)."""

from __future__ import annotations

from datetime import timedelta

from billcycle.clock import FrozenClock
from billcycle.payments.reconciler import reconcile_due
from billcycle.runtime import Runtime
from tests.charging.helpers import add_method
from tests.fusebill.helpers import assert_error
from tests.fusebill_payments.helpers import balances, customer_with, fget, fpost, ok
from tests.gateways.helpers import SETTLE_AFTER, configure_test_gateway
from tests.support.api import Api


def test_card_payment_approved_and_declined(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    billed = customer_with(runtime, api, ["30", "20"])
    configure_test_gateway(runtime, tenant_id, make_default=True)
    good = add_method(runtime, tenant_id, billed.account_id, "tok_visa")
    bad = add_method(runtime, tenant_id, billed.account_id, "tok_chargeDeclined", default=False)
    body = {
        "customerId": billed.account_id,
        "amount": 30,
        "paymentMethod": "CreditCard",
        "paymentMethodId": good,
        "source": "Manual",
        "paymentAllocations": [{"invoiceId": billed.invoice_ids[0], "amount": 30}],
    }
    payment = ok(fpost(api, "/v1/payments", body))
    assert [(a["invoiceId"], a["amount"]) for a in payment["invoiceAllocations"]] == [
        (billed.invoice_ids[0], 30)
    ]
    assert balances(api, billed.invoice_ids[:1]) == [(30, 0, "Paid")]
    activity = ok(fget(api, f"/v1/PaymentActivities/{payment['paymentActivityId']}"))
    assert (activity["status"], activity["method"]) == (
        "Successful",
        "CreditCard (Visa ending in 4242)",
    )

    declined = fpost(
        api,
        "/v1/payments",
        {
            **body,
            "paymentMethodId": bad,
            "amount": 20,
            "paymentAllocations": [{"invoiceId": billed.invoice_ids[1], "amount": 20}],
        },
    )
    message = assert_error(declined, 409, "The payment failed")
    assert balances(api, billed.invoice_ids[1:]) == [(0, 20, "Overdue")]
    listed = ok(fget(api, f"/v1/customers/{billed.account_id}/paymentActivities"))
    failed = listed[0]
    assert f"payment activity {failed['id']}" in message
    assert (failed["status"], failed["transaction"], failed["amount"]) == ("Failed", None, 20)
    assert [a["status"] for a in listed] == ["Failed", "Successful"]

    # Bad card requests are refused before any charge and leave nothing behind.
    assert_error(
        fpost(api, "/v1/payments", {**body, "paymentMethodId": None}),
        400,
        "paymentMethodId is required",
    )
    assert_error(fpost(api, "/v1/payments", {**body, "paymentMethodId": 10**9}), 404)
    assert len(ok(fget(api, f"/v1/customers/{billed.account_id}/paymentActivities"))) == 2


def test_card_payment_refunded_through_the_gateway(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    billed = customer_with(runtime, api, ["30"])
    configure_test_gateway(runtime, tenant_id, make_default=True)
    add_method(runtime, tenant_id, billed.account_id, "tok_visa")
    body = {
        "customerId": billed.account_id,
        "amount": 40,
        "paymentMethod": "CreditCard",
        "useDefaultPaymentMethod": True,
        "source": "SelfServicePortal",
        "autoAllocate": True,
    }
    payment = ok(fpost(api, "/v1/payments", body))
    assert (payment["unallocatedAmount"], balances(api, billed.invoice_ids)) == (
        10,
        [(30, 0, "Paid")],
    )
    refund = ok(
        fpost(
            api,
            "/v1/Refunds",
            {
                "originalPaymentId": payment["id"],
                "amount": 25,
                "refundAllocations": [{"invoiceId": billed.invoice_ids[0], "amount": 25}],
            },
        )
    )
    assert refund["method"] == "CreditCard (Visa ending in 4242)"
    after = ok(fget(api, f"/v1/payments/{payment['id']}"))
    assert (after["refundableAmount"], after["unallocatedAmount"]) == (15, 10)
    assert balances(api, billed.invoice_ids) == [(5, 25, "Overdue")]
    activity = ok(fget(api, f"/v1/paymentActivities/{refund['paymentActivityId']}"))
    assert (activity["transactionType"], activity["status"], activity["source"]) == (
        "Refund",
        "Successful",
        "SelfServicePortal",
    )


def test_pending_card_payment_is_unknown_until_it_settles(
    api: Api, runtime: Runtime, machine_clock: FrozenClock
) -> None:
    tenant_id = api.tenant.tenant_id
    billed = customer_with(runtime, api, ["30"])
    configure_test_gateway(runtime, tenant_id, make_default=True)
    add_method(runtime, tenant_id, billed.account_id, "tok_pendingThenSettled")
    body = {
        "customerId": billed.account_id,
        "amount": 30,
        "paymentMethod": "CreditCard",
        "useDefaultPaymentMethod": True,
        "source": "Automatic",
        "paymentAllocations": [{"invoiceId": billed.invoice_ids[0], "amount": 30}],
    }
    payment = ok(fpost(api, "/v1/payments", body))
    # Pending: nothing is paid yet, and the attempt's outcome is Unknown.
    assert (payment["invoiceAllocations"], payment["unallocatedAmount"]) == ([], 30)
    assert balances(api, billed.invoice_ids) == [(0, 30, "Overdue")]
    path = f"/v1/paymentActivities/{payment['paymentActivityId']}"
    assert ok(fget(api, path))["status"] == "Unknown"

    machine_clock.advance(timedelta(seconds=SETTLE_AFTER + 1))
    reconcile_due(runtime, tenant_id=tenant_id, older_than=timedelta(0))
    assert ok(fget(api, path))["status"] == "Successful"
    assert balances(api, billed.invoice_ids) == [(30, 0, "Paid")]
