"""Issue 10 audit: each payment-run filter (``batch``, ``billCycleDay``, ``currency``,
``paymentGatewayId``) collects exactly the accounts it names; ``accountId`` and
``billingRunId`` have their own tests in test_payment_run_flows.py. A last run without a
filter collects the one customer every filter left out, so that customer was eligible
all along: the filters, not something else, kept it out."""

from __future__ import annotations

from typing import Any

from billcycle.accounts import repository as accounts_repo
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.gateways.helpers import configure_test_gateway
from tests.paymentruns.helpers import (
    Customer,
    add_method,
    balance,
    customer,
    default_gateway,
    records,
    run_to_end,
    set_auto_pay,
)
from tests.payments.helpers import posted_invoices
from tests.support.api import Api


def _set(runtime: Runtime, tenant_id: int, account_id: int, **values: Any) -> None:
    with runtime.service_context(tenant_id) as ctx:
        account = accounts_repo.get_account(ctx.session, tenant_id, account_id)
        assert account is not None
        for name, value in values.items():
            setattr(account, name, value)


def test_each_filter_collects_exactly_the_accounts_it_names(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    other_gateway = configure_test_gateway(runtime, t, "second")
    # Every customer is in batch 1, on bill cycle day 1, in USD, on the default gateway,
    # but for the one attribute its filter picks.
    plain = customer(runtime, t, ["10.00"])
    in_batch_2 = customer(runtime, t, ["11.00"])
    _set(runtime, t, in_batch_2.account_id, batch=2)
    on_day_15 = customer(runtime, t, ["12.00"])
    _set(runtime, t, on_day_15.account_id, bill_cycle_day=15)
    euro = posted_invoices(runtime, t, ["13.00"], currency="EUR")
    set_auto_pay(runtime, t, euro.account_id)
    in_euros = Customer(euro.account_id, euro.invoice_ids, add_method(runtime, t, euro.account_id))
    on_second_gateway = customer(runtime, t, ["14.00"], token=None)
    add_method(runtime, t, on_second_gateway.account_id, gateway_id=other_gateway)
    everyone = [plain, in_batch_2, on_day_15, in_euros, on_second_gateway]

    def collected_by(**body: Any) -> set[int]:
        run = run_to_end(api, jobs, targetDate="2026-01-10", **body)
        assert run["status"] == "Completed", run
        return {int(r["accountId"], 16) for r in records(api, run["id"])}

    def paid(c: Customer) -> bool:
        return all(balance(runtime, t, i) == 0 for i in c.invoice_ids)

    steps: list[tuple[dict[str, Any], Customer]] = [
        ({"batch": "Batch2"}, in_batch_2),
        ({"billCycleDay": "15"}, on_day_15),
        ({"currency": "EUR"}, in_euros),
        ({"paymentGatewayId": f"{other_gateway:032x}"}, on_second_gateway),
        ({}, plain),
    ]
    done: list[Customer] = []
    for body, picked in steps:
        assert collected_by(**body) == {picked.account_id}, body
        done.append(picked)
        assert [paid(c) for c in everyone] == [c in done for c in everyone], body
    # A filter naming nothing that exists collects nothing, never everything.
    fresh = customer(runtime, t, ["15.00"])
    assert collected_by(batch="Batch7") == set()
    assert collected_by(currency="GBP") == set()
    assert not paid(fresh)
