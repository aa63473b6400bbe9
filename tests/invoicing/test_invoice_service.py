"""Posting and cancelling invoices through the service layer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import select

from billcycle.context import ServiceContext
from billcycle.errors import DomainError, NotFound, RuleViolation
from billcycle.invoicing import service
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.runtime import Runtime
from billcycle.subscriptions.models import SubscriptionCharge
from billcycle.tenancy.service import NewTenant
from tests.invoicing.factories import (
    ItemSpec,
    make_account,
    make_invoice,
    make_subscription,
    monthly,
)

JAN = date(2026, 1, 1)
FEB = date(2026, 2, 1)
MAR = date(2026, 3, 1)
APR = date(2026, 4, 1)


Row = TypeVar("Row", Invoice, SubscriptionCharge)


def _fresh(ctx: ServiceContext, model: type[Row], id_: int) -> Row:
    """The committed row, not the identity map's copy (set-based updates bypass it)."""
    return ctx.session.scalars(
        select(model).where(model.id == id_).execution_options(populate_existing=True)
    ).one()


def _watermark(ctx: ServiceContext, charge_id: int) -> date | None:
    return _fresh(ctx, SubscriptionCharge, charge_id).billed_through


def _voided(ctx: ServiceContext, invoice_id: int) -> list[bool]:
    return list(
        ctx.session.scalars(
            select(InvoiceItem.voided)
            .where(InvoiceItem.invoice_id == invoice_id)
            .order_by(InvoiceItem.id)
        )
    )


def _status(ctx: ServiceContext, invoice_id: int) -> str:
    return _fresh(ctx, Invoice, invoice_id).status


# -- lookup ----------------------------------------------------------------------------


def test_find_by_id_or_number_and_tenant_isolation(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        invoice = make_invoice(ctx, billed.account, [monthly(billed.charge, JAN)])
        assert service.find_invoice(ctx, invoice_id=invoice.id, number="x").id == invoice.id
        by_number = service.find_invoice(ctx, invoice_id=None, number=invoice.invoice_number)
        assert by_number.id == invoice.id
        invoice_id, number = invoice.id, invoice.invoice_number
    with runtime.service_context(other_tenant.tenant_id) as other:
        with pytest.raises(NotFound):
            service.find_invoice(other, invoice_id=invoice_id, number=number)
        with pytest.raises(NotFound):
            service.get_invoice(other, invoice_id)


# -- post ------------------------------------------------------------------------------


def test_post_draft_keeps_dates_and_stamps_posted_at(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx, payment_term="Net 30"))
        invoice = make_invoice(ctx, billed.account, [monthly(billed.charge, JAN)], due_date=FEB)
        posted = service.post_invoice(ctx, invoice)
        assert posted.status == "Posted"
        assert posted.posted_at == ctx.clock.now()
        assert (posted.invoice_date, posted.due_date) == (JAN, FEB)


def test_post_with_invoice_date_recomputes_due_date(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx, payment_term="Net 15"))
        invoice = make_invoice(ctx, billed.account, [monthly(billed.charge, JAN)])
        posted = service.post_invoice(ctx, invoice, date(2026, 1, 20))
        assert (posted.invoice_date, posted.due_date) == (date(2026, 1, 20), date(2026, 2, 4))


@pytest.mark.parametrize("status", ["Posted", "Canceled"])
def test_only_drafts_can_be_posted(runtime: Runtime, tenant: NewTenant, status: str) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        invoice = make_invoice(ctx, billed.account, [monthly(billed.charge, JAN)], status=status)
        with pytest.raises(RuleViolation, match="only draft invoices can be posted"):
            service.post_invoice(ctx, invoice, FEB)
        assert _status(ctx, invoice.id) == status
        assert _fresh(ctx, Invoice, invoice.id).invoice_date == JAN


