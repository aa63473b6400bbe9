"""The ledger's invariants over random sequences of payment operations (hypothesis), on
both databases: after every step, for every invoice amount = applied payments + credits +
write-offs + balance with balance >= 0; for every payment amount = applied + unapplied +
refunded; a Processing payment moves no invoice balance; a refused step changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from billcycle.context import ServiceContext
from billcycle.errors import DomainError
from billcycle.invoicing import repository as invoice_repo
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntrySource, LedgerEntry
from billcycle.payments import applications, refunds
from billcycle.payments import service as payments
from billcycle.payments.inputs import GatewayOutcome, InvoiceApplication, NewPayment, NewRefund
from billcycle.payments.statuses import PaymentType, RefundMethodType
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.payments.helpers import check_invariants, posted_invoices

KINDS = ("create", "settle", "apply", "unapply", "refund", "cancel", "transfer", "write_off")


@dataclass(frozen=True)
class Op:
    """One operation: ``kind`` on the ``a``-th payment (or invoice, for a write-off and for
    create's application), with the ``b``-th invoice or account, ``cents`` (None: the
    whole balance or application) and ``flag`` (electronic, success, auto-unapply)."""

    kind: str
    a: int
    b: int
    cents: int | None
    flag: bool


ops = st.builds(
    Op,
    kind=st.sampled_from(KINDS),
    a=st.integers(min_value=0, max_value=7),
    b=st.integers(min_value=0, max_value=7),
    cents=st.none() | st.integers(min_value=1, max_value=4_000),
    flag=st.booleans(),
)


def _amount(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents) / 100


def _pick(items: list[int], i: int) -> int:
    return items[i % len(items)]


def _write_off(ctx: ServiceContext, invoice_id: int) -> None:
    invoice = invoice_repo.get_invoice(ctx.session, ctx.tenant_id, invoice_id)
    assert invoice is not None
    owed = ledger.invoice_balance(ctx.session, ctx.tenant_id, invoice.id)
    ledger.apply_write_off(
        ctx, invoice, Decimal(owed) / 100, reference=None, comment=None, source=EntrySource.API
    )


def _step(
    ctx: ServiceContext, op: Op, accounts: list[int], invoice_ids: list[int], made: list[int]
) -> None:
    if op.kind == "create":
        applied = (InvoiceApplication(_pick(invoice_ids, op.b), _amount(op.cents)),)
        payment = payments.create_payment(
            ctx,
            NewPayment(
                account_id=_pick(accounts, op.b // 3),
                amount=Decimal(op.a * 3_000 + (op.cents or 1)) / 100,
                currency="USD",
                payment_type=PaymentType.ELECTRONIC if op.flag else PaymentType.EXTERNAL,
                invoices=() if op.flag else applied,
            ),
        )
        made.append(payment.id)
    elif op.kind == "write_off":
        _write_off(ctx, _pick(invoice_ids, op.a))
    elif not made:
        return
    elif op.kind == "settle":
        payments.settle_payment(ctx, _pick(made, op.a), GatewayOutcome(succeeded=op.flag))
    elif op.kind in ("apply", "unapply"):
        act = applications.apply_payment if op.kind == "apply" else applications.unapply_payment
        act(
            ctx,
            _pick(made, op.a),
            [InvoiceApplication(_pick(invoice_ids, op.b), _amount(op.cents))],
        )
    elif op.kind == "refund":
        data = NewRefund(amount=Decimal(op.cents or 1) / 100, method_type=RefundMethodType.CHECK)
        act_refund = refunds.refund_with_auto_unapply if op.flag else refunds.refund_payment
        act_refund(ctx, _pick(made, op.a), data)
    elif op.kind == "cancel":
        payments.cancel_payment(ctx, _pick(made, op.a))
    elif op.kind == "transfer":
        payments.transfer_payment(ctx, _pick(made, op.a), _pick(accounts, op.b))


def _snapshot(ctx: ServiceContext, invoice_ids: list[int]) -> tuple[int, dict[int, int]]:
    count = ctx.session.execute(
        select(func.count()).where(LedgerEntry.tenant_id == ctx.tenant_id)
    ).scalar_one()
    return int(count), ledger.invoice_balances(ctx.session, ctx.tenant_id, invoice_ids)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    opening=st.lists(ops.map(lambda op: replace(op, kind="create")), min_size=1, max_size=3),
    steps=st.lists(ops, min_size=1, max_size=12),
)
def test_random_payment_sequences_keep_the_ledger_whole(
    runtime: Runtime, tenant: NewTenant, opening: list[Op], steps: list[Op]
) -> None:
    t = tenant.tenant_id
    first = posted_invoices(runtime, t, ["100", "45.50", "0.01"])
    second = posted_invoices(runtime, t, ["80"])
    accounts = [first.account_id, second.account_id]
    ids = first.invoice_ids + second.invoice_ids
    made: list[int] = []
    for op in opening + steps:
        with runtime.service_context(t) as ctx:
            before = _snapshot(ctx, ids)
        created = len(made)
        try:
            with runtime.service_context(t) as ctx:
                _step(ctx, op, accounts, ids, made)
        except DomainError:
            del made[created:]  # the unit of work rolled back: no payment was made
            with runtime.service_context(t) as ctx:
                assert _snapshot(ctx, ids) == before, op
        with runtime.service_context(t) as ctx:
            check_invariants(ctx)
            if op.kind == "create" and op.flag:
                # An electronic payment awaits its gateway: no invoice balance moved.
                assert _snapshot(ctx, ids)[1] == before[1]
