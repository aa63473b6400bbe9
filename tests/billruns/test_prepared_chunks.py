"""SQLite bill runs on two cores: chunks rated ahead by a helper process
(``billruns.pipeline``, ``invoicing.prepared``).

What must hold: a prepared chunk writes exactly the rows the ordinary path writes; a
chunk changed between its preparation and its write is not written from the stale
rows (the ordinary path then bills it from the current ones); a whole run through the
helper bills every account exactly once.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update

from billcycle.billruns.pipeline import PIPELINE
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.devtools.dataset import DatasetSpec, load
from billcycle.invoicing import prepared
from billcycle.invoicing.generator import GenerationOptions, generate_invoices
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.subscriptions.models import SubscriptionCharge
from billcycle.tenancy.service import create_tenant
from tests.billruns.helpers import BILL_RUNS, create_run, get_run
from tests.support.api import Api

TARGET = date(2026, 2, 1)
OPTIONS = GenerationOptions(target_date=TARGET, invoice_date=TARGET, source="BillRun")


@pytest.fixture
def sqlite_only(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single writer is what the helper works around")


def new_tenant(runtime: Runtime, name: str, accounts: int, **spec: Any) -> tuple[int, list[int]]:
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(session, runtime.clock, name)
    with unit_of_work(runtime.session_factory) as session:
        dataset = load(session, tenant.tenant_id, DatasetSpec(accounts=accounts, **spec))
    first, last = dataset.account_ids
    return tenant.tenant_id, list(range(first, last + 1))


def prepare(runtime: Runtime, tenant_id: int, account_ids: list[int], path: str) -> Any:
    """What the helper process does, here in the test's process on its own engine."""
    from billcycle.db.engine import make_engine

    engine = make_engine(runtime.settings.database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            prepared.open_stage(session, path)
            return prepared.prepare(session, tenant_id, account_ids, OPTIONS, path)
    finally:
        engine.dispose()


def billed(runtime: Runtime, tenant_id: int) -> list[tuple[Any, ...]]:
    """Every invoice and item of the tenant, ids replaced by positions."""
    with runtime.service_context(tenant_id) as ctx:
        invoices = ctx.session.execute(
            select(
                Invoice.id,
                Invoice.account_id,
                Invoice.invoice_number,
                Invoice.status,
                Invoice.invoice_date,
                Invoice.due_date,
                Invoice.target_date,
                Invoice.currency,
                Invoice.amount_minor,
                Invoice.tax_amount_minor,
                Invoice.source,
                Invoice.created_at,
            )
            .where(Invoice.tenant_id == tenant_id)
            .order_by(Invoice.id)
        ).all()
        items = ctx.session.execute(
            select(
                InvoiceItem.invoice_id,
                InvoiceItem.charge_name,
                InvoiceItem.charge_type,
                InvoiceItem.service_start,
                InvoiceItem.service_end,
                InvoiceItem.quantity,
                InvoiceItem.unit_price,
                InvoiceItem.amount_minor,
                InvoiceItem.is_credit,
                InvoiceItem.voided,
            )
            .where(InvoiceItem.tenant_id == tenant_id)
            .order_by(InvoiceItem.id)
        ).all()
        marks = ctx.session.execute(
            select(SubscriptionCharge.billed_through, SubscriptionCharge.last_billed_at)
            .where(SubscriptionCharge.tenant_id == tenant_id)
            .order_by(SubscriptionCharge.id)
        ).all()
    first_invoice = invoices[0][0] if invoices else 0
    first_account = min(row[1] for row in invoices) if invoices else 0
    out: list[tuple[Any, ...]] = [
        (row[0] - first_invoice, row[1] - first_account, *row[2:]) for row in invoices
    ]
    out += [(row[0] - first_invoice, *row[1:]) for row in items]
    out += [tuple(row) for row in marks]
    return out


def test_a_prepared_chunk_writes_what_the_ordinary_path_writes(
    runtime: Runtime, sqlite_only: None, tmp_path: Any
) -> None:
    spec = {"subscriptions_per_account": 2, "charges_per_subscription": 2}
    ordinary, ordinary_ids = new_tenant(runtime, "ordinary", 12, **spec)
    ahead, ahead_ids = new_tenant(runtime, "ahead", 12, **spec)
    with runtime.service_context(ordinary) as ctx:
        expected = generate_invoices(ctx, ordinary_ids, OPTIONS)

    chunk = prepare(runtime, ahead, ahead_ids, str(tmp_path / "stage.db"))
    assert chunk is not None
    assert chunk.invoices == 12
    assert chunk.items == 12 * 2 * 2 * 2
    with runtime.service_context(ahead) as ctx:
        written = prepared.write_prepared(ctx, chunk, ahead_ids, OPTIONS)
    assert written is not None
    assert len(written.invoice_ids) == len(expected.invoice_ids) == 12
    assert written.items == expected.items
    assert written.amount_minor_by_currency == expected.amount_minor_by_currency
    assert written.failures == expected.failures == {}
    assert billed(runtime, ahead) == billed(runtime, ordinary)


@pytest.mark.parametrize("change", ["price", "billed meanwhile", "payment term", "grouping"])
def test_a_chunk_changed_after_it_was_prepared_is_billed_from_the_current_rows(
    runtime: Runtime, sqlite_only: None, tmp_path: Any, change: str
) -> None:
    tenant_id, account_ids = new_tenant(runtime, "changed", 8)
    chunk = prepare(runtime, tenant_id, account_ids, str(tmp_path / "stage.db"))
    assert chunk is not None
    victim = account_ids[3]
    with runtime.service_context(tenant_id) as ctx:
        if change == "price":
            ctx.session.execute(
                update(SubscriptionCharge)
                .where(SubscriptionCharge.account_id == victim)
                .values(price=45)
            )
        elif change == "billed meanwhile":
            assert len(generate_invoices(ctx, [victim], OPTIONS).invoice_ids) == 1
        elif change == "payment term":
            ctx.session.execute(
                text("UPDATE accounts SET payment_term = 'Due Upon Receipt' WHERE id = :id"),
                {"id": victim},
            )
        else:
            ctx.session.execute(
                text(
                    "UPDATE subscriptions SET invoice_separately = 1 WHERE id IN "
                    "(SELECT subscription_id FROM subscription_charges WHERE account_id = :id)"
                ),
                {"id": victim},
            )
    with runtime.service_context(tenant_id) as ctx:
        assert prepared.write_prepared(ctx, chunk, account_ids, OPTIONS) is None
        # Nothing of the stale chunk was written; the ordinary path bills the chunk
        # from the rows as they are now, under the same lock.
        count = ctx.session.scalar(
            select(text("count(*)")).select_from(Invoice).where(Invoice.tenant_id == tenant_id)
        )
        assert count == (1 if change == "billed meanwhile" else 0)
        result = generate_invoices(ctx, account_ids, OPTIONS)
    assert result.failures == {}
    assert len(result.invoice_ids) == (7 if change == "billed meanwhile" else 8)
    with runtime.service_context(tenant_id) as ctx:
        per_account = dict(
            ctx.session.execute(
                select(Invoice.account_id, text("count(*)"))
                .where(Invoice.tenant_id == tenant_id)
                .group_by(Invoice.account_id)
            ).all()
        )
        victim_invoice = ctx.session.execute(
            select(Invoice.amount_minor, Invoice.due_date).where(Invoice.account_id == victim)
        ).one()
    assert per_account == dict.fromkeys(account_ids, 1)  # nobody billed twice
    if change == "price":
        assert victim_invoice.amount_minor == 2 * 4500
    elif change == "payment term":
        assert victim_invoice.due_date == TARGET


@pytest.fixture
def helper_ready(runtime: Runtime) -> None:
    with unit_of_work(runtime.session_factory) as session:
        PIPELINE.warm_up(session, 99)
    assert PIPELINE.wait_ready(120), "the bill-run helper did not start"


def test_a_run_through_the_helper_bills_every_account_once(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, sqlite_only: None, helper_ready: None
) -> None:
    tenant_id = api.tenant.tenant_id
    with unit_of_work(runtime.session_factory) as session:
        load(session, tenant_id, DatasetSpec(accounts=60, subscriptions_per_account=2))
    before = PIPELINE.chunks_prepared
    run = create_run(api, name="two cores")
    jobs.run_until_idle()

    done = get_run(api, run["id"])
    assert done["status"] == "Completed"
    assert done["accountsProcessed"] == 60
    assert done["invoicesCreated"] == 60
    assert done["accountsFailed"] == 0
    assert done["totalAmounts"] == [{"currency": "USD", "amount": 60 * 2 * 60.0}]
    # 60 accounts in chunks of 7: 9 chunks, every one after the first prepared ahead.
    assert PIPELINE.chunks_prepared - before == 8
    with runtime.service_context(tenant_id) as ctx:
        rows = ctx.session.execute(
            select(Invoice.account_id, Invoice.amount_minor, Invoice.invoice_number)
            .where(Invoice.tenant_id == tenant_id)
            .order_by(Invoice.id)
        ).all()
        items = ctx.session.scalar(
            select(text("count(*)"))
            .select_from(InvoiceItem)
            .where(InvoiceItem.tenant_id == tenant_id)
        )
        marks = set(
            ctx.session.scalars(
                select(SubscriptionCharge.billed_through).where(
                    SubscriptionCharge.tenant_id == tenant_id
                )
            )
        )
    assert len({account for account, _, _ in rows}) == 60
    assert {amount for _, amount, _ in rows} == {2 * 6000}
    assert [number for _, _, number in rows] == [f"INV{n:08d}" for n in range(1, 61)]
    assert items == 60 * 2 * 2
    assert marks == {date(2026, 3, 1)}

    # Billed once: the same run again creates nothing.
    again = create_run(api, name="again")
    jobs.run_until_idle()
    assert get_run(api, again["id"])["invoicesCreated"] == 0

    # Cancel and post behave as for the ordinary path: the cancelled drafts' periods are
    # billable again, a new run (prepared ahead too) bills them once, and posts them.
    response = api.client.put(f"{BILL_RUNS}/{run['id']}/cancel", json={}, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    jobs.run_until_idle()
    assert get_run(api, run["id"])["status"] == "Canceled"
    before = PIPELINE.chunks_prepared
    rerun = create_run(api, name="after the cancel", autoPost=True)
    jobs.run_until_idle()
    posted = get_run(api, rerun["id"])
    assert posted["status"] == "Posted"
    assert posted["invoicesCreated"] == 60
    assert PIPELINE.chunks_prepared - before == 8
    with runtime.service_context(tenant_id) as ctx:
        statuses = ctx.session.execute(
            select(Invoice.status, text("count(*)"))
            .where(Invoice.tenant_id == tenant_id)
            .group_by(Invoice.status)
        ).all()
    assert dict(statuses) == {"Canceled": 60, "Posted": 60}
