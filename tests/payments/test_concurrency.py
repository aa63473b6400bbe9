"""Concurrent refunds, applications and cancels on one payment, from threads each with
its own unit of work: exactly the calls the payment can afford win, the others are
refused, and the ledger's invariants hold. Row locks on PostgreSQL; on SQLite the one
writer serialises the same calls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

from billcycle.context import ServiceContext
from billcycle.errors import RuleViolation
from billcycle.ledger import service as ledger
from billcycle.payments import applications, refunds
from billcycle.payments import service as payments
from billcycle.payments.inputs import NewRefund
from billcycle.payments.statuses import PaymentStatus, RefundMethodType
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.payments.helpers import apps, check_invariants, pay, posted_invoices

THREADS = 8


def race(
    runtime: Runtime, tenant_id: int, calls: list[Callable[[ServiceContext], object]]
) -> list[str]:
    """Run every call at once, each in its own unit of work; "won" or the refusal's kind."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = [""] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            with runtime.service_context(tenant_id) as ctx:
                calls[i](ctx)
            outcomes[i] = "won"
        except RuleViolation:
            outcomes[i] = "refused"
        except Exception as exc:
            outcomes[i] = repr(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_concurrent_refunds_spend_the_unapplied_amount_once(
    runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["10"])
    with runtime.service_context(t) as ctx:
        payment_id = pay(ctx, billed.account_id, "100").id
    refund = NewRefund(amount=Decimal("30"), method_type=RefundMethodType.CASH)
    outcomes = race(
        runtime, t, [lambda ctx: refunds.refund_payment(ctx, payment_id, refund)] * THREADS
    )
    assert sorted(outcomes) == ["refused"] * (THREADS - 3) + ["won"] * 3
    with runtime.service_context(t) as ctx:
        view = payments.view_payment(ctx, payments.get_payment(ctx, payment_id))
        assert view.amounts.refunded_minor == 9000
        assert len(view.refunds) == 3
        check_invariants(ctx)


def test_concurrent_applications_never_over_apply(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["30"] * THREADS)
    with runtime.service_context(t) as ctx:
        payment_id = pay(ctx, billed.account_id, "100").id
        # A second payment racing for the same invoices: an invoice is never over-paid.
        rival_id = pay(ctx, billed.account_id, "1000").id
    calls: list[Callable[[ServiceContext], object]] = []
    for invoice_id in billed.invoice_ids:
        calls.append(
            lambda ctx, i=invoice_id: applications.apply_payment(ctx, payment_id, apps((i, "30")))
        )
        calls.append(
            lambda ctx, i=invoice_id: applications.apply_payment(ctx, rival_id, apps((i, "30")))
        )
    outcomes = race(runtime, t, calls)
    assert set(outcomes) <= {"won", "refused"}, outcomes
    with runtime.service_context(t) as ctx:
        first = payments.view_payment(ctx, payments.get_payment(ctx, payment_id))
        # At most three of 30 fit in 100; the rival can pay every invoice the first one
        # did not: each invoice is paid exactly once.
        assert first.amounts.applied_minor in (0, 3000, 6000, 9000)
        assert outcomes.count("won") == THREADS
        balances = ledger.invoice_balances(ctx.session, t, billed.invoice_ids)
        assert set(balances.values()) == {0}
        check_invariants(ctx)


def test_cancel_races_applications(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    billed = posted_invoices(runtime, t, ["20"] * (THREADS - 1))
    with runtime.service_context(t) as ctx:
        payment_id = pay(ctx, billed.account_id, "50").id
    calls: list[Callable[[ServiceContext], object]] = [
        lambda ctx: payments.cancel_payment(ctx, payment_id)
    ]
    calls += [
        lambda ctx, i=invoice_id: applications.apply_payment(ctx, payment_id, apps((i, "20")))
        for invoice_id in billed.invoice_ids
    ]
    outcomes = race(runtime, t, calls)
    assert set(outcomes) <= {"won", "refused"}, outcomes
    with runtime.service_context(t) as ctx:
        payment = payments.get_payment(ctx, payment_id)
        view = payments.view_payment(ctx, payment)
        if outcomes[0] == "won":
            assert payment.status == PaymentStatus.CANCELED
            assert outcomes[1:].count("won") == 0
        else:
            assert payment.status == PaymentStatus.PROCESSED
            assert outcomes[1:].count("won") == 2
            assert view.amounts.applied_minor == 4000
        check_invariants(ctx)
