"""Each payment-run flag changes what a run does: the same customers collected with and
without it end differently."""

from __future__ import annotations

from typing import Any

from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.paymentmethods.statuses import PaymentMethodStatus
from billcycle.runtime import Runtime
from tests.paymentruns.helpers import (
    Customer,
    balance,
    customer,
    default_gateway,
    gateway_charges,
    payments_of,
    read,
    records,
    run_to_end,
    set_failures,
    unapplied_payment,
)
from tests.support.api import Api


def _for(api: Api, jobs: ManualDispatcher, c: Customer, **flags: Any) -> dict[str, Any]:
    return run_to_end(api, jobs, targetDate="2026-01-10", accountId=f"{c.account_id:032x}", **flags)


def test_consolidated_payment_makes_one_payment_per_account(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    apart = customer(runtime, tenant_id, ["10.00", "20.00"])
    together = customer(runtime, tenant_id, ["10.00", "20.00"])

    _for(api, jobs, apart)
    run = _for(api, jobs, together, consolidatedPayment=True)

    made = payments_of(runtime, tenant_id)
    assert sorted(p.amount_minor for p in made if p.account_id == apart.account_id) == [1000, 2000]
    assert [p.amount_minor for p in made if p.account_id == together.account_id] == [3000]
    assert read(api, f"/{run['id']}/summary")["numberOfPayments"] == 1
    assert run["consolidatedPayment"] is True
    for c in (apart, together):
        assert [balance(runtime, tenant_id, i) for i in c.invoice_ids] == [0, 0]


def test_auto_apply_unapplied_payment_spends_the_credit_first(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    plain = customer(runtime, tenant_id, ["10.00"])
    unapplied_payment(runtime, tenant_id, plain.account_id, "4.00")
    applied = customer(runtime, tenant_id, ["10.00"])
    credit = unapplied_payment(runtime, tenant_id, applied.account_id, "4.00")

    _for(api, jobs, plain)
    run = _for(api, jobs, applied, autoApplyUnappliedPayment=True)

    charged = {
        p.account_id: p.amount_minor
        for p in payments_of(runtime, tenant_id)
        if p.payment_type == "Electronic"
    }
    assert charged == {plain.account_id: 1000, applied.account_id: 600}
    (record,) = records(api, run["id"])
    types = [t["type"] for t in record["transactions"]]
    assert types == ["UnappliedPayment", "Payment"]
    assert record["transactions"][0]["id"] == f"{credit:032x}"
    assert record["amountCollected"] == 10.0
    assert read(api, f"/{run['id']}/summary")["numberOfUnappliedPayments"] == 1


def test_apply_credit_balance_is_the_unapplied_payments(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """billcycle has no credit memos: an account's credit balance is its unapplied
    payments, which applyCreditBalance spends like autoApplyUnappliedPayment."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    plain = customer(runtime, tenant_id, ["10.00"])
    unapplied_payment(runtime, tenant_id, plain.account_id, "10.00")
    with_credit = customer(runtime, tenant_id, ["10.00"])
    unapplied_payment(runtime, tenant_id, with_credit.account_id, "10.00")

    _for(api, jobs, plain)
    _for(api, jobs, with_credit, applyCreditBalance=True)

    assert gateway_charges(runtime, tenant_id) == 1  # only the account without the flag
    assert balance(runtime, tenant_id, with_credit.invoice_ids[0]) == 0
    assert balance(runtime, tenant_id, plain.invoice_ids[0]) == 0


def test_collect_payment_false_only_applies_credit(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    charged = customer(runtime, tenant_id, ["10.00"])
    unapplied_payment(runtime, tenant_id, charged.account_id, "4.00")
    not_charged = customer(runtime, tenant_id, ["10.00"])
    unapplied_payment(runtime, tenant_id, not_charged.account_id, "4.00")

    _for(api, jobs, charged, autoApplyUnappliedPayment=True)
    run = _for(api, jobs, not_charged, autoApplyUnappliedPayment=True, collectPayment=False)

    assert balance(runtime, tenant_id, charged.invoice_ids[0]) == 0
    assert balance(runtime, tenant_id, not_charged.invoice_ids[0]) == 600
    assert gateway_charges(runtime, tenant_id) == 1
    assert run["collectPayment"] is False
    summary = read(api, f"/{run['id']}/summary")
    assert summary["numberOfUnprocessedInvoices"] == 1
    assert summary["totalValues"][0]["totalValueOfUnprocessedInvoices"] == "6 USD"


def test_the_retry_rule_holds_back_a_failing_method_unless_ignored(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    held = customer(runtime, tenant_id, ["10.00"])
    forced = customer(runtime, tenant_id, ["10.00"])
    for c in (held, forced):
        assert c.method_id is not None
        set_failures(runtime, tenant_id, c.method_id, 10)  # past the default maximum

    run = _for(api, jobs, held)
    _for(api, jobs, forced, ignorePaymentRunRetryRule=True)

    (record,) = records(api, run["id"])
    assert record["result"] == "Error"
    assert record["errorCode"] == "RetryRuleNotMet"
    assert balance(runtime, tenant_id, held.invoice_ids[0]) == 1000
    assert balance(runtime, tenant_id, forced.invoice_ids[0]) == 0
    assert gateway_charges(runtime, tenant_id) == 1


def test_process_payment_with_closed_pm_charges_a_closed_method(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """Without the flag an account whose default method is closed is not collected; with
    it the closed method (its gateway token kept) is charged and the invoice paid."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    c = customer(runtime, tenant_id, ["10.00"], method_status=PaymentMethodStatus.CLOSED)

    without = _for(api, jobs, c)
    assert without["progress"]["receivables"] == 0
    assert balance(runtime, tenant_id, c.invoice_ids[0]) == 1000
    assert gateway_charges(runtime, tenant_id) == 0

    with_flag = _for(api, jobs, c, processPaymentWithClosedPM=True)
    (record,) = records(api, with_flag["id"])
    assert record["result"] == "Processed"
    assert balance(runtime, tenant_id, c.invoice_ids[0]) == 0
    assert gateway_charges(runtime, tenant_id) == 1


def test_auto_apply_credit_memo_is_accepted_and_echoed(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """billcycle has no credit memos: the flag is kept and shown, and changes nothing."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    c = customer(runtime, tenant_id, ["10.00"])
    run = _for(api, jobs, c, autoApplyCreditMemo=True)
    assert run["autoApplyCreditMemo"] is True
    assert balance(runtime, tenant_id, c.invoice_ids[0]) == 0
