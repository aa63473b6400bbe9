"""Test scaffolding, not under test: many posted invoices written fast with set-based
inserts (SQLAlchemy Core executemany), one item each, ten invoices per account.

Only the rows a write-off reads are realistic (posted, an amount, an Active account);
the items hang off one subscription charge, each on its own day so the billed-period
index stays satisfied.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, insert, select

from billcycle.accounts.models import Account
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.runtime import Runtime
from tests.invoicing.factories import make_account, make_subscription

PER_ACCOUNT = 10
BATCH = 5_000


def insert_posted_invoices(
    runtime: Runtime, tenant_id: int, count: int, *, amount_minor: int = 1234
) -> list[int]:
    """``count`` posted USD invoices; returns their ids in insertion order."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    day0 = date(1950, 1, 1)
    with runtime.service_context(tenant_id) as ctx:
        charge = make_subscription(ctx, make_account(ctx), start=day0).charge
        accounts = (count + PER_ACCOUNT - 1) // PER_ACCOUNT
        ctx.session.execute(
            insert(cast(Table, Account.__table__)),
            [
                {
                    "tenant_id": tenant_id,
                    "account_number": f"BULK{n:08d}",
                    "name": f"Bulk customer {n}",
                    "currency": "USD",
                    "bill_cycle_day": 1,
                    "batch": 1,
                    "payment_term": "Net 30",
                    "auto_pay": False,
                    "status": "Active",
                    "invoice_delivery_prefs_email": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(accounts)
            ],
        )
        account_ids = list(
            ctx.session.scalars(
                select(Account.id)
                .where(Account.tenant_id == tenant_id, Account.account_number.like("BULK%"))
                .order_by(Account.id)
            )
        )
        for start in range(0, count, BATCH):
            numbers = range(start, min(start + BATCH, count))
            ctx.session.execute(
                insert(cast(Table, Invoice.__table__)),
                [
                    {
                        "tenant_id": tenant_id,
                        "account_id": account_ids[n // PER_ACCOUNT],
                        "invoice_number": f"BINV{n:08d}",
                        "status": "Posted",
                        "invoice_date": date(2026, 1, 1),
                        "due_date": date(2026, 1, 31),
                        "target_date": date(2026, 1, 1),
                        "currency": "USD",
                        "amount_minor": amount_minor,
                        "tax_amount_minor": 0,
                        "source": "API",
                        "posted_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in numbers
                ],
            )
        invoice_ids = list(
            ctx.session.scalars(
                select(Invoice.id)
                .where(Invoice.tenant_id == tenant_id, Invoice.invoice_number.like("BINV%"))
                .order_by(Invoice.id)
            )
        )
        for start in range(0, count, BATCH):
            ctx.session.execute(
                insert(cast(Table, InvoiceItem.__table__)),
                [
                    {
                        "tenant_id": tenant_id,
                        "invoice_id": invoice_ids[n],
                        "subscription_id": charge.subscription_id,
                        "subscription_charge_id": charge.id,
                        "charge_name": charge.name,
                        "charge_type": "Recurring",
                        "service_start": day0 + timedelta(days=n),
                        "service_end": day0 + timedelta(days=n + 1),
                        "quantity": Decimal(1),
                        "unit_price": Decimal(amount_minor) / 100,
                        "amount_minor": amount_minor,
                        "is_credit": False,
                        "voided": False,
                    }
                    for n in range(start, min(start + BATCH, count))
                ],
            )
    return invoice_ids
