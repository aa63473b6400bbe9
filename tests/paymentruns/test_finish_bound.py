"""A slice's finish applies each payment as far as its invoice still owes then: another
writer may pay an invoice between the slice's begin and its finish (the payment run's
decision read the balance before), and the run's payment is then applied only to the
rest, or not at all; the ledger, the AR summaries and the records stay exact."""

from __future__ import annotations

from sqlalchemy import select

from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.ledger.models import EntryType, LedgerEntry
from billcycle.paymentruns import collect
from billcycle.runtime import Runtime
from tests.paymentruns.helpers import (
    balance,
    claim_collect_chunk,
    customer,
    default_gateway,
    payments_of,
    started_run,
)
from tests.payments.helpers import pay
from tests.support.api import Api


def test_invoices_paid_between_the_begin_and_the_finish_get_only_what_they_still_owe(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    """Four accounts of one 10.00 invoice in one slice; while the slice's sales are out,
    another writer pays 4.00 of the second invoice and all of the third: the finish
    applies 10.00, 6.00, nothing and 10.00 (each run payment received in full), every
    invoice ends owing nothing and both AR summaries equal their recount."""
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    customers = [customer(runtime, tenant_id, ["10.00"], "tok_visa") for _ in range(4)]
    _run_key, run_id = started_run(api, jobs, runtime, tenant_id)
    chunk = claim_collect_chunk(runtime, run_id, "bound", machine_clock)
    begun = collect.begin_chunk(runtime, tenant_id, run_id, chunk.first_id, chunk.last_id)
    assert begun is not None
    assert begun.run_slice is not None
    assert begun.run_slice.in_flight is not None  # the payments are written at the finish
    sent = collect.send_chunk(runtime, tenant_id, begun, in_flight=4)
    invoices = [c.invoice_ids[0] for c in customers]
    with runtime.service_context(tenant_id) as ctx:
        pay(ctx, customers[1].account_id, "4.00", (invoices[1], "4.00"))
        pay(ctx, customers[2].account_id, "10.00", (invoices[2], "10.00"))
    collect.finish_chunk(runtime, tenant_id, begun, sent)

    run_payments = {
        p.id: p for p in payments_of(runtime, tenant_id) if p.id in begun.run_slice.payment_ids
    }
    assert [run_payments[i].status for i in begun.run_slice.payment_ids] == ["Processed"] * 4
    assert [run_payments[i].amount_minor for i in begun.run_slice.payment_ids] == [1000] * 4
    with runtime.service_context(tenant_id) as ctx:
        entries = ctx.session.execute(
            select(LedgerEntry.payment_id, LedgerEntry.entry_type, LedgerEntry.amount_minor).where(
                LedgerEntry.tenant_id == tenant_id,
                LedgerEntry.payment_id.in_(begun.run_slice.payment_ids),
            )
        ).all()
        assert open_balances.differences(ctx.session, tenant_id) == []
        assert open_balances.account_differences(ctx.session, tenant_id) == []
    by_invoice = dict(zip(begun.run_slice.payment_ids, begun.run_slice.invoices, strict=True))
    applied = {
        by_invoice[payment_id]: amount
        for payment_id, kind, amount in entries
        if kind == EntryType.PAYMENT.value
    }
    received = sorted(amount for _p, kind, amount in entries if kind != EntryType.PAYMENT.value)
    assert applied == {invoices[0]: 1000, invoices[1]: 600, invoices[3]: 1000}
    assert received == [1000] * 4
    assert [balance(runtime, tenant_id, i) for i in invoices] == [0, 0, 0, 0]
