"""A run's chunks are cut from its accounts at its start, and each record it charges
names its own payment: the account ranges (each range's first and last account found
by one window query, the last range short) and the claim of a slice's records (one run
of record ids and payment ids, or, when a record in between is not charged, each
record's id given), whichever shape the slice has."""

from __future__ import annotations

from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.paymentruns.helpers import (
    Customer,
    balance,
    customer,
    default_gateway,
    payments_of,
    records,
    run_to_end,
    set_failures,
)
from tests.support.api import Api


def test_the_chunks_cover_every_autopay_account_the_last_one_short(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    runtime.settings = runtime.settings.model_copy(
        update={"payment_run_chunk_size": 2, "payment_run_chunk_size_sqlite": 2}
    )
    paid = [customer(runtime, tenant_id, [f"{10 + i}.00"]) for i in range(3)]
    # Not an autopay account: not counted in any chunk's accounts.
    manual = customer(runtime, tenant_id, ["50.00"], auto_pay=False)
    paid += [customer(runtime, tenant_id, [f"{20 + i}.00"]) for i in range(2)]

    run = run_to_end(api, jobs, targetDate="2026-01-10")

    assert run["status"] == "Completed"
    # Five autopay accounts, two a chunk: 2 + 2 + 1.
    assert run["progress"]["chunksTotal"] == 3
    assert sorted(int(r["accountId"], 16) for r in records(api, run["id"])) == sorted(
        c.account_id for c in paid
    )
    assert all(balance(runtime, tenant_id, c.invoice_ids[0]) == 0 for c in paid)
    assert balance(runtime, tenant_id, manual.invoice_ids[0]) == 5000


def _payment_of_each_record(api: Api, runtime: Runtime, run_id: str) -> dict[int, tuple[int, int]]:
    """Each charged record's invoice -> (its payment's account, its payment's amount),
    by the payment the record names among its transactions."""
    payments = {p.id: p for p in payments_of(runtime, api.tenant.tenant_id)}
    found: dict[int, tuple[int, int]] = {}
    for record in records(api, run_id):
        named = [t for t in record["transactions"] if t["type"] == "Payment"]
        if not named:
            continue
        assert len(named) == 1
        payment = payments[int(named[0]["id"], 16)]
        assert round(named[0]["amount"] * 100) == payment.amount_minor
        assert record["amountToCollect"] == named[0]["amount"]
        found[int(record["documentId"], 16)] = (payment.account_id, payment.amount_minor)
    return found


def test_each_charged_record_names_its_own_payment_in_a_slice_of_one_run(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    made = [customer(runtime, tenant_id, [f"{10 + i}.00"]) for i in range(4)]

    run = run_to_end(api, jobs, targetDate="2026-01-10")

    assert run["status"] == "Completed"
    assert _payment_of_each_record(api, runtime, run["id"]) == {
        c.invoice_ids[0]: (c.account_id, 1000 + 100 * i) for i, c in enumerate(made)
    }


def test_each_charged_record_names_its_own_payment_around_one_not_charged(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    made: list[Customer] = [customer(runtime, tenant_id, [f"{10 + i}.00"]) for i in range(2)]
    # Between them in record order, a record the set does not charge (its method's
    # retry rule is asked row by row, and refuses): the charged records' ids are not one
    # run.
    refused = customer(runtime, tenant_id, ["30.00"])
    assert refused.method_id is not None
    set_failures(runtime, tenant_id, refused.method_id, 10)
    made += [customer(runtime, tenant_id, [f"{12 + i}.00"]) for i in range(2)]

    run = run_to_end(api, jobs, targetDate="2026-01-10")

    assert run["status"] == "Completed"
    assert _payment_of_each_record(api, runtime, run["id"]) == {
        c.invoice_ids[0]: (c.account_id, 1000 + 100 * i) for i, c in enumerate(made)
    }
    (refused_record,) = [
        r for r in records(api, run["id"]) if int(r["documentId"], 16) == refused.invoice_ids[0]
    ]
    assert (refused_record["result"], refused_record["errorCode"]) == ("Error", "RetryRuleNotMet")
    assert balance(runtime, tenant_id, refused.invoice_ids[0]) == 3000
