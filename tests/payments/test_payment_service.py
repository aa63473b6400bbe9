"""Payments through the service, on both databases: create, apply (whole invoices and
items), unapply, refund (plain and with auto-unapply), cancel, transfer, delete, settle,
and every refusal, which changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billcycle.accounts import service as accounts
from billcycle.context import ServiceContext
from billcycle.errors import DomainError, InvalidValue, NotFound, RuleViolation
from billcycle.invoicing import repository as invoice_repo
from billcycle.ledger import service as ledger
from billcycle.ledger.models import LedgerEntry
from billcycle.payments import applications, refunds
from billcycle.payments import service as payments
from billcycle.payments.inputs import (
    GatewayOutcome,
    InvoiceApplication,
    ItemApplication,
    NewPayment,
    NewRefund,
)
from billcycle.payments.statuses import PaymentStatus, PaymentType, RefundMethodType, RefundStatus
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.payments.helpers import apps, balance, check_invariants, pay, posted_invoices

CASH = RefundMethodType.CASH


def refund(amount: str, *unapply: tuple[int, str | None]) -> NewRefund:
    return NewRefund(amount=Decimal(amount), method_type=CASH, unapply=apps(*unapply))


def entries(runtime: Runtime, tenant_id: int) -> int:
    with runtime.service_context(tenant_id) as ctx:
        return int(
            ctx.session.execute(
                select(func.count()).where(LedgerEntry.tenant_id == tenant_id)
            ).scalar_one()
        )


def refused(
    runtime: Runtime,
    tenant_id: int,
    error: type[DomainError],
    action: Callable[[ServiceContext], object],
    match: str | None = None,
) -> None:
    """``action`` raises ``error`` and the ledger is unchanged."""
    before = entries(runtime, tenant_id)
    with pytest.raises(error, match=match), runtime.service_context(tenant_id) as ctx:
        action(ctx)
    assert entries(runtime, tenant_id) == before


def test_external_payment_applies_unapplies_and_refunds(
    runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["100", "50"])
    first, second = billed.invoice_ids
    with runtime.service_context(t) as ctx:
        payment = pay(ctx, billed.account_id, "200", (first, "100"), (second, "30"))
        assert payment.number == "P-00000001"
        assert payment.status == PaymentStatus.PROCESSED
        assert payment.created_at == runtime.clock.now()
        view = payments.view_payment(ctx, payment)
        assert (view.amounts.applied_minor, view.amounts.unapplied_minor) == (13000, 7000)
        # Invoice Settlement: the unapplied money stays on the payment, not credit balance.
        assert view.credit_balance_minor == 0
        assert ledger.account_credit_minor(ctx.session, t, billed.account_id) == 7000
        metrics = accounts.account_metrics(ctx, accounts.require_account(ctx, billed.account_id))
        assert metrics.balance == Decimal("20.00")
        assert metrics.credit_balance == 0
        assert metrics.unapplied_payment_amount == Decimal("70.00")
        check_invariants(ctx)
        payment_id = payment.id
    assert balance(runtime, t, first) == 0
    assert balance(runtime, t, second) == 2000

    with runtime.service_context(t) as ctx:
        applications.unapply_payment(ctx, payment_id, apps((first, "40")))
        got = refunds.refund_payment(ctx, payment_id, refund("110"))
        assert got.number == "R-00000001"
        view = payments.view_payment(ctx, payments.get_payment(ctx, payment_id))
        assert view.amounts.applied_minor == 9000
        assert view.amounts.refunded_minor == 11000
        assert view.amounts.unapplied_minor == 0
        assert [r.id for r in view.refunds] == [got.id]
        check_invariants(ctx)
    assert balance(runtime, t, first) == 4000

    # Refund with auto-unapply: takes back the newest applications first (all 30 of the
    # second invoice, then 20 of the first).
    with runtime.service_context(t) as ctx:
        refunds.refund_with_auto_unapply(ctx, payment_id, refund("50"))
        view = payments.view_payment(ctx, payments.get_payment(ctx, payment_id))
        assert view.amounts.applied_minor == 4000
        assert view.amounts.refunded_minor == 16000
        check_invariants(ctx)
    assert balance(runtime, t, second) == 5000
    assert balance(runtime, t, first) == 6000


def test_items_and_whole_invoices(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["100", "60"])
    first, second = billed.invoice_ids
    with runtime.service_context(t) as ctx:
        items = [item for item, _ in invoice_repo.item_amounts(ctx.session, t, first)]
        payment = pay(ctx, billed.account_id, "500")
        applications.apply_payment(
            ctx,
            payment.id,
            [
                InvoiceApplication(
                    first,
                    Decimal("35"),
                    (
                        ItemApplication(items[0], Decimal("20")),
                        ItemApplication(items[1], Decimal("15")),
                    ),
                ),
                InvoiceApplication(second),  # the whole balance
            ],
        )
        check_invariants(ctx)
        payment_id = payment.id
        item_id = items[1]
    assert balance(runtime, t, first) == 6500
    assert balance(runtime, t, second) == 0
    # An item cannot take more than it owes (50 - 15 = 35).
    refused(
        runtime,
        t,
        RuleViolation,
        lambda ctx: applications.apply_payment(
            ctx,
            payment_id,
            [InvoiceApplication(first, None, (ItemApplication(item_id, Decimal("35.01")),))],
        ),
        "more than the item owes",
    )
    # Item amounts must add up to the invoice amount given.
    refused(
        runtime,
        t,
        InvalidValue,
        lambda ctx: applications.apply_payment(
            ctx,
            payment_id,
            [InvoiceApplication(first, Decimal("2"), (ItemApplication(item_id, Decimal("1")),))],
        ),
        "sum of its items",
    )
    with runtime.service_context(t) as ctx:
        applications.unapply_payment(
            ctx,
            payment_id,
            [InvoiceApplication(first, None, (ItemApplication(item_id, Decimal("15")),))],
        )
        applications.unapply_payment(ctx, payment_id, [InvoiceApplication(second)])
        check_invariants(ctx)
    assert balance(runtime, t, first) == 8000
    assert balance(runtime, t, second) == 6000


@pytest.mark.parametrize(
    ("amount", "currency", "error", "match"),
    [
        ("0", "USD", InvalidValue, "greater than zero"),
        ("-5", "USD", InvalidValue, "greater than zero"),
        ("1.005", "USD", InvalidValue, "decimal places"),
        ("10", "EUR", InvalidValue, "not the account's currency"),
        ("10", "XXX1", InvalidValue, None),
    ],
)
def test_bad_payments_are_refused(
    runtime: Runtime,
    tenant: NewTenant,
    amount: str,
    currency: str,
    error: type[DomainError],
    match: str | None,
) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["10"])
    refused(
        runtime, t, error, lambda ctx: pay(ctx, billed.account_id, amount, currency=currency), match
    )


def test_application_rules(runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["100", "20"])
    first, second = billed.invoice_ids
    other_account = posted_invoices(runtime, t, ["10"])
    drafts = posted_invoices(runtime, t, ["10"], status="Draft")
    elsewhere = posted_invoices(runtime, other_tenant.tenant_id, ["10"])
    with runtime.service_context(t) as ctx:
        payment_id = pay(ctx, billed.account_id, "50").id
        draft_payment = pay(ctx, drafts.account_id, "5").id

    def apply(
        payment: int, *invoices: tuple[int, str | None]
    ) -> Callable[[ServiceContext], object]:
        return lambda ctx: applications.apply_payment(ctx, payment, apps(*invoices))

    # More than the payment has unapplied (one invoice, or two together).
    refused(runtime, t, RuleViolation, apply(payment_id, (first, "50.01")), "unapplied")
    refused(runtime, t, RuleViolation, apply(payment_id, (first, "40"), (second, "20")))
    # More than the invoice owes.
    refused(runtime, t, RuleViolation, apply(payment_id, (second, "20.01")), "exceeds the bal")
    # Another account's, another tenant's, a draft invoice.
    refused(runtime, t, NotFound, apply(payment_id, (other_account.invoice_ids[0], "1")))
    refused(runtime, t, NotFound, apply(payment_id, (elsewhere.invoice_ids[0], "1")))
    refused(runtime, t, RuleViolation, apply(draft_payment, (drafts.invoice_ids[0], "1")), "Draft")
    # Unapplying more than was applied.
    with runtime.service_context(t) as ctx:
        applications.apply_payment(ctx, payment_id, apps((second, "20")))
    refused(runtime, t, RuleViolation, apply(payment_id, (second, "1")), "zero balance")
    refused(
        runtime,
        t,
        RuleViolation,
        lambda ctx: applications.unapply_payment(ctx, payment_id, apps((second, "20.01"))),
        "cannot unapply",
    )
    refused(
        runtime,
        t,
        RuleViolation,
        lambda ctx: applications.unapply_payment(ctx, payment_id, apps((first, None))),
    )
    # Another tenant does not see the payment at all.
    refused(
        runtime,
        other_tenant.tenant_id,
        NotFound,
        lambda ctx: applications.apply_payment(ctx, payment_id, apps((first, "1"))),
    )


def test_refund_rules(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["100"])
    (first,) = billed.invoice_ids
    with runtime.service_context(t) as ctx:
        payment_id = pay(ctx, billed.account_id, "80", (first, "60")).id
    # A plain refund only spends the unapplied 20.
    refused(
        runtime,
        t,
        RuleViolation,
        lambda ctx: refunds.refund_payment(ctx, payment_id, refund("20.01")),
    )
    # With auto-unapply: up to everything not refunded.
    refused(
        runtime,
        t,
        RuleViolation,
        lambda ctx: refunds.refund_with_auto_unapply(ctx, payment_id, refund("80.01")),
        "can refund",
    )
    refused(
        runtime,
        t,
        InvalidValue,
        lambda ctx: refunds.refund_payment(ctx, payment_id, NewRefund(amount=Decimal("1"))),
        "methodType",
    )
    refused(
        runtime, t, InvalidValue, lambda ctx: refunds.refund_payment(ctx, payment_id, refund("0"))
    )
    # Named invoices that free too little.
    refused(
        runtime,
        t,
        RuleViolation,
        lambda ctx: refunds.refund_with_auto_unapply(ctx, payment_id, refund("50", (first, "10"))),
        "too little",
    )
    with runtime.service_context(t) as ctx:
        refunds.refund_with_auto_unapply(ctx, payment_id, refund("50", (first, "30")))
        view = payments.view_payment(ctx, payments.get_payment(ctx, payment_id))
        assert view.amounts.refunded_minor == 5000
        assert view.amounts.applied_minor == 3000
        assert view.amounts.unapplied_minor == 0
        check_invariants(ctx)
    assert balance(runtime, t, first) == 7000


def test_cancel_transfer_and_delete(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["100"])
    target = posted_invoices(runtime, t, ["30"])
    euros = posted_invoices(runtime, t, ["30"], currency="EUR")
    (first,) = billed.invoice_ids
    with runtime.service_context(t) as ctx:
        applied = pay(ctx, billed.account_id, "40", (first, "10")).id
        loose = pay(ctx, billed.account_id, "25").id
    # Cancelling or transferring an applied payment; deleting one not canceled.
    refused(runtime, t, RuleViolation, lambda ctx: payments.cancel_payment(ctx, applied), "applied")
    refused(
        runtime,
        t,
        RuleViolation,
        lambda ctx: payments.transfer_payment(ctx, applied, target.account_id),
        "applied",
    )
    refused(runtime, t, RuleViolation, lambda ctx: payments.delete_payment(ctx, loose), "canceled")
    refused(
        runtime,
        t,
        RuleViolation,
        lambda ctx: payments.transfer_payment(ctx, loose, euros.account_id),
        "EUR",
    )
    refused(runtime, t, NotFound, lambda ctx: payments.transfer_payment(ctx, loose, 10**9))
    # Transfer: the credit moves, and the payment pays the other account's invoice.
    with runtime.service_context(t) as ctx:
        payments.transfer_payment(ctx, loose, target.account_id)
        assert ledger.account_credit_minor(ctx.session, t, billed.account_id) == 3000
        assert ledger.account_credit_minor(ctx.session, t, target.account_id) == 2500
        applications.apply_payment(ctx, loose, apps((target.invoice_ids[0], "25")))
        check_invariants(ctx)
    refused(
        runtime,
        t,
        NotFound,
        lambda ctx: applications.apply_payment(ctx, loose, apps((first, "1"))),
    )
    # Cancel once unapplied; a settled payment cannot be cancelled; delete the canceled.
    with runtime.service_context(t) as ctx:
        applications.unapply_payment(ctx, applied, apps((first, None)))
        payment = payments.cancel_payment(ctx, applied)
        assert payment.status == PaymentStatus.CANCELED
        assert payment.cancelled_at == runtime.clock.now()
        assert ledger.account_credit_minor(ctx.session, t, billed.account_id) == 0
        check_invariants(ctx)
    refused(runtime, t, RuleViolation, lambda ctx: payments.cancel_payment(ctx, applied), "already")
    refused(
        runtime,
        t,
        RuleViolation,
        lambda ctx: applications.apply_payment(ctx, applied, apps((first, "1"))),
        "Canceled",
    )
    with runtime.service_context(t) as ctx:
        payments.delete_payment(ctx, applied)
    refused(runtime, t, NotFound, lambda ctx: payments.get_payment(ctx, applied))
    with runtime.service_context(t) as ctx:
        check_invariants(ctx)


def test_processing_payment_counts_for_nothing_until_settled(
    runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["100"])
    (first,) = billed.invoice_ids

    def electronic(ctx: ServiceContext) -> int:
        return pay(ctx, billed.account_id, "100", payment_type=PaymentType.ELECTRONIC).id

    with runtime.service_context(t) as ctx:
        pending = electronic(ctx)
        failing = electronic(ctx)
        payment = payments.get_payment(ctx, pending)
        assert payment.status == PaymentStatus.PROCESSING
        assert payment.gateway_order_id == payment.number
        assert payment.submitted_at == runtime.clock.now()
        assert ledger.account_credit_minor(ctx.session, t, billed.account_id) == 0
        check_invariants(ctx)
    for action in (
        lambda ctx: applications.apply_payment(ctx, pending, apps((first, "1"))),
        lambda ctx: refunds.refund_payment(ctx, pending, refund("1")),
        lambda ctx: payments.cancel_payment(ctx, pending),
    ):
        refused(runtime, t, RuleViolation, action, "Processing")
    # An electronic payment's applications wait for its gateway, checked as applications
    # are (never more than the payment); its date is today.
    refused(
        runtime,
        t,
        RuleViolation,
        lambda ctx: pay(
            ctx, billed.account_id, "1", (first, "2"), payment_type=PaymentType.ELECTRONIC
        ),
    )
    refused(
        runtime,
        t,
        InvalidValue,
        lambda ctx: payments.create_payment(
            ctx,
            NewPayment(
                account_id=billed.account_id,
                amount=Decimal("1"),
                currency="USD",
                payment_type=PaymentType.ELECTRONIC,
                effective_date=date(2025, 1, 1),
            ),
        ),
        "today",
    )
    assert balance(runtime, t, first) == 10000
    with runtime.service_context(t) as ctx:
        settled = payments.settle_payment(ctx, pending, GatewayOutcome(succeeded=True))
        assert settled.status == PaymentStatus.PROCESSED
        assert settled.settled_at == runtime.clock.now()
        # Asked twice (a reconciler), nothing arrives twice.
        payments.settle_payment(ctx, pending, GatewayOutcome(succeeded=True))
        failed = payments.settle_payment(
            ctx, failing, GatewayOutcome(succeeded=False, gateway_response_code="card_declined")
        )
        assert failed.status == PaymentStatus.ERROR
        assert ledger.account_credit_minor(ctx.session, t, billed.account_id) == 10000
        applications.apply_payment(ctx, pending, apps((first, None)))
        check_invariants(ctx)
    refused(
        runtime,
        t,
        RuleViolation,
        lambda ctx: payments.settle_payment(ctx, failing, GatewayOutcome(succeeded=True)),
    )
    # Settled by its gateway: refunded, never cancelled.
    refused(runtime, t, RuleViolation, lambda ctx: payments.cancel_payment(ctx, pending), "settled")
    assert balance(runtime, t, first) == 0


def test_payment_keys_and_updates(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["10"])
    with runtime.service_context(t) as ctx:
        payment = pay(ctx, billed.account_id, "5")
        assert payments.find_payment(ctx, payment_id=None, number=payment.number).id == payment.id
        assert payments.find_payment(ctx, payment_id=payment.id, number="x").id == payment.id
        payments.update_payment(ctx, payment.id, comment="paid at the desk", reference_id="R1")
        assert (payment.comment, payment.reference_id) == ("paid at the desk", "R1")
        assert [p.id for p in payments.account_payments(ctx, billed.account_id)] == [payment.id]
        later = pay(ctx, billed.account_id, "2", (billed.invoice_ids[0], "2"))
        listed = payments.list_payments(ctx, account_id=billed.account_id)
        assert [(v.payment.id, v.amounts.applied_minor) for v in listed] == [
            (later.id, 200),
            (payment.id, 0),
        ]
        assert payments.list_payments(ctx, status=PaymentStatus.CANCELED) == []
        assert [v.payment.id for v in payments.list_payments(ctx, offset=1, limit=1)] == [
            payment.id
        ]
        payment_id = payment.id
    refused(
        runtime,
        t,
        InvalidValue,
        lambda ctx: payments.update_payment(ctx, payment_id, comment="x" * 256),
        "comment",
    )
    refused(
        runtime,
        t,
        NotFound,
        lambda ctx: payments.find_payment(ctx, payment_id=None, number="P-99999999"),
    )


def test_cancelling_a_refund_gives_the_money_back(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["100"])
    with runtime.service_context(t) as ctx:
        payment_id = pay(ctx, billed.account_id, "60", (billed.invoice_ids[0], "20")).id
        refund_id = refunds.refund_payment(ctx, payment_id, refund("40")).id
        assert ledger.account_credit_minor(ctx.session, t, billed.account_id) == 0
    with runtime.service_context(t) as ctx:
        cancelled = refunds.cancel_refund(ctx, refund_id)
        assert cancelled.status == RefundStatus.CANCELED
        view = payments.view_payment(ctx, payments.get_payment(ctx, payment_id))
        assert (view.amounts.refunded_minor, view.amounts.unapplied_minor) == (0, 4000)
        assert ledger.account_credit_minor(ctx.session, t, billed.account_id) == 4000
        check_invariants(ctx)
    refused(
        runtime, t, RuleViolation, lambda ctx: refunds.cancel_refund(ctx, refund_id), "Canceled"
    )
    refused(runtime, t, NotFound, lambda ctx: refunds.cancel_refund(ctx, 10**9))
