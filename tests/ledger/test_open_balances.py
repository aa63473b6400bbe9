"""The open-balance summaries (``ledger.open_balances_repository``) that the AR aging report
and its drill-down read: after any sequence of the operations that move posted invoices'
balances, and of moves of the business date (the buckets aged to it in between), they
equal the aggregates recomputed from the invoices and the ledger, on both databases."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text

from billcycle.clock import FrozenClock
from billcycle.context import ServiceContext
from billcycle.db.session import unit_of_work
from billcycle.invoicing import service as invoicing
from billcycle.invoicing.models import Invoice
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntryType, LedgerEntry
from billcycle.reports import service as reports
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from tests.invoicing.factories import Billed, make_account, make_invoice, make_subscription, monthly

JAN = date(2026, 1, 1)
RUN = 7  # the bill run two drafts in three belong to (posted by id range by "post_run")
_names = itertools.count()

# Operations: (kind, pick, amount in cents or a fraction in percent, due offset in days).
KINDS = (
    "draft",  # a draft invoice (moves nothing until posted)
    "posted",  # an invoice written as Posted by id (factories, data sets)
    "post",  # Draft -> Posted (post_drafts), keeping its due date
    "post_redated",  # Draft -> Posted re-dated: the due date comes from the payment term
    "post_run",  # a bill run's posting chunk: its drafts in an id range (post_run_drafts)
    "pay",  # a payment applied to part or all of the balance
    "unpay",  # part of what payments applied taken back
    "credit",  # a credit memo applied
    "write_off",  # the whole balance written off
    "bulk_write_off",  # write_off_full_balances over several invoices (one INSERT ... SELECT)
    "batch",  # record_entries: a payment run's chunk of applications
    "tick",  # the business date moves (forward or back; past 30 days: a recount)
    "age",  # the account buckets aged to the business date, between writes
    "slice",  # a payment run's slice: entries_applied_many(each_owed=True), invoices owing
    "slice_owned",  # the same by entries_applied_owned: the invoices' keys given, not read
)
operation = st.tuples(
    st.sampled_from(KINDS),
    st.integers(0, 50),
    st.integers(0, 100_00),
    st.integers(-120, 60),
)


class World:
    """The invoices a sequence made, on two accounts in two currencies."""

    def __init__(self, ctx: ServiceContext, clock: FrozenClock | None = None) -> None:
        self.ctx = ctx
        self.clock = clock or FrozenClock(ctx.clock.now())
        self.billed: list[Billed] = [
            make_subscription(ctx, make_account(ctx, currency="USD")),
            make_subscription(ctx, make_account(ctx, currency="EUR", payment_term="Net 15")),
        ]
        self.invoices: list[Invoice] = []
        self.months = itertools.count()
        self.paid: dict[int, int] = {}  # invoice id -> net applied by payments

    def new_invoice(self, pick: int, cents: int, offset: int, status: str) -> None:
        billed = self.billed[pick % 2]
        month = next(self.months)
        start = date(2026 + month // 12, month % 12 + 1, 1)
        amount = str(Decimal(cents) / 100)
        invoice = make_invoice(
            self.ctx,
            billed.account,
            [monthly(billed.charge, start, amount)],
            status=status,
            invoice_date=JAN,
            due_date=JAN + timedelta(days=offset),
        )
        if pick % 3:
            # A bill run's invoice; the others are in the id ranges "post_run" posts but
            # not in its run, which must leave them as they are.
            invoice.bill_run_id = RUN
            self.ctx.session.flush()
        self.invoices.append(invoice)

    def pick(self, pick: int, status: str = "Posted") -> Invoice | None:
        found = [i for i in self.invoices if self._status(i) == status]
        return found[pick % len(found)] if found else None

    def _status(self, invoice: Invoice) -> str:
        return str(self.ctx.session.scalar(select(Invoice.status).where(Invoice.id == invoice.id)))

    def balance(self, invoice: Invoice) -> int:
        return ledger.invoice_balance(self.ctx.session, self.ctx.tenant_id, invoice.id)


def _share(balance: int, percent: int) -> int:
    return max(1, balance * (percent % 101) // 100) if balance > 0 else 0


def _apply(world: World, kind: str, pick: int, value: int, offset: int) -> None:
    ctx = world.ctx
    if kind == "tick":
        days = offset if pick % 5 == 0 else offset % 41 - 10
        world.clock.advance(timedelta(days=days))
        return
    if kind == "age":
        reports.age_receivables(ctx)
        return
    if kind in ("draft", "posted"):
        world.new_invoice(pick, value, offset, "Draft" if kind == "draft" else "Posted")
        return
    if kind in ("post", "post_redated"):
        draft = world.pick(pick, "Draft")
        if draft is not None:
            redate = JAN + timedelta(days=offset % 40) if kind == "post_redated" else None
            invoicing.post_invoices(ctx, [draft.id], redate)
        return
    if kind == "post_run":
        # An id range from one draft on, over drafts of the run, of no run, and posted
        # invoices (skipped); re-dated or not, as a bill run's posting chunk.
        draft = world.pick(pick, "Draft")
        if draft is not None:
            redate = JAN + timedelta(days=offset % 40) if value % 2 else None
            invoicing.post_run_drafts(ctx, RUN, draft.id, draft.id + value % 4, redate)
        return
    if kind == "bulk_write_off":
        ids = [i.id for i in world.invoices[pick % 3 :: 2]]
        ledger.write_off_full_balances(
            ctx, select(Invoice.id).where(Invoice.id.in_(ids)), reference=None, source="API"
        )
        return
    if kind == "batch":
        entries = []
        for invoice in world.invoices[pick % 2 :: 3]:
            if world._status(invoice) != "Posted":
                continue
            share = _share(world.balance(invoice), value % 100)
            if share:
                entries.append(
                    ledger.NewEntry(
                        account_id=invoice.account_id,
                        payment_id=None,
                        invoice_id=invoice.id,
                        entry_type=EntryType.PAYMENT,
                        amount_minor=share,
                        currency=invoice.currency,
                        effective_date=JAN,
                        source="API",
                    )
                )
                world.paid[invoice.id] = world.paid.get(invoice.id, 0) + share
        ledger.record_entries(ctx, entries)
        return
    if kind == "slice":
        _slice(world, pick, value)
    if kind == "slice_owned":
        _slice(world, pick, value, owned=True)
        return
    invoice = world.pick(pick)
    if invoice is None:
        return
    balance = world.balance(invoice)
    if kind == "unpay":
        paid = world.paid.get(invoice.id, 0)
        if paid > 0:
            back = max(1, paid * (value % 101) // 100)
            ledger.reverse_on_invoice(
                ctx,
                invoice,
                EntryType.PAYMENT,
                back,
                payment_id=1,
                invoice_item_id=None,
                source="API",
            )
            world.paid[invoice.id] = paid - back
        return
    if balance <= 0:
        return
    if kind == "write_off":
        ledger.apply_write_off(
            ctx, invoice, Decimal(balance) / 100, reference=None, comment=None, source="API"
        )
        return
    share = _share(balance, value % 100)
    entry_type = EntryType.PAYMENT if kind == "pay" else EntryType.CREDIT_MEMO
    ledger.apply_to_invoice(
        ctx, invoice, entry_type, share, reference=None, comment=None, source="API", payment_id=1
    )
    if kind == "pay":
        world.paid[invoice.id] = world.paid.get(invoice.id, 0) + share


def _slice(world: World, pick: int, value: int, *, owned: bool = False) -> None:
    """A payment run's slice: applications to invoices that owe something (a share of the
    balance, all of it, or more: an over-payment), one invoice sometimes twice, written
    as rows, then ONE ``entries_applied_many(..., each_owed=True)``; ``owned``: ONE
    ``entries_applied_owned`` given each invoice's keys (but one's, now and then), an
    account's first open invoice only when ``value`` is even (a payment run's slice pays
    one invoice an account)."""
    applied: list[tuple[Invoice, int]] = []
    for n, invoice in enumerate(world.invoices[pick % 2 :: 2]):
        if world._status(invoice) != "Posted":
            continue
        balance = world.balance(invoice)
        if balance <= 0:
            continue
        if owned and value % 2 == 0 and applied:
            break
        way = (value + n) % 4
        amount = balance if way == 0 else balance + 1_00 if way == 1 else _share(balance, value)
        applied.append((invoice, amount))
        if way == 3:
            applied.append((invoice, 1))  # the same invoice twice in the slice
    if not applied:
        return
    if owned:
        # Keys as a payment run's decisions read them, from the database (a re-dated
        # posting updates the row, not the session's objects): dates, or text (SQLite's).
        rows = world.ctx.session.execute(
            select(Invoice.id, Invoice.due_date).where(
                Invoice.id.in_([invoice.id for invoice, _amount in applied])
            )
        ).all()
        due = {int(row[0]): row[1] for row in rows}
        owners = {
            invoice.id: (
                invoice.currency,
                due[invoice.id] if n % 2 else due[invoice.id].isoformat(),
                invoice.account_id,
            )
            for n, (invoice, _amount) in enumerate(applied)
            if value % 5 or n
        }
        _settle_slice(world.ctx, applied, each_owed=True, owners=owners)
    else:
        _settle_slice(world.ctx, applied, each_owed=True)
    for invoice, amount in applied:
        world.paid[invoice.id] = world.paid.get(invoice.id, 0) + amount


def _by_account(ctx: ServiceContext) -> dict[tuple[str, int], dict[int, tuple[int, int]]]:
    """(currency, bucket) -> account -> (open balance, invoices), invoice by invoice."""
    today = ctx.clock.today()
    found: dict[tuple[str, int], dict[int, tuple[int, int]]] = {}
    invoices = ctx.session.scalars(
        select(Invoice).where(Invoice.tenant_id == ctx.tenant_id, Invoice.status == "Posted")
    ).all()
    for invoice in invoices:
        owed = ledger.invoice_balance(ctx.session, ctx.tenant_id, invoice.id)
        if owed > 0:
            days = (today - invoice.due_date).days
            bucket = (
                next(b for b, edge in enumerate((0, 30, 60, 90)) if days <= edge)
                if days <= 90
                else 4
            )
            accounts = found.setdefault((invoice.currency, bucket), {})
            total, count = accounts.get(invoice.account_id, (0, 0))
            accounts[invoice.account_id] = (total + owed, count + 1)
    return found


def _aging_from_invoices(ctx: ServiceContext) -> dict[tuple[str, int], tuple[int, int]]:
    """The aging report computed from scratch, invoice by invoice, in Python."""
    today = ctx.clock.today()
    found: dict[tuple[str, int], tuple[int, int]] = {}
    invoices = ctx.session.scalars(
        select(Invoice).where(Invoice.tenant_id == ctx.tenant_id, Invoice.status == "Posted")
    ).all()
    for invoice in invoices:
        owed = ledger.invoice_balance(ctx.session, ctx.tenant_id, invoice.id)
        if owed <= 0:
            continue
        days = (today - invoice.due_date).days
        bucket = (
            0 if days <= 0 else 1 if days <= 30 else 2 if days <= 60 else 3 if days <= 90 else 4
        )
        total, count = found.get((invoice.currency, bucket), (0, 0))
        found[(invoice.currency, bucket)] = (total + owed, count + 1)
    return found


def _drilled(
    ctx: ServiceContext, currency: str, bucket: int | None, descending: bool
) -> list[tuple[int, str, str, int, int]]:
    """Every page of the drill-down, three accounts a page (keyset cursors followed)."""
    rows: list[tuple[int, str, str, int, int]] = []
    after = None
    while True:
        page = reports.aging_accounts(
            ctx,
            currency=currency,
            bucket=bucket,
            sort=reports.Sorting("balance", descending),
            after=after,
            limit=3,
        )
        assert page is not None
        rows += page.rows
        if page.next_cursor is None:
            return rows
        after = page.next_cursor


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_summary_equals_the_invoices_after_any_operations(
    runtime: Runtime, clock: FrozenClock, operations: list[tuple[str, int, int, int]]
) -> None:
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(session, runtime.clock, f"open balances {next(_names)}")
    with runtime.service_context(tenant.tenant_id) as ctx:
        world = World(ctx, clock)
        for kind, pick, value, offset in operations:
            _apply(world, kind, pick, value, offset)
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert open_balances.differences(ctx.session, ctx.tenant_id) == []
        # Exact at the date the account buckets are counted at, before and after aging.
        assert open_balances.account_differences(ctx.session, ctx.tenant_id) == []
        if open_balances.as_of(ctx.session, ctx.tenant_id) != ctx.clock.today():
            assert reports.aging_accounts(ctx, currency="USD", bucket=0) is None
            reports.age_receivables(ctx)
        assert open_balances.as_of(ctx.session, ctx.tenant_id) == ctx.clock.today()
        assert open_balances.account_differences(ctx.session, ctx.tenant_id) == []
        expected = _aging_from_invoices(ctx)
        report = {
            (row.currency, bucket): owed
            for row in reports.aging(ctx)
            for bucket, owed in enumerate(row.buckets)
            if owed
        }
        assert report == {key: owed for key, (owed, _count) in expected.items()}
        # The drill-down to accounts, bucket by bucket and "All", every page, both orders.
        accounts = _by_account(ctx)
        for currency in ("USD", "EUR"):
            everything: dict[int, tuple[int, int]] = {}
            for bucket in range(5):
                want = accounts.get((currency, bucket), {})
                for account, (owed, count) in want.items():
                    total, n = everything.get(account, (0, 0))
                    everything[account] = (total + owed, n + count)
                for descending in (True, False):
                    drilled = _drilled(ctx, currency, bucket, descending)
                    assert {a[0]: (a[3], a[4]) for a in drilled} == want
                    assert len(drilled) == len(want)
                    order = [(a[3], a[0]) for a in drilled]
                    assert order == sorted(order, reverse=descending)
            drilled = _drilled(ctx, currency, None, True)
            assert {a[0]: (a[3], a[4]) for a in drilled} == everything
        assert {row.currency: row.invoices for row in reports.aging(ctx)} == {
            currency: sum(n for (c, _b), (_o, n) in expected.items() if c == currency)
            for currency in {c for c, _b in expected}
        }


def test_rebuild_repairs_a_drifted_summary(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        world = World(ctx)
        for pick in range(4):
            world.new_invoice(pick, 100_00 + pick, -pick * 40, "Posted")
        invoice = world.invoices[0]
        ledger.apply_to_invoice(
            ctx, invoice, EntryType.PAYMENT, 40_00, reference=None, comment=None, source="API"
        )
        assert open_balances.differences(ctx.session, ctx.tenant_id) == []
        # A write that went around the ledger's write path: the check sees it.
        ctx.session.execute(
            open_balances.OpenBalance.__table__.update()
            .where(open_balances.OpenBalance.tenant_id == ctx.tenant_id)
            .values(balance_minor=1, invoices=7)
        )
        drift = open_balances.differences(ctx.session, ctx.tenant_id)
        assert [(d.stored, d.actual) for d in drift if d.due_date == invoice.due_date] == [
            ((1, 7), (60_00, 1))
        ]
        open_balances.rebuild(ctx.session, ctx.tenant_id)
        assert open_balances.differences(ctx.session, ctx.tenant_id) == []
        assert open_balances.differences(ctx.session, ctx.tenant_id) == []


def test_summary_is_per_tenant(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        World(ctx).new_invoice(0, 123_45, 0, "Posted")
    with runtime.service_context(other_tenant.tenant_id) as ctx:
        assert open_balances.rows(ctx.session, ctx.tenant_id) == []
        assert reports.aging(ctx) == []
        open_balances.rebuild(ctx.session, ctx.tenant_id)
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert open_balances.rows(ctx.session, ctx.tenant_id) == [("USD", JAN, 123_45, 1)]


def test_db_open_balances_checks_and_repairs(
    runtime: Runtime, tenant: NewTenant, database_url: str
) -> None:
    from typer.testing import CliRunner

    from billcycle.cli.main import app

    with runtime.service_context(tenant.tenant_id) as ctx:
        World(ctx).new_invoice(0, 50_00, -45, "Posted")
    args = ["db", "open-balances", "--database", database_url, "--tenant", str(tenant.tenant_id)]
    runner = CliRunner()
    agreed = runner.invoke(app, args)
    assert agreed.exit_code == 0, agreed.output
    assert "agree" in agreed.output
    with runtime.service_context(tenant.tenant_id) as ctx:
        ctx.session.execute(
            open_balances.OpenBalance.__table__.delete().where(
                open_balances.OpenBalance.tenant_id == ctx.tenant_id
            )
        )
    drifted = runner.invoke(app, args)
    assert drifted.exit_code == 1
    assert "summary 0 minor in 0 invoices, invoices and ledger 5000 in 1" in drifted.output
    repaired = runner.invoke(app, [*args, "--repair"])
    assert repaired.exit_code == 0, repaired.output
    assert runner.invoke(app, args).exit_code == 0
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert open_balances.rows(ctx.session, ctx.tenant_id) == [
            ("USD", JAN - timedelta(days=45), 50_00, 1)
        ]


def _stored(runtime: Runtime, tenant_id: int) -> list[tuple[str, date, int, int]]:
    """The date rows as another unit of work sees them (committed)."""
    with runtime.service_context(tenant_id) as ctx:
        return open_balances.rows(ctx.session, tenant_id)


def test_date_rows_move_at_the_commit_and_stay_exact(runtime: Runtime, tenant: NewTenant) -> None:
    """PostgreSQL writes a unit's changes to the (currency, due date) rows at its commit
    (the row every invoice of a bill run shares is then held only while a unit commits):
    a payment and a write-off of the same invoice in one unit, a savepoint kept and one
    rolled back, and a unit rolled back all leave the summary equal to the ledger, on
    both databases; until the commit other units see the rows as they were."""
    with runtime.service_context(tenant.tenant_id) as ctx:
        world = World(ctx)
        for _pick in range(3):
            world.new_invoice(0, 100_00, 0, "Posted")
    before = _stored(runtime, tenant.tenant_id)
    assert before == [("USD", JAN, 300_00, 3)]
    postgres = runtime.engine.dialect.name == "postgresql"

    with runtime.service_context(tenant.tenant_id) as ctx:
        first, second, third = world.invoices
        first, second, third = (ctx.session.merge(i) for i in (first, second, third))
        ledger.apply_to_invoice(
            ctx, first, EntryType.PAYMENT, 40_00, reference=None, comment=None, source="API"
        )
        ledger.apply_to_invoice(
            ctx, first, EntryType.WRITE_OFF, 60_00, reference=None, comment=None, source="API"
        )
        with ctx.session.begin_nested():
            ledger.apply_to_invoice(
                ctx, second, EntryType.PAYMENT, 10_00, reference=None, comment=None, source="API"
            )
        savepoint = ctx.session.begin_nested()
        ledger.apply_to_invoice(
            ctx, third, EntryType.PAYMENT, 5_00, reference=None, comment=None, source="API"
        )
        savepoint.rollback()
        # The table as the unit has it: on PostgreSQL the payment and the write-off are
        # still held (only the kept savepoint's payment was written, at once).
        table = open_balances.OpenBalance.__table__.c
        written = ctx.session.execute(
            select(table.balance_minor, table.invoices).where(table.tenant_id == ctx.tenant_id)
        ).all()
        assert [tuple(r) for r in written] == ([(290_00, 3)] if postgres else [(190_00, 2)])
        assert _stored(runtime, tenant.tenant_id) == before  # another unit: the last commit's
        # A reader in the unit itself sees them all.
        assert open_balances.rows(ctx.session, ctx.tenant_id) == [("USD", JAN, 190_00, 2)]
        assert open_balances.differences(ctx.session, ctx.tenant_id) == []
    assert _stored(runtime, tenant.tenant_id) == [("USD", JAN, 190_00, 2)]

    try:
        with runtime.service_context(tenant.tenant_id) as ctx:
            ledger.apply_to_invoice(
                ctx,
                ctx.session.merge(world.invoices[2]),
                EntryType.PAYMENT,
                100_00,
                reference=None,
                comment=None,
                source="API",
            )
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert _stored(runtime, tenant.tenant_id) == [("USD", JAN, 190_00, 2)]
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert open_balances.differences(ctx.session, ctx.tenant_id) == []
        assert ctx.session.info.get("billcycle_open_balances_deferred") is None


def _entries(ctx: ServiceContext, applied: list[tuple[Invoice, int]]) -> None:
    """Payment entries on invoices, written around the ledger's write path (as a staged
    settle's ``INSERT ... SELECT`` writes them): the caller moves the summaries."""
    ctx.session.execute(
        insert(LedgerEntry),
        [
            {
                "tenant_id": ctx.tenant_id,
                "account_id": invoice.account_id,
                "invoice_id": invoice.id,
                "payment_id": None,
                "entry_type": EntryType.PAYMENT.value,
                "amount_minor": amount,
                "currency": invoice.currency,
                "effective_date": JAN,
                "source": "API",
                "created_at": ctx.clock.now(),
            }
            for invoice, amount in applied
        ],
    )


