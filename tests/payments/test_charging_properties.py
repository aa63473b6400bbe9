"""The ledger's invariants with gateways in the mix (hypothesis), on both databases:
random sequences of charges on approving, declining, pending and timing-out test cards,
reconciler sweeps, gateways settling, external payments, applications, refunds through
the gateway, chargebacks and write-offs. After every step: nothing is counted as paid
while a payment is Processing; for every payment amount = applied + unapplied +
refunded; for every invoice amount = payments + credits + write-offs + balance, with
balance >= 0; a refused step changes nothing."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from billcycle.clock import FrozenClock
from billcycle.context import ServiceContext
from billcycle.errors import DomainError
from billcycle.ledger import service as ledger
from billcycle.ledger.models import LedgerEntry
from billcycle.payments import applications, chargebacks, charging, gateway_refunds, reconciler
from billcycle.payments import service as payments
from billcycle.payments.inputs import InvoiceApplication, NewPayment, NewRefund
from billcycle.payments.models import Payment
from billcycle.payments.statuses import SETTLED_STATUSES, PaymentStatus, PaymentType
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.charging.helpers import Sleeps, add_method
from tests.gateways.helpers import SETTLE_AFTER, configure_test_gateway
from tests.payments.helpers import check_invariants, posted_invoices

TOKENS = ("tok_visa", "tok_chargeDeclined", "tok_pendingThenSettled", "tok_timeoutThenApproved")
KINDS = (
    "charge",
    "charge",
    "reconcile",
    "gateway_settles",
    "external",
    "apply",
    "unapply",
    "gateway_refund",
    "chargeback",
    "reject",
)
_GATEWAY_NAMES = itertools.count()


@dataclass(frozen=True)
class Op:
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
    cents=st.none() | st.integers(min_value=1, max_value=6_000),
    flag=st.booleans(),
)


@dataclass
class World:
    runtime: Runtime
    tenant_id: int
    accounts: list[int]
    invoices: dict[int, list[int]]  # account -> its invoices
    methods: dict[int, list[int]]  # account -> a method per token
    made: list[int]


def _amount(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents) / 100


def _pick(items: list[int], i: int) -> int:
    return items[i % len(items)]


def _step(world: World, op: Op, machine_clock: FrozenClock) -> None:
    runtime, t = world.runtime, world.tenant_id
    account = _pick(world.accounts, op.b)
    invoice = _pick(world.invoices[account], op.a)
    if op.kind == "charge":
        outcome = charging.charge_now(
            runtime,
            t,
            charging.ChargeRequest(
                account_id=account,
                amount_minor=(op.cents or 1) + (0 if op.flag else 2_000),
                invoices=(InvoiceApplication(invoice, _amount(op.cents)),) if op.flag else (),
                payment_method_id=_pick(world.methods[account], op.a),
            ),
            sleep=Sleeps(),
        )
        if outcome.error is not None:
            raise outcome.error
        assert outcome.payment_id is not None
        world.made.append(outcome.payment_id)
        return
    if op.kind == "reconcile":
        reconciler.reconcile_due(runtime, older_than=timedelta(0), sleep=Sleeps(), tenant_id=t)
        return
    if op.kind == "gateway_settles":
        machine_clock.advance(timedelta(seconds=SETTLE_AFTER))
        return
    if op.kind == "external":
        with runtime.service_context(t) as ctx:
            made = payments.create_payment(
                ctx,
                NewPayment(
                    account_id=account,
                    amount=Decimal(op.cents or 100) / 100,
                    currency="USD",
                    invoices=(InvoiceApplication(invoice, None),) if op.flag else (),
                ),
            )
            world.made.append(made.id)
        return
    if not world.made:
        return
    payment_id = _pick(world.made, op.a)
    if op.kind == "gateway_refund":
        gateway_refunds.refund_now(
            runtime,
            t,
            payment_id,
            NewRefund(amount=Decimal(op.cents or 1) / 100, refund_type=PaymentType.ELECTRONIC),
            auto_unapply=op.flag,
            sleep=Sleeps(),
        )
        return
    with runtime.service_context(t) as ctx:
        payment = payments.get_payment(ctx, payment_id)
        target = _pick(world.invoices[payment.account_id], op.b)
        if op.kind in ("apply", "unapply"):
            act = applications.apply_payment if op.kind == "apply" else applications.unapply_payment
            act(ctx, payment_id, [InvoiceApplication(target, _amount(op.cents))])
        elif op.kind == "chargeback":
            chargebacks.chargeback_payment(
                ctx, payment_id, chargebacks.GatewayReversal(amount=Decimal(op.cents or 1) / 100)
            )
        elif op.kind == "reject":
            chargebacks.reject_payment(ctx, payment_id, chargebacks.GatewayReversal())


def _snapshot(ctx: ServiceContext, invoice_ids: list[int]) -> tuple[int, dict[int, int]]:
    count = ctx.session.execute(
        select(func.count()).where(LedgerEntry.tenant_id == ctx.tenant_id)
    ).scalar_one()
    return int(count), ledger.invoice_balances(ctx.session, ctx.tenant_id, invoice_ids)


def _nothing_pending_counts(ctx: ServiceContext) -> None:
    """A payment that is not settled has no entry at all: no money on the account, none
    on an invoice (check_invariants checks the amounts; this checks every entry)."""
    waiting = [
        p.id
        for p in ctx.session.scalars(select(Payment).where(Payment.tenant_id == ctx.tenant_id))
        if PaymentStatus(p.status) not in SETTLED_STATUSES
    ]
    totals = ledger.payment_totals(ctx.session, ctx.tenant_id, waiting)
    for payment_id in waiting:
        assert not totals[payment_id].by_type, payment_id


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(ops, min_size=1, max_size=10))
def test_random_charging_sequences_keep_the_ledger_whole(
    runtime: Runtime, tenant: NewTenant, machine_clock: FrozenClock, steps: list[Op]
) -> None:
    t = tenant.tenant_id
    first = posted_invoices(runtime, t, ["100", "45.50", "0.01"])
    second = posted_invoices(runtime, t, ["80"])
    gateway_id = configure_test_gateway(runtime, t, name=f"gw{next(_GATEWAY_NAMES)}")
    world = World(
        runtime=runtime,
        tenant_id=t,
        accounts=[first.account_id, second.account_id],
        invoices={
            first.account_id: first.invoice_ids,
            second.account_id: second.invoice_ids,
        },
        methods={
            account: [
                add_method(runtime, t, account, token, default=i == 0, gateway_id=gateway_id)
                for i, token in enumerate(TOKENS)
            ]
            for account in (first.account_id, second.account_id)
        },
        made=[],
    )
    ids = first.invoice_ids + second.invoice_ids
    for op in steps:
        with runtime.service_context(t) as ctx:
            before = _snapshot(ctx, ids)
        try:
            _step(world, op, machine_clock)
        except DomainError:
            with runtime.service_context(t) as ctx:
                assert _snapshot(ctx, ids) == before, op
        with runtime.service_context(t) as ctx:
            check_invariants(ctx)
            _nothing_pending_counts(ctx)