def test_post_invoices_is_set_based_and_skips_non_drafts(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    with runtime.service_context(other_tenant.tenant_id) as ctx:
        foreign = make_subscription(ctx, make_account(ctx))
        foreign_id = make_invoice(ctx, foreign.account, [monthly(foreign.charge, JAN)]).id
    with runtime.service_context(tenant.tenant_id) as ctx:
        net30 = make_subscription(ctx, make_account(ctx, payment_term="Net 30"))
        upon = make_subscription(ctx, make_account(ctx, payment_term="Due Upon Receipt"))
        a = make_invoice(ctx, net30.account, [monthly(net30.charge, JAN)])
        b = make_invoice(ctx, upon.account, [monthly(upon.charge, JAN)])
        done = make_invoice(ctx, upon.account, [monthly(upon.charge, FEB)], status="Posted")
        gone = make_invoice(ctx, net30.account, [monthly(net30.charge, FEB)], status="Canceled")
        ids = [a.id, b.id, done.id, gone.id, foreign_id]
        posted = service.post_invoices(ctx, ids, invoice_date=date(2026, 1, 5))
        assert sorted(posted) == sorted([a.id, b.id])
        fresh_a, fresh_b = _fresh(ctx, Invoice, a.id), _fresh(ctx, Invoice, b.id)
        assert (fresh_a.status, fresh_a.invoice_date, fresh_a.due_date) == (
            "Posted",
            date(2026, 1, 5),
            date(2026, 2, 4),
        )
        assert (fresh_b.invoice_date, fresh_b.due_date) == (date(2026, 1, 5), date(2026, 1, 5))
        assert fresh_a.posted_at == ctx.clock.now()
        assert _fresh(ctx, Invoice, done.id).invoice_date == JAN
        assert _status(ctx, gone.id) == "Canceled"
        # Posting again is a no-op: a resumed bill-run post changes nothing.
        assert service.post_invoices(ctx, ids) == []
    with runtime.service_context(other_tenant.tenant_id) as ctx:
        assert _status(ctx, foreign_id) == "Draft"


# -- cancel ----------------------------------------------------------------------------


def test_cancel_voids_items_and_rolls_the_watermark_back(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        charge = billed.charge
        invoice = make_invoice(ctx, billed.account, [monthly(charge, JAN), monthly(charge, FEB)])
        assert _watermark(ctx, charge.id) == MAR
        canceled = service.cancel_invoice(ctx, invoice)
        assert canceled.status == "Canceled"
        assert canceled.canceled_at == ctx.clock.now()
        assert _voided(ctx, invoice.id) == [True, True]
        assert _watermark(ctx, charge.id) == JAN
        # The periods are billable again: the partial unique index ignores voided items.
        again = make_invoice(ctx, billed.account, [monthly(charge, JAN)])
        assert _watermark(ctx, charge.id) == FEB
        assert again.id != invoice.id


@pytest.mark.parametrize("status", ["Posted", "Canceled"])
def test_only_drafts_can_be_canceled(runtime: Runtime, tenant: NewTenant, status: str) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        invoice = make_invoice(ctx, billed.account, [monthly(billed.charge, JAN)], status=status)
        with pytest.raises(RuleViolation, match="Only draft invoices can be canceled"):
            service.cancel_invoice(ctx, invoice)
        assert _status(ctx, invoice.id) == status
        assert _voided(ctx, invoice.id) == [False]
        assert _watermark(ctx, billed.charge.id) == FEB


def test_only_the_latest_invoice_of_a_charge_can_be_canceled(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        charge = billed.charge
        jan = make_invoice(ctx, billed.account, [monthly(charge, JAN)])
        feb = make_invoice(ctx, billed.account, [monthly(charge, FEB)], invoice_date=FEB)
        with pytest.raises(RuleViolation, match=feb.invoice_number):
            service.cancel_invoice(ctx, jan)
        assert (_status(ctx, jan.id), _voided(ctx, jan.id)) == ("Draft", [False])
        assert _watermark(ctx, charge.id) == MAR
        service.cancel_invoice(ctx, feb)
        assert _watermark(ctx, charge.id) == FEB
        # Now January's invoice is the latest live one.
        service.cancel_invoice(ctx, jan)
        assert _watermark(ctx, charge.id) == JAN


def test_a_later_invoice_of_another_charge_blocks_the_whole_cancel(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = make_account(ctx)
        first = make_subscription(ctx, account)
        second = make_subscription(ctx, account)
        both = make_invoice(ctx, account, [monthly(first.charge, JAN), monthly(second.charge, JAN)])
        make_invoice(ctx, account, [monthly(second.charge, FEB)], invoice_date=FEB)
        with pytest.raises(RuleViolation, match="latest invoice"):
            service.cancel_invoice(ctx, both)
        assert _status(ctx, both.id) == "Draft"
        assert _voided(ctx, both.id) == [False, False]
        assert (_watermark(ctx, first.charge.id), _watermark(ctx, second.charge.id)) == (FEB, MAR)


def test_a_posted_later_invoice_blocks_and_a_canceled_one_does_not(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        charge = billed.charge
        jan = make_invoice(ctx, billed.account, [monthly(charge, JAN)])
        feb = make_invoice(ctx, billed.account, [monthly(charge, FEB)], status="Posted")
        with pytest.raises(RuleViolation):
            service.cancel_invoice(ctx, jan)
        # A cancelled later invoice no longer counts (its items are voided).
        ctx.session.execute(
            InvoiceItem.__table__.update()
            .where(InvoiceItem.__table__.c.invoice_id == feb.id)
            .values(voided=True)
        )
        _fresh(ctx, Invoice, feb.id).status = "Canceled"
        _fresh(ctx, SubscriptionCharge, charge.id).billed_through = FEB
        ctx.session.flush()
        service.cancel_invoice(ctx, jan)
        assert _watermark(ctx, charge.id) == JAN


def test_cancel_a_credit_restores_the_watermark_to_the_end_of_the_credited_span(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        charge = billed.charge
        billed_q1 = make_invoice(
            ctx, billed.account, [monthly(charge, JAN), monthly(charge, FEB), monthly(charge, MAR)]
        )
        assert _watermark(ctx, charge.id) == APR
        mid_feb = date(2026, 2, 15)
        credit = make_invoice(
            ctx,
            billed.account,
            [
                ItemSpec(charge, mid_feb, MAR, Decimal("-50"), is_credit=True),
                ItemSpec(charge, MAR, APR, Decimal("-100"), is_credit=True),
            ],
            invoice_date=mid_feb,
        )
        assert _watermark(ctx, charge.id) == mid_feb
        # The credit is later than the invoice it credits: that one cannot go first.
        with pytest.raises(RuleViolation, match=credit.invoice_number):
            service.cancel_invoice(ctx, billed_q1)
        service.cancel_invoice(ctx, credit)
        assert _watermark(ctx, charge.id) == APR
        assert _voided(ctx, credit.id) == [True, True]


def test_a_credit_reaching_before_the_invoice_still_counts_as_later(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        charge = billed.charge
        make_invoice(ctx, billed.account, [monthly(charge, JAN)])
        feb = make_invoice(ctx, billed.account, [monthly(charge, FEB)], invoice_date=FEB)
        # Ended mid-January: the credit starts before February's first period.
        make_invoice(
            ctx,
            billed.account,
            [ItemSpec(charge, date(2026, 1, 15), MAR, Decimal("-150"), is_credit=True)],
            invoice_date=FEB,
        )
        with pytest.raises(RuleViolation, match="latest invoice"):
            service.cancel_invoice(ctx, feb)


def test_cancel_invoices_as_a_set(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = make_account(ctx)
        first, second = make_subscription(ctx, account), make_subscription(ctx, account)
        jan = make_invoice(ctx, account, [monthly(first.charge, JAN), monthly(second.charge, JAN)])
        feb = make_invoice(ctx, account, [monthly(first.charge, FEB)], invoice_date=FEB)
        other = make_subscription(ctx, make_account(ctx))
        lone = make_invoice(ctx, other.account, [monthly(other.charge, JAN)])
        old = make_invoice(ctx, other.account, [], status="Canceled")
        # January alone is blocked by February; together they go.
        with pytest.raises(RuleViolation):
            service.cancel_invoices(ctx, [jan.id, lone.id])
        assert {_status(ctx, i) for i in (jan.id, lone.id)} == {"Draft"}
        canceled = service.cancel_invoices(ctx, [feb.id, jan.id, lone.id, old.id, jan.id])
        assert sorted(canceled) == sorted([jan.id, feb.id, lone.id])
        assert _watermark(ctx, first.charge.id) == JAN
        assert _watermark(ctx, second.charge.id) == JAN
        assert _watermark(ctx, other.charge.id) == JAN
        # Resuming is harmless: nothing left to cancel.
        assert service.cancel_invoices(ctx, [jan.id, feb.id]) == []


def test_cancel_invoices_refuses_posted_and_unknown_invoices(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    with runtime.service_context(other_tenant.tenant_id) as ctx:
        foreign = make_subscription(ctx, make_account(ctx))
        foreign_id = make_invoice(ctx, foreign.account, [monthly(foreign.charge, JAN)]).id
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        draft = make_invoice(ctx, billed.account, [monthly(billed.charge, JAN)])
        other = make_subscription(ctx, make_account(ctx))
        posted = make_invoice(ctx, other.account, [monthly(other.charge, JAN)], status="Posted")
        with pytest.raises(RuleViolation, match=posted.invoice_number):
            service.cancel_invoices(ctx, [draft.id, posted.id])
        with pytest.raises(NotFound):
            service.cancel_invoices(ctx, [draft.id, foreign_id])
        assert _status(ctx, draft.id) == "Draft"
        assert service.cancel_invoices(ctx, []) == []


# -- concurrency -----------------------------------------------------------------------


def _race(
    runtime: Runtime,
    tenant_id: int,
    invoice_id: int,
    action: Callable[[ServiceContext, Invoice], object],
) -> list[str]:
    """Run ``action`` on one invoice from two threads at once; returns each outcome."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            with runtime.service_context(tenant_id) as ctx:
                invoice = service.get_invoice(ctx, invoice_id)
                barrier.wait(timeout=10)
                action(ctx, invoice)
            result = "ok"
        except DomainError as exc:
            result = type(exc).__name__
        except Exception as exc:  # anything else is a bug the assertion should show
            result = repr(exc)
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_concurrent_posts_of_one_invoice_cannot_both_win(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        invoice_id = make_invoice(ctx, billed.account, [monthly(billed.charge, JAN)]).id
    outcomes = _race(
        runtime,
        tenant.tenant_id,
        invoice_id,
        lambda ctx, invoice: service.post_invoice(ctx, invoice, JAN + timedelta(days=1)),
    )
    assert outcomes == ["RuleViolation", "ok"]


def test_concurrent_cancels_of_one_invoice_cannot_both_win(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        invoice_id = make_invoice(ctx, billed.account, [monthly(billed.charge, JAN)]).id
    outcomes = _race(runtime, tenant.tenant_id, invoice_id, service.cancel_invoice)
    assert outcomes == ["RuleViolation", "ok"]