def test_many_applications_move_the_summaries_slice_after_slice(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """``entries_applied_many`` (a payment run's slice; SQLite stages the balances in a
    TEMP table both upserts read, emptied at each call): two slices in one unit (an
    invoice twice in one slice, one paid past zero, one paid in full, due dates in
    several aging buckets), then a unit rolled back and one after it, leave both
    summaries equal to the invoices and the ledger."""
    with runtime.service_context(tenant.tenant_id) as ctx:
        world = World(ctx)
        for pick, offset in enumerate((0, -20, -45, -100, 10)):
            world.new_invoice(pick * 2, 100_00, offset, "Posted")
        reports.age_receivables(ctx)
    with runtime.service_context(tenant.tenant_id) as ctx:
        one, two, three, four, _five = (ctx.session.merge(i) for i in world.invoices)
        first = [(one, 40_00), (two, 100_00), (one, 10_00)]
        _entries(ctx, first)
        open_balances.entries_applied_many(
            ctx.session, ctx.tenant_id, [(i.id, amount) for i, amount in first]
        )
        assert open_balances.differences(ctx.session, ctx.tenant_id) == []
        assert open_balances.account_differences(ctx.session, ctx.tenant_id) == []
        second = [(three, 130_00), (four, 1_00)]
        _entries(ctx, second)
        open_balances.entries_applied_many(
            ctx.session, ctx.tenant_id, [(i.id, amount) for i, amount in second]
        )
        assert open_balances.differences(ctx.session, ctx.tenant_id) == []
        assert open_balances.account_differences(ctx.session, ctx.tenant_id) == []
    stored = _stored(runtime, tenant.tenant_id)
    assert sum(row[2] for row in stored) == 50_00 + 0 + 0 + 99_00 + 100_00
    assert sum(row[3] for row in stored) == 3
    try:
        with runtime.service_context(tenant.tenant_id) as ctx:
            applied = [(ctx.session.merge(world.invoices[4]), 100_00)]
            _entries(ctx, applied)
            open_balances.entries_applied_many(
                ctx.session, ctx.tenant_id, [(i.id, amount) for i, amount in applied]
            )
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert _stored(runtime, tenant.tenant_id) == stored
    with runtime.service_context(tenant.tenant_id) as ctx:
        applied = [(ctx.session.merge(world.invoices[3]), 99_00)]
        _entries(ctx, applied)
        open_balances.entries_applied_many(
            ctx.session, ctx.tenant_id, [(i.id, amount) for i, amount in applied]
        )
        assert open_balances.differences(ctx.session, ctx.tenant_id) == []
        assert open_balances.account_differences(ctx.session, ctx.tenant_id) == []
    assert sum(row[3] for row in _stored(runtime, tenant.tenant_id)) == 2


def _account_rows(ctx: ServiceContext) -> dict[tuple[str, int, int], tuple[int, int]]:
    """The account summary's rows as stored: (currency, bucket, account) -> (balance, n)."""
    c = open_balances.OpenAccountBalance.__table__.c
    return {
        (str(cur), int(b), int(a)): (int(bal), int(n))
        for cur, b, a, bal, n in ctx.session.execute(
            select(c.currency, c.bucket, c.account_id, c.balance_minor, c.invoices).where(
                c.tenant_id == ctx.tenant_id
            )
        )
    }


def _settle_slice(
    ctx: ServiceContext,
    applied: list[tuple[Invoice, int]],
    *,
    each_owed: bool = False,
    owners: dict[int, tuple[str, Any, int]] | None = None,
) -> None:
    """What a payment run's staged settle does: the slice's entries written as rows, then
    the summaries moved by ONE ``entries_applied_many`` call (a negative amount takes
    money back, as a reversal would; ``each_owed``: every invoice owed before, as the
    settle's applications)."""
    for invoice, amount in applied:
        ctx.session.add(
            LedgerEntry(
                tenant_id=ctx.tenant_id,
                account_id=invoice.account_id,
                invoice_id=invoice.id,
                entry_type=EntryType.PAYMENT.value,
                amount_minor=amount,
                currency=invoice.currency,
                effective_date=JAN,
                source="API",
                created_at=ctx.clock.now(),
            )
        )
    ctx.session.flush()
    if owners is not None:
        open_balances.entries_applied_owned(
            ctx.session,
            ctx.tenant_id,
            [(invoice.id, amount) for invoice, amount in applied],
            owners,
        )
        return
    open_balances.entries_applied_many(
        ctx.session,
        ctx.tenant_id,
        [(invoice.id, amount) for invoice, amount in applied],
        each_owed=each_owed,
    )


def _settle_owned(ctx: ServiceContext, applied: list[tuple[Invoice, int]]) -> None:
    """:func:`_settle_slice` as a payment run's settle: every invoice owed before, the
    summaries moved by ``entries_applied_owned`` given the invoices' keys."""
    owners = {i.id: (i.currency, i.due_date, i.account_id) for i, _a in applied}
    _settle_slice(ctx, applied, each_owed=True, owners=owners)


def _settled_and_recounted(
    runtime: Runtime, tenant_id: int, applied: list[tuple[Invoice, int]]
) -> None:
    """:func:`_settle_owned` in a unit of its own, then both summaries equal a recount."""
    with runtime.service_context(tenant_id) as ctx:
        _settle_owned(ctx, applied)
    with runtime.service_context(tenant_id) as ctx:
        assert open_balances.differences(ctx.session, ctx.tenant_id) == []
        assert open_balances.account_differences(ctx.session, ctx.tenant_id) == []


def test_a_slice_that_empties_account_rows_keeps_the_summaries_exact(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """A payment run's slice moves the summaries by one ``entries_applied_many`` call: a
    bucket emptied while the account's ALL row keeps a balance, an invoice paid in part,
    every row of an account emptied, and money taken back from an invoice whose rows are
    at zero. After each slice the summaries equal the recount and the drill-down lists
    exactly the accounts owing (rows at zero stay, and read as no row)."""
    with runtime.service_context(tenant.tenant_id) as ctx:
        world = World(ctx)
        world.new_invoice(0, 100_00, -40, "Posted")  # USD, 31-60 days past due at JAN
        world.new_invoice(0, 50_00, 10, "Posted")  # USD, current
        world.new_invoice(1, 70_00, 0, "Posted")  # EUR, current
        open_balances.age_to(ctx.session, ctx.tenant_id, JAN)
    usd_old, usd_new, eur = world.invoices
    usd, eur_account = usd_old.account_id, eur.account_id

    def check(expected: dict[tuple[str, int, int], tuple[int, int]]) -> None:
        with runtime.service_context(tenant.tenant_id) as ctx:
            assert open_balances.differences(ctx.session, ctx.tenant_id) == []
            assert open_balances.account_differences(ctx.session, ctx.tenant_id) == []
            stored = _account_rows(ctx)
            assert {k: v for k, v in stored.items() if v != (0, 0)} == expected
            owing = {(cur, a): v for (cur, b, a), v in expected.items() if b == open_balances.ALL}
            for currency in ("USD", "EUR"):
                drilled = _drilled(ctx, currency, None, True)
                assert {(currency, r[0]): (r[3], r[4]) for r in drilled} == {
                    k: v for k, v in owing.items() if k[0] == currency
                }

    check(
        {
            ("USD", 2, usd): (100_00, 1),
            ("USD", 0, usd): (50_00, 1),
            ("USD", open_balances.ALL, usd): (150_00, 2),
            ("EUR", 0, eur_account): (70_00, 1),
            ("EUR", open_balances.ALL, eur_account): (70_00, 1),
        }
    )
    with runtime.service_context(tenant.tenant_id) as ctx:
        _settle_slice(ctx, [(usd_old, 100_00), (eur, 30_00)])
    check(
        {
            ("USD", 0, usd): (50_00, 1),
            ("USD", open_balances.ALL, usd): (50_00, 1),
            ("EUR", 0, eur_account): (40_00, 1),
            ("EUR", open_balances.ALL, eur_account): (40_00, 1),
        }
    )
    with runtime.service_context(tenant.tenant_id) as ctx:
        _settle_slice(ctx, [(usd_new, 50_00), (eur, 40_00)])
    check({})
    with runtime.service_context(tenant.tenant_id) as ctx:
        _settle_slice(ctx, [(usd_old, -25_00)])
    check({("USD", 2, usd): (25_00, 1), ("USD", open_balances.ALL, usd): (25_00, 1)})


def _one_account(ctx: ServiceContext, dues: list[tuple[int, int]]) -> list[Invoice]:
    """A USD account with posted invoices of (cents, due offset from JAN)."""
    billed = make_subscription(ctx, make_account(ctx, currency="USD"))
    return [
        make_invoice(
            ctx,
            billed.account,
            [monthly(billed.charge, date(2026, n + 1, 1), str(Decimal(cents) / 100))],
            status="Posted",
            invoice_date=JAN,
            due_date=JAN + timedelta(days=offset),
        )
        for n, (cents, offset) in enumerate(dues)
    ]


@pytest.mark.parametrize("owned", [False, True], ids=["read", "owned"])
def test_slices_of_owed_invoices_delete_emptied_accounts_and_stay_exact(
    runtime: Runtime, tenant: NewTenant, owned: bool
) -> None:
    """``entries_applied_many(..., each_owed=True)`` (a payment run's settle) reads the
    balance of an account's only open invoice from its ALL row: slice after slice, an
    account paid in full has both its rows deleted (no zero row left), one paid in part
    (twice in one slice) and one owing on two invoices (the ledger read) stay exact, the
    buckets moved between slices, a rolled back slice leaves everything as it was, and
    an over-payment empties the account too. ``owned``: the same slices by
    ``entries_applied_owned``, given the invoices' keys (a payment run's settle)."""

    def settle(ctx: ServiceContext, applied: list[tuple[Invoice, int]], *, each_owed: bool) -> None:
        owners = (
            {i.id: (i.currency, i.due_date.isoformat(), i.account_id) for i, _a in applied}
            if owned
            else None
        )
        _settle_slice(ctx, applied, each_owed=each_owed, owners=owners)

    with runtime.service_context(tenant.tenant_id) as ctx:
        (full,) = _one_account(ctx, [(100_00, -40)])  # 31-60 days past due at JAN
        (part,) = _one_account(ctx, [(80_00, 0)])  # current
        old, new = _one_account(ctx, [(50_00, -100), (60_00, 10)])  # 90+ and current
        (twice,) = _one_account(ctx, [(70_00, -20)])  # 1-30
        open_balances.age_to(ctx.session, ctx.tenant_id, JAN)
    a, b, c, d = (i.account_id for i in (full, part, old, twice))
    all_ = open_balances.ALL

    def check(expected: dict[tuple[str, int, int], tuple[int, int]], *gone: int) -> None:
        """``gone``: accounts whose only open invoice was emptied: on SQLite no row is
        left, not even at zero (PostgreSQL, and the ledger-read path, keep zero rows)."""
        with runtime.service_context(tenant.tenant_id) as ctx:
            assert open_balances.differences(ctx.session, ctx.tenant_id) == []
            assert open_balances.account_differences(ctx.session, ctx.tenant_id) == []
            stored = _account_rows(ctx)
            assert {k: v for k, v in stored.items() if v != (0, 0)} == expected
            if ctx.session.get_bind().dialect.name == "sqlite":
                assert [k for k in stored if k[2] in gone] == []
            drilled = _drilled(ctx, "USD", None, True)
            assert {r[0]: (r[3], r[4]) for r in drilled} == {
                account: v for (_c, bucket, account), v in expected.items() if bucket == all_
            }

    with runtime.service_context(tenant.tenant_id) as ctx:
        settle(
            ctx,
            [(full, 100_00), (part, 30_00), (old, 50_00), (twice, 30_00), (twice, 30_00)],
            each_owed=True,
        )
    check(
        {
            ("USD", 0, b): (50_00, 1),
            ("USD", all_, b): (50_00, 1),
            ("USD", 0, c): (60_00, 1),
            ("USD", all_, c): (60_00, 1),
            ("USD", 1, d): (10_00, 1),
            ("USD", all_, d): (10_00, 1),
        },
        a,
    )
    # Forty days on: the part-paid invoices are 31-60 days past due, the current one 1-30.
    with runtime.service_context(tenant.tenant_id) as ctx:
        open_balances.age_to(ctx.session, ctx.tenant_id, JAN + timedelta(days=40))
    check(
        {
            ("USD", 2, b): (50_00, 1),
            ("USD", all_, b): (50_00, 1),
            ("USD", 1, c): (60_00, 1),
            ("USD", all_, c): (60_00, 1),
            ("USD", 2, d): (10_00, 1),
            ("USD", all_, d): (10_00, 1),
        }
    )
    try:
        with runtime.service_context(tenant.tenant_id) as ctx:
            settle(ctx, [(part, 50_00), (new, 60_00)], each_owed=True)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    check(
        {
            ("USD", 2, b): (50_00, 1),
            ("USD", all_, b): (50_00, 1),
            ("USD", 1, c): (60_00, 1),
            ("USD", all_, c): (60_00, 1),
            ("USD", 2, d): (10_00, 1),
            ("USD", all_, d): (10_00, 1),
        }
    )
    with runtime.service_context(tenant.tenant_id) as ctx:
        settle(ctx, [(part, 50_00), (new, 60_00), (twice, 25_00)], each_owed=True)
    check({}, a, b, c, d)
    with runtime.service_context(tenant.tenant_id) as ctx:
        (again,) = _one_account(ctx, [(40_00, 5)])
    check({("USD", 2, again.account_id): (40_00, 1), ("USD", all_, again.account_id): (40_00, 1)})
    with runtime.service_context(tenant.tenant_id) as ctx:
        settle(ctx, [(again, 55_00)], each_owed=True)  # 15.00 over
    check({}, again.account_id)
    assert _stored(runtime, tenant.tenant_id) == []


def test_owned_slices_empty_accounts_paid_alike_all_or_none(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """``entries_applied_owned`` deletes the rows of accounts of one bucket paid the same
    amount in one statement, all or none: a slice where one of them owes on a second
    invoice of that bucket (its rows count two) is undone and settled account by
    account, a slice of accounts that each owed exactly that is emptied at once, and a
    partly paid one keeps the rest; both summaries equal the recount after each."""
    with runtime.service_context(tenant.tenant_id) as ctx:
        first = [_one_account(ctx, [(100_00, -40)])[0] for _ in range(19)]
        twice = _one_account(ctx, [(100_00, -40), (30_00, -45)])
        second = [_one_account(ctx, [(100_00, 5)])[0] for _ in range(20)]
        (part,) = _one_account(ctx, [(150_00, 5)])
        open_balances.age_to(ctx.session, ctx.tenant_id, JAN)

    _settled_and_recounted(runtime, tenant.tenant_id, [(i, 100_00) for i in [*first, twice[0]]])
    _settled_and_recounted(
        runtime, tenant.tenant_id, [*((i, 100_00) for i in second), (part, 40_00)]
    )
    all_ = open_balances.ALL
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert {k: v for k, v in _account_rows(ctx).items() if v != (0, 0)} == {
            ("USD", 2, twice[1].account_id): (30_00, 1),
            ("USD", all_, twice[1].account_id): (30_00, 1),
            ("USD", 0, part.account_id): (110_00, 1),
            ("USD", all_, part.account_id): (110_00, 1),
        }
        emptied = {i.account_id for i in [*first, *second]}
        assert [k for k in _account_rows(ctx) if k[2] in emptied] == []


def test_owned_slices_empty_runs_of_consecutive_accounts_by_range_all_or_none(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """Accounts of one bucket paid the same amount whose ids run on (a payment run's
    slice, accounts in id order) are emptied by id range, each run all or none: the
    unpaid account between two runs keeps its rows (owing that same amount), a run where
    one account owes a second invoice of the bucket is undone and settled account by
    account; both summaries equal the recount after each slice."""
    size = 70
    with runtime.service_context(tenant.tenant_id) as ctx:
        first = [_one_account(ctx, [(100_00, -40)])[0] for _ in range(2 * size + 1)]
        twice = _one_account(ctx, [(100_00, 5), (30_00, 6)])
        second = [_one_account(ctx, [(100_00, 5)])[0] for _ in range(size)]
        open_balances.age_to(ctx.session, ctx.tenant_id, JAN)
    accounts = [i.account_id for i in [*first, twice[0], *second]]
    # The premise: consecutive ids (one run a slice's worth long).
    assert accounts == list(range(accounts[0], accounts[0] + len(accounts)))
    unpaid = first.pop(size)

    _settled_and_recounted(runtime, tenant.tenant_id, [(i, 100_00) for i in first])
    _settled_and_recounted(runtime, tenant.tenant_id, [(i, 100_00) for i in [twice[0], *second]])
    all_ = open_balances.ALL
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert {k: v for k, v in _account_rows(ctx).items() if v != (0, 0)} == {
            ("USD", 2, unpaid.account_id): (100_00, 1),
            ("USD", all_, unpaid.account_id): (100_00, 1),
            ("USD", 0, twice[1].account_id): (30_00, 1),
            ("USD", all_, twice[1].account_id): (30_00, 1),
        }


def test_owned_slice_on_postgres_keeps_the_units_planner_settings(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """PostgreSQL deletes a slice's emptied rows with bitmap scans off for that one
    statement (their heap order is not the key order writers lock in): the unit's
    setting, on or off, is what it was afterwards, and each slice leaves both summaries
    equal to the recount (an account emptied, one owing on a second invoice of another
    bucket, one paid in part). SQLite has no such setting: the summaries only."""
    slices = []
    with runtime.service_context(tenant.tenant_id) as ctx:
        for _ in range(2):
            (full,) = _one_account(ctx, [(100_00, -40)])
            old, _new = _one_account(ctx, [(50_00, -100), (60_00, 10)])
            (part,) = _one_account(ctx, [(80_00, 0)])
            slices.append((full, old, part))
        open_balances.age_to(ctx.session, ctx.tenant_id, JAN)
    for setting, (full, old, part) in zip(("on", "off"), slices, strict=True):
        with runtime.service_context(tenant.tenant_id) as ctx:
            postgres = ctx.session.get_bind().dialect.name == "postgresql"
            if postgres:
                ctx.session.execute(text(f"SET LOCAL enable_bitmapscan = {setting}"))
            applied = [(full, 100_00), (old, 50_00), (part, 30_00)]
            _settle_owned(ctx, applied)
            if postgres:
                assert ctx.session.execute(text("SHOW enable_bitmapscan")).scalar() == setting
        with runtime.service_context(tenant.tenant_id) as ctx:
            assert open_balances.differences(ctx.session, ctx.tenant_id) == []
            assert open_balances.account_differences(ctx.session, ctx.tenant_id) == []
            rows = {k: v for k, v in _account_rows(ctx).items() if v != (0, 0)}
            assert [k for k in rows if k[2] == full.account_id] == []
            assert rows[("USD", open_balances.ALL, old.account_id)] == (60_00, 1)
            assert rows[("USD", open_balances.ALL, part.account_id)] == (50_00, 1)
