"""BulkPayment records of payment type CreditCard and ACH: judged against the customer's
payment methods when validated, charged through the gateway when processed (a decline
fails the record, leaves a Failed activity - NSF for insufficient funds - and no payment;
an approval pays the invoices); recorded records in the same job are recorded as before.
Also the Validate activity a payment-method verification leaves. Both databases."""

from __future__ import annotations

from typing import Any

from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.paymentmethods.statuses import PaymentMethodType
from billcycle.runtime import Runtime
from tests.charging.helpers import add_method
from tests.fusebill_payments.helpers import balances, customer_with, fget, fpost, ok
from tests.gateways.helpers import configure_test_gateway
from tests.paymentruns.helpers import gateway_charges
from tests.support.api import Api


def _card(customer_id: int, amount: Any, **more: Any) -> dict[str, Any]:
    return {
        "customerId": customer_id,
        "amount": amount,
        "paymentMethod": "CreditCard",
        "source": "Import",
        **more,
    }


def test_card_and_ach_records_are_charged(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    t = api.tenant.tenant_id
    configure_test_gateway(runtime, t, make_default=True)
    one = customer_with(runtime, api, ["30", "20"])
    two = customer_with(runtime, api, ["50"])
    three = customer_with(runtime, api, ["10"])
    four = customer_with(runtime, api, ["40"])
    visa = add_method(runtime, t, one.account_id, "tok_visa")
    poor = add_method(runtime, t, two.account_id, "tok_chargeDeclinedInsufficientFunds")
    ach = add_method(runtime, t, four.account_id, default=False, method_type=PaymentMethodType.ACH)
    data = [
        _card(
            one.account_id,
            30,
            useDefaultPaymentMethod=True,
            paymentAllocations=[{"invoiceId": one.invoice_ids[0], "amount": 30}],
        ),
        _card(one.account_id, "20.00", paymentMethodId=visa, autoAllocate=True),
        _card(
            two.account_id,
            50,
            useDefaultPaymentMethod=True,
            paymentAllocations=[{"invoiceId": two.invoice_ids[0], "amount": 50}],
        ),
        {
            **_card(four.account_id, 40, paymentMethodId=ach, autoAllocate=True),
            "paymentMethod": "ACH",
        },
        {
            "customerId": three.account_id,
            "amount": 10,
            "paymentMethod": "Check",
            "source": "Import",
            "autoAllocate": True,
        },
        _card(three.account_id, 10, useDefaultPaymentMethod=True),  # no default method
        _card(one.account_id, 5),  # names no method
        _card(one.account_id, 5, paymentMethodId=poor),  # another customer's method
    ]
    job = ok(fpost(api, "/v1/BulkApi", {"accountUploadType": "BulkPayment", "data": data}))
    jobs.run_until_idle()
    validated = ok(fget(api, f"/v1/BulkApi/{job['id']}", view="Full"))
    assert (validated["successfulRecords"], validated["failedRecords"]) == (5, 3)
    assert [(r["status"], r["details"]) for r in validated["records"][5:]] == [
        ("FailedValidation", "The customer has no default payment method."),
        ("FailedValidation", "paymentMethodId is required for CreditCard and ACH payments."),
        ("FailedValidation", f"Payment method {poor} not found for this customer."),
    ]
    assert gateway_charges(runtime, t) == 0  # validating charges nothing

    ok(fpost(api, "/v1/BulkApi/Process", {"id": job["id"]}))
    jobs.run_until_idle()
    done = ok(fget(api, f"/v1/BulkApi/{job['id']}", view="Full"))
    assert done["status"] == "ProcessedWithErrors"
    assert (done["processedRecords"], done["failedProcessedRecords"]) == (4, 1)
    records = done["records"]
    assert [r["status"] for r in records[:5]] == [
        "Processed",
        "Processed",
        "FailedProcessing",
        "Processed",
        "Processed",
    ]
    assert records[2]["details"] == "The payment failed: Your card has insufficient funds."
    assert not records[2].get("createdEntityId")
    assert gateway_charges(runtime, t) == 4  # one sale a charged record, the declined one included
    assert balances(api, one.invoice_ids) == [(30, 0, "Paid"), (20, 0, "Paid")]
    assert balances(api, two.invoice_ids) == [(0, 50, "Overdue")]
    assert balances(api, four.invoice_ids) == [(40, 0, "Paid")]
    assert balances(api, three.invoice_ids) == [(10, 0, "Paid")]
    first = ok(fget(api, f"/v1/payments/{records[0]['createdEntityId']}"))
    assert [(a["invoiceId"], a["amount"]) for a in first["invoiceAllocations"]] == [
        (one.invoice_ids[0], 30)
    ]
    activity = ok(fget(api, f"/v1/PaymentActivities/{first['paymentActivityId']}"))
    assert (activity["status"], activity["transactionType"], activity["method"]) == (
        "Successful",
        "Collect",
        "CreditCard (Visa ending in 4242)",
    )
    ach_payment = ok(fget(api, f"/v1/payments/{records[3]['createdEntityId']}"))
    ach_activity = ok(fget(api, f"/v1/PaymentActivities/{ach_payment['paymentActivityId']}"))
    assert ach_activity["method"] == "ACH (ending in 6789)"
    [nsf] = ok(fget(api, f"/v1/customers/{two.account_id}/paymentActivities"))
    assert (nsf["status"], nsf["transactionType"], nsf["transaction"], nsf["amount"]) == (
        "Failed",
        "NSF",
        None,
        50,
    )

    # Processed again (a chunk re-run): nothing is charged a second time.
    jobs.run_until_idle()
    assert gateway_charges(runtime, t) == 4


def test_a_declined_single_card_payment_for_insufficient_funds_is_an_nsf_activity(
    api: Api, runtime: Runtime
) -> None:
    t = api.tenant.tenant_id
    billed = customer_with(runtime, api, ["30"])
    configure_test_gateway(runtime, t, make_default=True)
    add_method(runtime, t, billed.account_id, "tok_chargeDeclinedInsufficientFunds")
    declined = fpost(
        api,
        "/v1/payments",
        {
            "customerId": billed.account_id,
            "amount": 30,
            "paymentMethod": "CreditCard",
            "useDefaultPaymentMethod": True,
            "source": "Manual",
        },
    )
    assert declined.status_code == 409
    [nsf] = ok(fget(api, f"/v1/customers/{billed.account_id}/paymentActivities"))
    assert (nsf["status"], nsf["transactionType"]) == ("Failed", "NSF")


def test_verifying_a_method_leaves_a_validate_activity(api: Api, runtime: Runtime) -> None:
    t = api.tenant.tenant_id
    billed = customer_with(runtime, api, ["30"])
    configure_test_gateway(runtime, t, make_default=True)
    good = add_method(runtime, t, billed.account_id, "tok_visa")
    bad = add_method(runtime, t, billed.account_id, "tok_chargeDeclinedExpiredCard", default=False)
    verified = api.client.put(
        f"/zuora/v1/payment-methods/{good:032x}/verify", json={}, headers=api.zuora_headers
    )
    assert verified.json()["success"] is True
    refused = api.client.put(
        f"/zuora/v1/payment-methods/{bad:032x}/verify", json={}, headers=api.zuora_headers
    )
    assert refused.json()["success"] is False
    listed = ok(fget(api, f"/v1/customers/{billed.account_id}/paymentActivities"))
    assert sorted((a["transactionType"], a["status"], a["amount"]) for a in listed) == [
        ("Validate", "Failed", 0),
        ("Validate", "Successful", 0),
    ]
