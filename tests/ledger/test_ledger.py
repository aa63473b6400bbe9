"""The accounts-receivable ledger: write-offs, balances and totals per entry type."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billcycle.context import ServiceContext
from billcycle.db.session import unit_of_work
from billcycle.errors import DomainError, InvalidValue, RuleViolation
from billcycle.invoicing import service as invoices
from billcycle.invoicing.models import Invoice
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntryType
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from tests.invoicing.factories import make_account, make_invoice, make_subscription, monthly

JAN = date(2026, 1, 1)
FEB = date(2026, 2, 1)


def _posted(ctx: ServiceContext, amount: str = "100", *, status: str = "Posted") -> Invoice:
    billed = make_subscription(ctx, make_account(ctx))
    return make_invoice(ctx, billed.account, [monthly(billed.charge, JAN, amount)], status=status)


def _write_off(ctx: ServiceContext, invoice: Invoice, amount: str) -> object:
    return ledger.apply_write_off(
        ctx, invoice, Decimal(amount), reference="bad debt", comment="gone", source="API"
    )


def test_write_off_takes_the_full_balance(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        invoice = _posted(ctx, "123.45")
        entry = ledger.apply_write_off(
            ctx, invoice, Decimal("123.45"), reference="R-1", comment="uncollectable", source="API"
        )
        assert (entry.entry_type, entry.amount_minor, entry.currency) == ("WriteOff", 12345, "USD")
        assert (entry.reference, entry.comment, entry.source) == ("R-1", "uncollectable", "API")
        assert entry.effective_date == ctx.clock.today()
        assert entry.account_id == invoice.account_id
        assert ledger.invoice_balance(ctx.session, ctx.tenant_id, invoice.id) == 0
        totals = ledger.applied_totals_by_type(ctx.session, ctx.tenant_id, [invoice.id])
        assert totals[invoice.id].write_off_minor == 12345
        assert totals[invoice.id].payment_minor == 0
        assert ledger.entries_of(ctx, invoice) == [entry]


@pytest.mark.parametrize("amount", ["50", "100.01", "0"])
def test_write_off_refuses_anything_but_the_balance(
    runtime: Runtime, tenant: NewTenant, amount: str
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        invoice = _posted(ctx)
        with pytest.raises(DomainError):
            _write_off(ctx, invoice, amount)
        assert ledger.invoice_balance(ctx.session, ctx.tenant_id, invoice.id) == 10000


def test_write_off_refuses_sub_cent_amounts(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        invoice = _posted(ctx)
        with pytest.raises(InvalidValue, match="decimal places"):
            _write_off(ctx, invoice, "99.999")


@pytest.mark.parametrize("status", ["Draft", "Canceled"])
def test_only_posted_invoices_can_be_written_off(
    runtime: Runtime, tenant: NewTenant, status: str
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        invoice = _posted(ctx, status=status)
        with pytest.raises(RuleViolation, match="only posted invoices"):
            _write_off(ctx, invoice, "100")
        assert ledger.entries_of(ctx, invoice) == []


def test_a_zero_balance_cannot_be_written_off_twice(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        invoice = _posted(ctx)
        _write_off(ctx, invoice, "100")
        with pytest.raises(RuleViolation, match="zero balance"):
            _write_off(ctx, invoice, "100")
        zero = _posted(ctx, "0")
        with pytest.raises(RuleViolation, match="zero balance"):
            _write_off(ctx, zero, "0")


def test_write_off_date_cannot_precede_the_invoice(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        invoice = _posted(ctx)
        with pytest.raises(InvalidValue, match="before the invoice date"):
            ledger.apply_write_off(
                ctx,
                invoice,
                Decimal(100),
                reference=None,
                comment=None,
                source="API",
                effective_date=date(2025, 12, 31),
            )
        entry = ledger.apply_write_off(
            ctx,
            invoice,
            Decimal(100),
            reference=None,
            comment=None,
            source="API",
            effective_date=FEB,
        )
        assert entry.effective_date == FEB


def test_balances_and_totals_are_set_based_and_tenant_scoped(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    with runtime.service_context(other_tenant.tenant_id) as ctx:
        foreign_id = _posted(ctx).id
    with runtime.service_context(tenant.tenant_id) as ctx:
        paid = _posted(ctx, "100")
        written = _posted(ctx, "40.50")
        untouched = _posted(ctx, "7", status="Draft")
        ledger.apply_to_invoice(
            ctx, paid, EntryType.PAYMENT, 3000, reference="P-1", comment=None, source="API"
        )
        ledger.apply_to_invoice(
            ctx, paid, EntryType.CREDIT_MEMO, 500, reference="CM-1", comment=None, source="API"
        )
        _write_off(ctx, paid, "65")
        _write_off(ctx, written, "40.50")
        ids = [paid.id, written.id, untouched.id, foreign_id]
        assert ledger.invoice_balances(ctx.session, ctx.tenant_id, ids) == {
            paid.id: 0,
            written.id: 0,
            untouched.id: 700,
        }
        totals = ledger.applied_totals_by_type(ctx.session, ctx.tenant_id, ids)
        assert (
            totals[paid.id].payment_minor,
            totals[paid.id].credit_memo_minor,
            totals[paid.id].write_off_minor,
            totals[paid.id].total_minor,
        ) == (3000, 500, 6500, 10000)
        assert totals[written.id].by_type == {"WriteOff": 4050}
        assert totals[untouched.id].total_minor == 0
        assert totals[foreign_id].total_minor == 0
        assert ledger.invoice_balances(ctx.session, ctx.tenant_id, []) == {}


def test_partial_entries_never_exceed_the_balance(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        invoice = _posted(ctx, "100")
        ledger.apply_to_invoice(
            ctx, invoice, EntryType.PAYMENT, 6000, reference=None, comment=None, source="API"
        )
        with pytest.raises(RuleViolation, match="exceeds the balance"):
            ledger.apply_to_invoice(
                ctx, invoice, EntryType.PAYMENT, 4001, reference=None, comment=None, source="API"
            )
        with pytest.raises(InvalidValue, match="greater than zero"):
            ledger.apply_to_invoice(
                ctx, invoice, EntryType.PAYMENT, -1, reference=None, comment=None, source="API"
            )
        # The write-off covers what is left, not the original amount.
        with pytest.raises(RuleViolation, match="full balance"):
            _write_off(ctx, invoice, "100")
        _write_off(ctx, invoice, "40")
        assert ledger.invoice_balance(ctx.session, ctx.tenant_id, invoice.id) == 0


def test_zuora_write_off_defaults_to_the_balance(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        invoice = _posted(ctx, "80")
        entry = invoices.write_off_invoice(ctx, invoice, comment="bye", memo_date=FEB)
        assert (entry.amount_minor, entry.reference, entry.effective_date) == (
            8000,
            "Write-off",
            FEB,
        )
        with pytest.raises(RuleViolation, match="zero balance"):
            invoices.write_off_invoice(ctx, invoice)


def test_concurrent_write_offs_of_one_invoice_exactly_one_wins(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        invoice_id = _posted(ctx, "250").id
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    guard = threading.Lock()

    def worker(n: int) -> None:
        try:
            with runtime.service_context(tenant.tenant_id) as ctx:
                invoice = invoices.get_invoice(ctx, invoice_id)
                # Both have read the invoice (balance 250) before either writes.
                barrier.wait(timeout=10)
                ledger.apply_write_off(
                    ctx, invoice, Decimal(250), reference=f"T{n}", comment=None, source="API"
                )
            result = "ok"
        except DomainError as exc:
            result = type(exc).__name__
        except Exception as exc:  # a lock error or deadlock would be a bug: show it
            result = repr(exc)
        with guard:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["RuleViolation", "ok"]
    with runtime.service_context(tenant.tenant_id) as ctx:
        invoice = invoices.get_invoice(ctx, invoice_id)
        entries = ledger.entries_of(ctx, invoice)
        assert [e.amount_minor for e in entries] == [25000]
        assert ledger.invoice_balance(ctx.session, ctx.tenant_id, invoice_id) == 0


def test_set_based_write_off_writes_each_full_balance_it_may(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """One statement writes off the whole remaining balance of every posted invoice among
    the candidates with something left to pay, dated today or the invoice's date if later,
    and leaves drafts, settled invoices and other tenants' invoices alone."""
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other tenant")
    with runtime.service_context(other.tenant_id) as ctx:
        foreign = _posted(ctx, "70")
    with runtime.service_context(tenant.tenant_id) as ctx:
        whole, partly_paid = _posted(ctx, "100"), _posted(ctx, "42.50")
        ledger.apply_to_invoice(
            ctx, partly_paid, EntryType.PAYMENT, 1250, reference="P", comment=None, source="API"
        )
        settled = _posted(ctx, "10")
        _write_off(ctx, settled, "10")
        draft = _posted(ctx, "10", status="Draft")
        billed = make_subscription(ctx, make_account(ctx))
        later = make_invoice(
            ctx,
            billed.account,
            [monthly(billed.charge, FEB, "5")],
            status="Posted",
            invoice_date=date(2026, 3, 1),
        )
        ids = [whole.id, partly_paid.id, settled.id, draft.id, later.id, foreign.id]
        written = ledger.write_off_full_balances(
            ctx, select(Invoice.id).where(Invoice.id.in_(ids)), reference="bulk", source="test"
        )
        assert set(written) == {whole.id, partly_paid.id, later.id}
        for invoice_id, entry_id in written.items():
            entry = ledger.get_entry(ctx, entry_id)
            assert (entry.invoice_id, entry.entry_type, entry.reference, entry.source) == (
                invoice_id,
                "WriteOff",
                "bulk",
                "test",
            )
        assert ledger.get_entry(ctx, written[partly_paid.id]).amount_minor == 3000
        assert ledger.get_entry(ctx, written[whole.id]).effective_date == ctx.clock.today()
        assert ledger.get_entry(ctx, written[later.id]).effective_date == date(2026, 3, 1)
        after = ledger.invoice_balances(ctx.session, tenant.tenant_id, ids)
        assert after == {whole.id: 0, partly_paid.id: 0, settled.id: 0, draft.id: 1000, later.id: 0}
        totals = ledger.applied_totals_by_type(ctx.session, tenant.tenant_id, [partly_paid.id])
        assert totals[partly_paid.id].write_off_minor == 3000
        assert totals[partly_paid.id].payment_minor == 1250
        # Written off already: a second pass writes nothing.
        again = ledger.write_off_full_balances(
            ctx, select(Invoice.id).where(Invoice.id.in_(ids)), reference="bulk", source="test"
        )
        assert again == {}
    with runtime.service_context(other.tenant_id) as ctx:
        assert ledger.invoice_balance(ctx.session, other.tenant_id, foreign.id) == 7000
