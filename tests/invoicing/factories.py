"""Test data for invoices after generation, written directly as model rows.

Invoices and their items are built here rather than generated, so these tests depend on
neither rating nor the catalog, account and subscription services. Watermarks are moved
the way generation moves them: to the end of the billed periods, or, for a credit, back
to where the credited span begins.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billcycle.accounts.models import Account
from billcycle.catalog.models import Product, ProductRatePlan, ProductRatePlanCharge
from billcycle.context import ServiceContext
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.money import to_minor
from billcycle.subscriptions.models import (
    Subscription,
    SubscriptionCharge,
    SubscriptionRatePlan,
)
from billcycle.tenancy.numbers import next_number


def make_account(
    ctx: ServiceContext,
    *,
    currency: str = "USD",
    payment_term: str = "Net 30",
    name: str = "Acme",
    auto_pay: bool = False,
) -> Account:
    now = ctx.clock.now()
    account = Account(
        tenant_id=ctx.tenant_id,
        account_number=next_number(ctx.session, ctx.tenant_id, "account"),
        name=name,
        currency=currency,
        bill_cycle_day=1,
        batch=1,
        payment_term=payment_term,
        auto_pay=auto_pay,
        status="Active",
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(account)
    ctx.session.flush()
    return account


def make_catalog_charge(
    ctx: ServiceContext, *, name: str = "Monthly fee", charge_type: str = "Recurring"
) -> ProductRatePlanCharge:
    now = ctx.clock.now()
    product = Product(
        tenant_id=ctx.tenant_id,
        name="Gold",
        sku=f"SKU-GOLD-{uuid.uuid4().hex[:8].upper()}",
        effective_start_date=date(2020, 1, 1),
        effective_end_date=date(2099, 1, 1),
        created_at=now,
        updated_at=now,
    )
    plan = ProductRatePlan(
        tenant_id=ctx.tenant_id, name="Gold monthly", created_at=now, updated_at=now
    )
    charge = ProductRatePlanCharge(
        tenant_id=ctx.tenant_id,
        name=name,
        charge_type=charge_type,
        charge_model="Flat Fee Pricing",
        billing_period="Month",
        billing_timing="IN_ADVANCE",
        bill_cycle_type="DefaultFromCustomer",
        trigger_event="ContractEffective",
        uom=None,
        created_at=now,
        updated_at=now,
    )
    plan.charges.append(charge)
    product.rate_plans.append(plan)
    ctx.session.add(product)
    ctx.session.flush()
    return charge


@dataclass
class Billed:
    """A subscription with one charge segment, ready to be put on invoices."""

    account: Account
    subscription: Subscription
    charge: SubscriptionCharge


def make_subscription(
    ctx: ServiceContext,
    account: Account,
    *,
    start: date = date(2026, 1, 1),
    price: Decimal = Decimal("100"),
    charge_type: str = "Recurring",
    catalog_charge: ProductRatePlanCharge | None = None,
) -> Billed:
    now = ctx.clock.now()
    catalog = catalog_charge or make_catalog_charge(ctx, charge_type=charge_type)
    plan = catalog.rate_plan
    subscription = Subscription(
        tenant_id=ctx.tenant_id,
        account_id=account.id,
        subscription_number=next_number(ctx.session, ctx.tenant_id, "subscription"),
        status="Active",
        term_type="EVERGREEN",
        initial_term_period_type="Month",
        renewal_term_period_type="Month",
        current_term_period_type="Month",
        auto_renew=False,
        renewal_setting="RENEW_WITH_SPECIFIC_TERM",
        contract_effective_date=start,
        subscription_start_date=start,
        term_start_date=start,
        created_at=now,
        updated_at=now,
    )
    rate_plan = SubscriptionRatePlan(
        tenant_id=ctx.tenant_id,
        product_id=plan.product_id,
        product_rate_plan_id=plan.id,
        name=plan.name,
        product_name="Gold",
        product_sku="SKU-GOLD",
        created_at=now,
        updated_at=now,
    )
    subscription.rate_plans.append(rate_plan)
    ctx.session.add(subscription)
    ctx.session.flush()
    charge = make_charge_segment(ctx, subscription, rate_plan, catalog, start=start, price=price)
    return Billed(account=account, subscription=subscription, charge=charge)


def make_charge_segment(
    ctx: ServiceContext,
    subscription: Subscription,
    rate_plan: SubscriptionRatePlan,
    catalog: ProductRatePlanCharge,
    *,
    start: date,
    price: Decimal,
    end: date | None = None,
    segment: int = 1,
    charge_number: str | None = None,
) -> SubscriptionCharge:
    now = ctx.clock.now()
    charge = SubscriptionCharge(
        tenant_id=ctx.tenant_id,
        subscription_rate_plan_id=rate_plan.id,
        subscription_id=subscription.id,
        account_id=subscription.account_id,
        product_rate_plan_charge_id=catalog.id,
        charge_number=charge_number or next_number(ctx.session, ctx.tenant_id, "charge"),
        segment=segment,
        name=catalog.name,
        description="Gold plan, billed monthly",
        charge_type=catalog.charge_type,
        charge_model=catalog.charge_model,
        billing_period="Month",
        billing_timing="IN_ADVANCE",
        bill_cycle_type="DefaultFromCustomer",
        trigger_event="ContractEffective",
        currency="USD",
        quantity=Decimal(1),
        price=price,
        uom="Each",
        effective_start_date=start,
        effective_end_date=end,
    )
    charge.created_at = now
    charge.updated_at = now
    ctx.session.add(charge)
    ctx.session.flush()
    return charge


@dataclass(frozen=True)
class ItemSpec:
    charge: SubscriptionCharge
    start: date
    end: date  # exclusive
    amount: Decimal
    is_credit: bool = False
    quantity: Decimal = Decimal(1)


def make_invoice(
    ctx: ServiceContext,
    account: Account,
    items: list[ItemSpec],
    *,
    status: str = "Draft",
    invoice_date: date = date(2026, 1, 1),
    due_date: date | None = None,
    source: str = "BillRun",
    advance_watermarks: bool = True,
) -> Invoice:
    now = ctx.clock.now()
    currency = account.currency
    invoice = Invoice(
        tenant_id=ctx.tenant_id,
        account_id=account.id,
        invoice_number=next_number(ctx.session, ctx.tenant_id, "invoice"),
        status=status,
        invoice_date=invoice_date,
        due_date=due_date or invoice_date,
        target_date=invoice_date,
        currency=currency,
        amount_minor=sum(to_minor(spec.amount, currency) for spec in items),
        tax_amount_minor=0,
        source=source,
        posted_at=now if status == "Posted" else None,
        created_at=now,
        updated_at=now,
    )
    for spec in items:
        invoice.items.append(
            InvoiceItem(
                tenant_id=ctx.tenant_id,
                subscription_id=spec.charge.subscription_id,
                subscription_charge_id=spec.charge.id,
                charge_name=spec.charge.name,
                charge_type=spec.charge.charge_type,
                service_start=spec.start,
                service_end=spec.end,
                quantity=spec.quantity,
                unit_price=spec.charge.price or Decimal(0),
                amount_minor=to_minor(spec.amount, currency),
                is_credit=spec.is_credit,
                voided=False,
            )
        )
    ctx.session.add(invoice)
    ctx.session.flush()
    if status == "Posted":
        open_balances.add_posted_ids(ctx.session, ctx.tenant_id, [invoice.id])
    if advance_watermarks:
        for charge in {spec.charge.id: spec.charge for spec in items}.values():
            mine = [spec for spec in items if spec.charge.id == charge.id]
            credits = [spec.start for spec in mine if spec.is_credit]
            charge.billed_through = min(credits) if credits else max(spec.end for spec in mine)
            charge.last_billed_at = now
        ctx.session.flush()
    return invoice


def monthly(charge: SubscriptionCharge, start: date, amount: str = "100") -> ItemSpec:
    """One calendar month of ``charge`` starting on the first of ``start``'s month."""
    end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return ItemSpec(charge=charge, start=start, end=end, amount=Decimal(amount))
