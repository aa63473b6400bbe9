"""Every bad payment or refund request answers Fusebill's envelope and changes nothing:
no payment, refund, activity or ledger entry appears."""

from __future__ import annotations

from typing import Any

import pytest

from billcycle.runtime import Runtime
from tests.fusebill.helpers import assert_error
from tests.fusebill_payments.helpers import Billed, customer_with, fpost, ok, state
from tests.support.api import Api


def _payment(billed: Billed, **more: Any) -> dict[str, Any]:
    return {
        "customerId": billed.account_id,
        "amount": 50,
        "paymentMethod": "Cash",
        "source": "Manual",
        **more,
    }


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"amount": 0}, 400, "must be greater than zero"),
        ({"amount": -5}, 400, "must be greater than zero"),
        ({"amount": "10.001"}, 400, "more decimal places than USD allows"),
        ({"amount": "ten"}, 400, 'amount: "ten" is not an amount'),
        ({"amount": True}, 400, "amount: true is not an amount"),
        ({"amount": None}, 400, "amount is required"),
        ({"customerId": 999_999_999}, 404, "Customer 999999999 not found"),
        ({"customerId": "x"}, 400, 'customerId: "x" is not an id'),
        ({"paymentMethod": "Bitcoin"}, 400, 'paymentMethod: "Bitcoin" is not one of'),
        ({"paymentMethod": "ACH"}, 400, "paymentMethodId is required"),
        ({"source": "Robot"}, 400, 'source: "Robot" is not one of'),
        ({"reference": "r" * 501}, 400, "longer than 500 characters"),
        ({"autoAllocateOrder": "Random"}, 400, "autoAllocateOrder"),
        ({"autoAllocate": "yes"}, 400, 'autoAllocate: "yes" is not true or false'),
        ({"paymentAllocations": {"a": 1}}, 400, "paymentAllocations must be a list"),
        ({"paymentAllocations": [{"amount": 1}]}, 400, "invoiceId is required"),
    ],
)
def test_bad_payment_bodies(
    api: Api, runtime: Runtime, change: dict[str, Any], status: int, message: str
) -> None:
    billed = customer_with(runtime, api, ["30"])
    before = state(runtime, api.tenant.tenant_id)
    assert_error(fpost(api, "/v1/payments", _payment(billed, **change)), status, message)
    assert state(runtime, api.tenant.tenant_id) == before


def test_bad_allocations_change_nothing(api: Api, runtime: Runtime) -> None:
    billed = customer_with(runtime, api, ["30", "20"])
    other = customer_with(runtime, api, ["10"])
    first, second = billed.invoice_ids
    before = state(runtime, api.tenant.tenant_id)
    cases = [
        # Above the invoice's balance.
        ([{"invoiceId": first, "amount": 31}], 400, "exceeds the balance"),
        # Together above the payment's amount.
        (
            [{"invoiceId": first, "amount": 30}, {"invoiceId": second, "amount": 20.01}],
            400,
            "are more than the payment",
        ),
        ([{"invoiceId": first, "amount": 0}], 400, "must be greater than zero"),
        ([{"invoiceId": first, "amount": "1.234"}], 400, "more decimal places"),
        # Another customer's invoice, or none at all.
        ([{"invoiceId": other.invoice_ids[0], "amount": 5}], 404, "not found"),
        ([{"invoiceId": 10**12, "amount": 5}], 404, "not found"),
    ]
    for allocations, status, message in cases:
        body = _payment(billed, paymentAllocations=allocations)
        assert_error(fpost(api, "/v1/payments", body), status, message)
    both = _payment(
        billed, autoAllocate=True, paymentAllocations=[{"invoiceId": first, "amount": 1}]
    )
    assert_error(fpost(api, "/v1/payments", both), 400, "not both")
    assert state(runtime, api.tenant.tenant_id) == before


def test_bad_refunds_change_nothing(api: Api, runtime: Runtime) -> None:
    billed = customer_with(runtime, api, ["30", "20"])
    first, second = billed.invoice_ids
    allocations = [{"invoiceId": first, "amount": 30}, {"invoiceId": second, "amount": 20}]
    payment = ok(fpost(api, "/v1/payments", _payment(billed, paymentAllocations=allocations)))
    before = state(runtime, api.tenant.tenant_id)
    pid = payment["id"]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"originalPaymentId": pid, "amount": 51}, 400, "more than payment"),
        ({"originalPaymentId": pid, "amount": 0}, 400, "greater than zero"),
        ({"originalPaymentId": pid, "amount": "1.001"}, 400, "more decimal places"),
        # Fully allocated: the invoices must be named, and total the refund.
        ({"originalPaymentId": pid, "amount": 10}, 400, "refundAllocations"),
        (
            {
                "originalPaymentId": pid,
                "amount": 10,
                "refundAllocations": [{"invoiceId": first, "amount": 5}],
            },
            400,
            "total 5.00 USD, not the refund's 10.00 USD",
        ),
        (
            {
                "originalPaymentId": pid,
                "amount": 25,
                "refundAllocations": [{"invoiceId": second, "amount": 25}],
            },
            409,
            "cannot unapply",
        ),
        ({"originalPaymentId": pid, "amount": 5, "method": "Wire"}, 400, "method"),
        ({"originalPaymentId": 10**12, "amount": 5}, 404, "not found"),
        ({"amount": 5}, 400, "originalPaymentId is required"),
    ]
    for body, status, message in cases:
        assert_error(fpost(api, "/v1/Refunds", body), status, message)
    assert state(runtime, api.tenant.tenant_id) == before
    # And the good refund still works afterwards.
    refund = {
        "originalPaymentId": pid,
        "amount": 10,
        "method": "Cash",
        "refundAllocations": [{"invoiceId": second, "amount": 10}],
    }
    assert ok(fpost(api, "/v1/Refunds", refund))["amount"] == 10


def test_other_tenants_payment_is_not_found(api: Api, runtime: Runtime, other_api: Api) -> None:
    billed = customer_with(runtime, api, ["30"])
    payment = ok(fpost(api, "/v1/payments", _payment(billed)))
    other = other_api.client.get(
        f"/fusebill/v1/payments/{payment['id']}", headers=other_api.fusebill_headers
    )
    assert_error(other, 404, "not found")
    refund = fpost(other_api, "/v1/Refunds", {"originalPaymentId": payment["id"], "amount": 1})
    assert_error(refund, 404, "not found")
    activity = other_api.client.get(
        f"/fusebill/v1/paymentActivities/{payment['paymentActivityId']}",
        headers=other_api.fusebill_headers,
    )
    assert_error(activity, 404, "not found")
