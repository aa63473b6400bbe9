"""A payment run's slice moves each payment method's counters (Zuora's
``numConsecutiveFailures``, ``lastTransaction``, ``lastTransactionDateTime``,
``lastFailedSaleTransactionDate``, the processed and error totals) as one sale after
another would, whether the slice's methods fall into few kinds of counts (one statement
a kind) or many (one statement for all), and writes one collections event per payment,
in payment id order, readable per account."""

from __future__ import annotations

from typing import Any

import pytest

from billcycle.collections import events as collection_events
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.paymentruns.helpers import (
    customer,
    default_gateway,
    payments_of,
    run_to_end,
    set_failures,
)
from tests.support.api import Api

DECLINED = "tok_chargeDeclined"


def _shown(api: Api, method_id: int) -> dict[str, Any]:
    response = api.client.get(
        f"/zuora/v1/payment-methods/{method_id:032x}", headers=api.zuora_headers
    )
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def _events(runtime: Runtime, tenant_id: int, account_id: int) -> list[tuple[Any, ...]]:
    """The account's payment outcome events as collections reads them, oldest first."""
    with runtime.service_context(tenant_id) as ctx:
        return [
            (e.event_type, e.payment_id, e.gateway_code, e.to_value, e.details)
            for e in collection_events.account_events(ctx, account_id)
            if e.payment_id is not None
        ]


# (invoices of the account, its card's token): the methods' counts of a slice.
FEW_KINDS = [(1, "tok_visa"), (1, "tok_visa"), (1, DECLINED), (2, "tok_visa")]
MANY_KINDS = [(1, "tok_visa"), (2, "tok_visa"), (3, "tok_visa"), (1, DECLINED), (2, DECLINED)]


@pytest.mark.parametrize("mix", [FEW_KINDS, MANY_KINDS], ids=["few_kinds", "many_kinds"])
def test_a_runs_slice_counts_each_methods_sales_as_one_by_one(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, mix: list[tuple[int, str]]
) -> None:
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    made = [customer(runtime, t, ["10.00"] * n, token) for n, token in mix]
    for c in made:
        assert c.method_id is not None
        # Earlier failures: an approval resets them, a decline adds to them.
        set_failures(runtime, t, c.method_id, 1)

    run = run_to_end(api, jobs, targetDate="2026-01-10")

    assert run["status"] == "Completed", run
    for (n, token), c in zip(mix, made, strict=True):
        assert c.method_id is not None
        shown = _shown(api, c.method_id)
        if token == DECLINED:
            assert shown["numConsecutiveFailures"] == 1 + n
            assert shown["lastTransaction"] == "Declined"
            assert shown["totalNumberOfErrorPayments"] == n
            assert shown["totalNumberOfProcessedPayments"] == 0
            assert shown["lastFailedSaleTransactionDate"] is not None
        else:
            assert shown["numConsecutiveFailures"] == 0
            assert shown["lastTransaction"] == "Approved"
            assert shown["totalNumberOfProcessedPayments"] == n
            assert shown["totalNumberOfErrorPayments"] == 0
            assert "lastFailedSaleTransactionDate" not in shown
        assert shown["lastTransactionDateTime"] is not None
    # One event a payment, in payment id order, each with the payment's outcome.
    payments = payments_of(runtime, t)
    for c in made:
        own = [p for p in payments if p.account_id == c.account_id]
        assert len(own) == len(c.invoice_ids)
        assert _events(runtime, t, c.account_id) == [
            (
                "PaymentSucceeded" if p.status == "Processed" else "PaymentFailed",
                p.id,
                p.gateway_response_code,
                p.status,
                {"paymentNumber": p.number, "amountMinor": p.amount_minor},
            )
            for p in sorted(own, key=lambda p: p.id)
        ]
