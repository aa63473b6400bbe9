"""Test data for accounts: request bodies, and rows of the features that do not have
services yet (invoices, ledger entries, subscriptions), written straight to the tables."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from billcycle.accounts import service
from billcycle.accounts.inputs import ContactInput, NewAccount
from billcycle.accounts.models import Account
from billcycle.catalog.models import Product, ProductRatePlan, ProductRatePlanCharge
from billcycle.context import ServiceContext
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.ledger.models import LedgerEntry
from billcycle.subscriptions.models import (
    Subscription,
    SubscriptionCharge,
    SubscriptionChargeTier,
    SubscriptionRatePlan,
)


def account_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Acme Corp",
        "currency": "USD",
        "billCycleDay": 1,
        "billToContact": {
            "firstName": "Ada",
            "lastName": "Lovelace",
            "workEmail": "ada@example.com",
            "address1": "1 Main St",
            "city": "San Francisco",
            "state": "CA",
            "zipCode": "94105",
            "country": "US",
        },
    }
    body.update(overrides)
    return body


def new_account(ctx: ServiceContext, **overrides: Any) -> Account:
    fields: dict[str, Any] = {
        "name": "Acme Corp",
        "currency": "USD",
        "bill_cycle_day": 1,
        "bill_to_contact": ContactInput(first_name="Ada", last_name="Lovelace"),
    }
    fields.update(overrides)
    return service.create_account(ctx, NewAccount(**fields))


_invoice_counter = iter(range(1, 1_000_000))


def add_invoice(
    ctx: ServiceContext,
    account: Account,
    *,
    amount_minor: int,
    status: str = "Posted",
    invoice_date: date = date(2026, 1, 1),
) -> Invoice:
    now = ctx.clock.now()
    invoice = Invoice(
        tenant_id=ctx.tenant_id,
        account_id=account.id,
        invoice_number=f"INV-T{next(_invoice_counter):07d}",
        status=status,
        invoice_date=invoice_date,
        due_date=invoice_date,
        target_date=invoice_date,
        currency=account.currency,
        amount_minor=amount_minor,
        source="API",
        posted_at=now if status == "Posted" else None,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(invoice)
    ctx.session.flush()
    return invoice


def apply_to_invoice(
    ctx: ServiceContext, invoice: Invoice, amount_minor: int, entry_type: str = "WriteOff"
) -> LedgerEntry:
    entry = LedgerEntry(
        tenant_id=ctx.tenant_id,
        account_id=invoice.account_id,
        invoice_id=invoice.id,
        entry_type=entry_type,
        amount_minor=amount_minor,
        currency=invoice.currency,
        effective_date=invoice.invoice_date,
        source="API",
        created_at=ctx.clock.now(),
    )
    ctx.session.add(entry)
    ctx.session.flush()
    return entry


_subscription_counter = iter(range(1, 1_000_000))


def add_subscription(
    ctx: ServiceContext,
    account: Account,
    *,
    status: str = "Active",
    start: date = date(2026, 1, 1),
    with_invoice_item_on: Invoice | None = None,
) -> Subscription:
    """A one-plan, one-charge subscription (catalog rows included)."""
    now = ctx.clock.now()
    n = next(_subscription_counter)
    stamps = {"tenant_id": ctx.tenant_id, "created_at": now, "updated_at": now}
    product = Product(
        name="Gold",
        sku=f"SKU-{n}",
        effective_start_date=date(2020, 1, 1),
        effective_end_date=date(2099, 1, 1),
        **stamps,
    )
    ctx.session.add(product)
    ctx.session.flush()
    plan = ProductRatePlan(product_id=product.id, name="Gold Monthly", **stamps)
    ctx.session.add(plan)
    ctx.session.flush()
    charge = ProductRatePlanCharge(
        product_rate_plan_id=plan.id,
        name="Fee",
        charge_type="Recurring",
        charge_model="FlatFee",
        billing_period="Month",
        billing_timing="InAdvance",
        bill_cycle_type="DefaultFromCustomer",
        trigger_event="ContractEffective",
        **stamps,
    )
    ctx.session.add(charge)
    ctx.session.flush()
    subscription = Subscription(
        account_id=account.id,
        subscription_number=f"A-ST{n:07d}",
        status=status,
        term_type="TERMED",
        initial_term=12,
        initial_term_period_type="Month",
        renewal_term=12,
        renewal_term_period_type="Month",
        current_term=12,
        current_term_period_type="Month",
        auto_renew=True,
        renewal_setting="RENEW_WITH_SPECIFIC_TERM",
        contract_effective_date=start,
        subscription_start_date=start,
        term_start_date=start,
        term_end_date=date(start.year + 1, start.month, start.day),
        **stamps,
    )
    ctx.session.add(subscription)
    ctx.session.flush()
    sub_plan = SubscriptionRatePlan(
        subscription_id=subscription.id,
        product_id=product.id,
        product_rate_plan_id=plan.id,
        name=plan.name,
        product_name=product.name,
        product_sku=product.sku,
        **stamps,
    )
    ctx.session.add(sub_plan)
    ctx.session.flush()
    sub_charge = SubscriptionCharge(
        subscription_rate_plan_id=sub_plan.id,
        subscription_id=subscription.id,
        account_id=account.id,
        product_rate_plan_charge_id=charge.id,
        charge_number=f"C-T{n:07d}",
        name="Fee",
        charge_type="Recurring",
        charge_model="Tiered",
        billing_period="Month",
        billing_timing="InAdvance",
        bill_cycle_type="DefaultFromCustomer",
        trigger_event="ContractEffective",
        currency=account.currency,
        quantity=Decimal(1),
        effective_start_date=start,
        **stamps,
    )
    ctx.session.add(sub_charge)
    ctx.session.flush()
    ctx.session.add(
        SubscriptionChargeTier(
            tenant_id=ctx.tenant_id,
            subscription_charge_id=sub_charge.id,
            tier=1,
            price=Decimal(10),
            price_format="FlatFee",
        )
    )
    if with_invoice_item_on is not None:
        ctx.session.add(
            InvoiceItem(
                tenant_id=ctx.tenant_id,
                invoice_id=with_invoice_item_on.id,
                subscription_id=subscription.id,
                subscription_charge_id=sub_charge.id,
                charge_name="Fee",
                charge_type="Recurring",
                service_start=start,
                service_end=start + timedelta(days=31),
                quantity=Decimal(1),
                unit_price=Decimal(10),
                amount_minor=1000,
            )
        )
    ctx.session.flush()
    return subscription
