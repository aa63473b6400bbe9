"""Posting a bill run chunk by chunk: one guarded UPDATE per chunk of the run's drafts,
re-dated with due dates per payment term, and a chunk redone after a crash posts each
invoice once."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select, update

from billcycle.accounts.models import Account
from billcycle.billruns import tasks
from billcycle.clock import FrozenClock
from billcycle.db.session import unit_of_work
from billcycle.invoicing import service as invoicing
from billcycle.invoicing.models import Invoice
from billcycle.jobs import chunks
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.jobs.models import WorkChunk
from billcycle.jobs.registry import REGISTRY
from billcycle.jobs.runner import JobRunner
from billcycle.runtime import Runtime
from tests.billruns.helpers import BILL_RUNS, create_run, customers, get_run
from tests.support.api import Api

# With one account per generation chunk, a posting chunk holds POST_CHUNK_FACTOR drafts.
PER_CHUNK = tasks.POST_CHUNK_FACTOR


def _run_invoices(runtime: Runtime, tenant_id: int, run_id: int) -> list[Invoice]:
    with runtime.service_context(tenant_id) as ctx:
        return list(
            ctx.session.scalars(
                select(Invoice).where(Invoice.bill_run_id == run_id).order_by(Invoice.id)
            )
        )


def _post_chunks(runtime: Runtime, run_id: int) -> list[tuple[int, str]]:
    with runtime.service_context(0) as ctx:
        rows = ctx.session.execute(
            select(WorkChunk.size, WorkChunk.status)
            .where(WorkChunk.kind == tasks.POST, WorkChunk.parent_id == run_id)
            .order_by(WorkChunk.seq)
        ).all()
    return [(size, status) for size, status in rows]


def _completed_run(api: Api, runtime: Runtime, jobs: ManualDispatcher, count: int) -> int:
    runtime.settings = runtime.settings.model_copy(update={"bill_run_chunk_size": 1})
    accounts = customers(api, runtime, count)
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        ctx.session.execute(
            update(Account)
            .where(Account.id.in_([account_id for account_id, _ in accounts[::2]]))
            .values(payment_term="Due Upon Receipt")
        )
    run = create_run(api, invoiceDate="2026-02-01")
    jobs.run_until_idle()
    assert get_run(api, run["id"])["status"] == "Completed"
    return int(run["id"], 16)


def test_post_in_chunks_redates_per_payment_term_and_skips_non_drafts(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    run_id = _completed_run(api, runtime, jobs, 2 * PER_CHUNK + 5)
    drafts = _run_invoices(runtime, tenant_id, run_id)
    assert len(drafts) == 2 * PER_CHUNK + 5
    # One draft is posted on its own before the run is: the run leaves it as it is.
    with runtime.service_context(tenant_id) as ctx:
        early = invoicing.post_invoice(ctx, invoicing.get_invoice(ctx, drafts[3].id))
        early_dates = (early.invoice_date, early.due_date, early.posted_at)

    response = api.client.put(
        f"{BILL_RUNS}/{run_id:032x}/post",
        json={"invoiceDate": "2026-02-05"},
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    jobs.run_until_idle()

    assert get_run(api, f"{run_id:032x}")["status"] == "Posted"
    assert _post_chunks(runtime, run_id) == [(PER_CHUNK, "done"), (PER_CHUNK, "done"), (4, "done")]
    with runtime.service_context(tenant_id) as ctx:
        terms = {
            account_id: term
            for account_id, term in ctx.session.execute(select(Account.id, Account.payment_term))
        }
    posted = _run_invoices(runtime, tenant_id, run_id)
    assert {invoice.status for invoice in posted} == {"Posted"}
    for invoice in posted:
        if invoice.id == early.id:
            assert (invoice.invoice_date, invoice.due_date, invoice.posted_at) == early_dates
            continue
        assert invoice.invoice_date == date(2026, 2, 5)
        net = 30 if terms[invoice.account_id] == "Net 30" else 0
        assert invoice.due_date == date(2026, 2, 5) + timedelta(days=net)
        assert invoice.posted_at is not None
    assert {terms[invoice.account_id] for invoice in posted} == {"Net 30", "Due Upon Receipt"}


def test_a_posting_chunk_redone_after_a_crash_posts_each_invoice_once(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    clock: FrozenClock,
    machine_clock: FrozenClock,
) -> None:
    """A worker dies mid-chunk holding its lease: the other chunks post, the run waits,
    and once the lease runs out another drain posts the rest; nothing is posted twice and
    the run ends Posted."""
    tenant_id = api.tenant.tenant_id
    run_id = _completed_run(api, runtime, jobs, PER_CHUNK + 3)
    response = api.client.put(f"{BILL_RUNS}/{run_id:032x}/post", json={}, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    # Plan the chunks now (the drains this queues run below, after the crash).
    runner = JobRunner(runtime, ManualDispatcher())
    tasks.post(runner, tenant_id=tenant_id, run_id=run_id)
    lease = timedelta(seconds=runtime.settings.worker_lease_seconds)
    with unit_of_work(runtime.session_factory) as session:
        doomed = chunks.claim_next(
            session,
            kind=tasks.POST,
            parent_id=run_id,
            worker="doomed",
            now=machine_clock.now(),
            lease=lease,
        )
    assert doomed is not None
    assert doomed.size == PER_CHUNK

    class Crash(Exception):
        pass

    try:
        with runtime.service_context(tenant_id) as ctx:
            REGISTRY.chunk_handlers[tasks.POST].process(runner, ctx, doomed)
            raise Crash  # the process dies before committing
    except Crash:
        pass
    jobs.run_until_idle()  # the drains post the other chunk; the doomed one is leased
    assert runner.drain(tasks.POST, run_id) == 0
    assert get_run(api, f"{run_id:032x}")["status"] == "PostInProgress"
    statuses = [invoice.status for invoice in _run_invoices(runtime, tenant_id, run_id)]
    assert statuses.count("Posted") == 3

    machine_clock.advance(lease + timedelta(seconds=1))
    clock.advance(timedelta(minutes=1))  # the later drain's postings carry a later time
    assert runner.drain(tasks.POST, run_id) == 1
    assert get_run(api, f"{run_id:032x}")["status"] == "Posted"
    posted = _run_invoices(runtime, tenant_id, run_id)
    assert {invoice.status for invoice in posted} == {"Posted"}
    # Posted by the drain after the lease ran out, not by the crashed worker.
    assert {invoice.posted_at for invoice in posted[:PER_CHUNK]} == {clock.now()}
    assert _post_chunks(runtime, run_id) == [(PER_CHUNK, "done"), (3, "done")]
