"""Issue 10 audit: a payment method's ``numConsecutiveFailures`` is reset by a success
(Zuora's retry rule counts consecutive failures), on both charging paths: a payment run
(its set-based settle) and a single electronic payment (``charging.charge_now``)."""

from __future__ import annotations

from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.payments import charging
from billcycle.runtime import Runtime
from tests.charging.helpers import method, request, setup
from tests.paymentruns.helpers import (
    balance,
    customer,
    default_gateway,
    run_to_end,
    set_failures,
)
from tests.support.api import Api


def _shown_failures(api: Api, method_id: int) -> int:
    response = api.client.get(
        f"/zuora/v1/payment-methods/{method_id:032x}", headers=api.zuora_headers
    )
    assert response.status_code == 200, response.text
    failures: int = response.json()["numConsecutiveFailures"]
    return failures


def test_a_payment_runs_success_resets_the_methods_consecutive_failures(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    c = customer(runtime, t, ["10.00"])
    assert c.method_id is not None
    set_failures(runtime, t, c.method_id, 2)  # below the default maximum: still retried
    assert _shown_failures(api, c.method_id) == 2

    run = run_to_end(api, jobs, targetDate="2026-01-10", accountId=f"{c.account_id:032x}")

    assert run["status"] == "Completed", run
    assert balance(runtime, t, c.invoice_ids[0]) == 0
    assert method(runtime, t, c.method_id).num_consecutive_failures == 0
    assert _shown_failures(api, c.method_id) == 0


def test_a_single_charges_success_resets_the_methods_consecutive_failures(
    api: Api, runtime: Runtime
) -> None:
    t = api.tenant.tenant_id
    s = setup(runtime, t, ["100"])
    (invoice,) = s.invoice_ids
    set_failures(runtime, t, s.method_id, 2)

    outcome = charging.charge_now(runtime, t, request(s, 10000, (invoice, None)))

    assert outcome.succeeded
    assert balance(runtime, t, invoice) == 0
    assert method(runtime, t, s.method_id).num_consecutive_failures == 0
    assert _shown_failures(api, s.method_id) == 0
