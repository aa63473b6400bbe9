"""``pending_repository.orders_taken``: which of a payment run's fresh numbers some
electronic payment was already sent under, on both databases (PostgreSQL reads those
sent under their own number as ONE range of the unique index, the ids only a filter)."""

from __future__ import annotations

from billcycle.payments import pending_repository
from billcycle.payments.models import Payment
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.accounts.factories import new_account


def test_orders_taken_finds_own_numbers_and_other_order_ids_only(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = new_account(ctx)
        now = ctx.clock.now()
        # (number, gateway order id, type): sent under its own number; sent under another
        # order id; an external payment under its own number (not electronic: not taken).
        for number, order, kind in (
            ("P-00000005", "P-00000005", "Electronic"),
            ("P-00000900", "P-00000007", "Electronic"),
            ("P-00000008", "P-00000008", "External"),
            ("P-00000050", "P-00000050", "Electronic"),
        ):
            ctx.session.add(
                Payment(
                    tenant_id=ctx.tenant_id,
                    account_id=account.id,
                    number=number,
                    amount_minor=100,
                    currency="USD",
                    effective_date=now.date(),
                    payment_type=kind,
                    status="Error",
                    gateway_order_id=order,
                    created_at=now,
                    updated_at=now,
                )
            )
        ctx.session.flush()
        ids = [f"P-{n:08d}" for n in range(4, 10)]  # 4..9: 50 and 900 are outside the range
        taken = pending_repository.orders_taken(ctx.session, ctx.tenant_id, ids)
        assert sorted(taken) == ["P-00000005", "P-00000007"]
        # The range's ends are the ids' least and greatest, whatever their order.
        assert sorted(
            pending_repository.orders_taken(
                ctx.session, ctx.tenant_id, ["P-00000050", "P-00000001"]
            )
        ) == ["P-00000050"]
        assert pending_repository.orders_taken(ctx.session, ctx.tenant_id + 1, ids) == []
