"""Fusebill payments through httpx: recorded payments allocated explicitly or
automatically, read back with their allocations, refunds and activities; the invoices'
``totalPayments``, ``outstandingBalance`` and status follow."""

from __future__ import annotations

from billcycle.runtime import Runtime
from tests.fusebill_payments.helpers import balances, customer_with, fget, fpost, ok
from tests.support.api import Api


def test_check_payment_allocated_then_refunded(api: Api, runtime: Runtime) -> None:
    billed = customer_with(runtime, api, ["100", "40"])
    first, second = billed.invoice_ids
    body = {
        "customerId": billed.account_id,
        "amount": 150,
        "paymentMethod": "Check",
        "source": "Manual",
        "reference": "cheque 1001",
        "paymentAllocations": [
            {"invoiceId": first, "amount": 100},
            {"invoiceId": second, "amount": 15.5},
        ],
    }
    payment = ok(fpost(api, "/v1/payments", body))
    assert payment["customerId"] == billed.account_id
    assert payment["amount"] == 150
    assert payment["currency"] == "USD"
    assert payment["reference"] == "cheque 1001"
    assert [(a["invoiceId"], a["amount"]) for a in payment["invoiceAllocations"]] == [
        (first, 100),
        (second, 15.5),
    ]
    assert payment["unallocatedAmount"] == 34.5
    assert payment["refundableAmount"] == 150
    assert payment["refunds"] == []
    assert payment["uri"].endswith(f"/fusebill/v1/payments/{payment['id']}")
    assert ok(fget(api, f"/v1/payments/{payment['id']}")) == payment
    assert balances(api, [first, second]) == [(100, 0, "Paid"), (15.5, 24.5, "Overdue")]

    activity = ok(fget(api, f"/v1/paymentActivities/{payment['paymentActivityId']}"))
    assert (activity["status"], activity["transactionType"], activity["method"]) == (
        "Successful",
        "Collect",
        "Check",
    )
    assert activity["source"] == "Manual"
    assert activity["amount"] == 150
    assert activity["transaction"]["id"] == payment["id"]

    # Refund 50: 34.50 unallocated, so the invoices to take the rest from are named.
    refund = ok(
        fpost(
            api,
            "/v1/Refunds",
            {
                "originalPaymentId": payment["id"],
                "amount": 50,
                "method": "Check",
                "reference": "returned",
                "refundAllocations": [{"invoiceId": first, "amount": 50}],
            },
        )
    )
    assert refund["originalPaymentId"] == payment["id"]
    assert refund["amount"] == 50
    assert refund["originalPaymentActivityId"] == payment["paymentActivityId"]
    after = ok(fget(api, f"/v1/payments/{payment['id']}"))
    assert [(a["invoiceId"], a["amount"]) for a in after["invoiceAllocations"]] == [
        (first, 50),
        (second, 15.5),
    ]
    assert after["unallocatedAmount"] == 34.5
    assert after["refundableAmount"] == 100
    assert [r["id"] for r in after["refunds"]] == [refund["id"]]
    assert balances(api, [first]) == [(50, 50, "Overdue")]

    listed = fget(api, f"/v1/customers/{billed.account_id}/paymentActivities")
    assert [(a["transactionType"], a["amount"]) for a in ok(listed)] == [
        ("Refund", 50),
        ("Collect", 150),
    ]
    assert listed.headers["X-MaxCount"] == "2"


def test_auto_allocation_orders(api: Api, runtime: Runtime) -> None:
    billed = customer_with(runtime, api, ["30", "30", "30"])
    old, middle, new = billed.invoice_ids
    body = {
        "customerId": billed.account_id,
        "amount": "45",
        "paymentMethod": "Cash",
        "source": "Manual",
        "autoAllocate": True,
    }
    ok(fpost(api, "/v1/payments", body))
    assert [b[1] for b in balances(api, [old, middle, new])] == [0, 15, 30]
    newest = ok(fpost(api, "/v1/payments", {**body, "autoAllocateOrder": "NewestToOldest"}))
    assert [b[1] for b in balances(api, [old, middle, new])] == [0, 0, 0]
    assert [(a["invoiceId"], a["amount"]) for a in newest["invoiceAllocations"]] == [
        (middle, 15),
        (new, 30),
    ]
    # Nothing left to pay: the next payment stays unallocated.
    left = ok(fpost(api, "/v1/payments", {**body, "amount": 5}))
    assert (left["invoiceAllocations"], left["unallocatedAmount"]) == ([], 5)


def test_direct_deposit_payment_allocated_read_and_refunded(api: Api, runtime: Runtime) -> None:
    """A single DirectDeposit payment (BulkPayment's tests covered it only in bulk): recorded
    at once as an External payment, allocated, its activity's method DirectDeposit, and
    refunded by direct deposit."""
    billed = customer_with(runtime, api, ["80"])
    (invoice,) = billed.invoice_ids
    body = {
        "customerId": billed.account_id,
        "amount": 100,
        "paymentMethod": "DirectDeposit",
        "source": "Import",
        "reference": "wire 77",
        "paymentAllocations": [{"invoiceId": invoice, "amount": 80}],
    }
    payment = ok(fpost(api, "/v1/payments", body))
    assert (payment["amount"], payment["unallocatedAmount"], payment["reference"]) == (
        100,
        20,
        "wire 77",
    )
    assert [(a["invoiceId"], a["amount"]) for a in payment["invoiceAllocations"]] == [(invoice, 80)]
    assert ok(fget(api, f"/v1/payments/{payment['id']}")) == payment
    assert balances(api, [invoice]) == [(80, 0, "Paid")]
    activity = ok(fget(api, f"/v1/paymentActivities/{payment['paymentActivityId']}"))
    assert (activity["status"], activity["transactionType"], activity["method"]) == (
        "Successful",
        "Collect",
        "DirectDeposit",
    )
    assert activity["source"] == "Import"
    # The Zuora dialect shows the same payment, recorded money: External, Processed.
    zuora = api.client.get(f"/zuora/v1/payments/{payment['id']:032x}", headers=api.zuora_headers)
    assert zuora.status_code == 200, zuora.text
    assert (zuora.json()["type"], zuora.json()["status"], zuora.json()["amount"]) == (
        "External",
        "Processed",
        100,
    )

    refund = ok(
        fpost(
            api,
            "/v1/Refunds",
            {"originalPaymentId": payment["id"], "amount": 20, "method": "DirectDeposit"},
        )
    )
    assert refund["amount"] == 20
    after = ok(fget(api, f"/v1/payments/{payment['id']}"))
    assert (after["unallocatedAmount"], after["refundableAmount"]) == (0, 80)
    listed = ok(fget(api, f"/v1/customers/{billed.account_id}/paymentActivities"))
    assert [(a["transactionType"], a["method"], a["amount"]) for a in listed] == [
        ("Refund", "DirectDeposit", 20),
        ("Collect", "DirectDeposit", 100),
    ]
