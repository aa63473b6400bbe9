"""Helpers for collections tests: an auto-pay customer billed by a real bill run, the
scheduler's daily tick on a moving business clock, and reads of the dunning state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import select

from billcycle.accounts.models import Contact
from billcycle.clock import FrozenClock
from billcycle.collections import events, policy
from billcycle.collections import repository as collections_repo
from billcycle.collections.inputs import PolicyChanges
from billcycle.collections.statuses import AccountStanding
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.payments import service as payments
from billcycle.payments.inputs import InvoiceApplication, NewPayment
from billcycle.payments.models import Payment
from billcycle.runtime import Runtime
from billcycle.subscriptions.models import Subscription
from tests.billruns.helpers import create_run, customers
from tests.support.api import Api


@dataclass(frozen=True)
class Customer:
    account_id: int
    account_number: str
    invoice_id: int
    due_date: date


def dunning_customer(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> Customer:
    """An auto-pay account with a $30 monthly subscription (BCD 1, from 2026-01-01), a bill-to
    email, and January's invoice posted by a bill run on 2026-01-10 (Net 30); the tenant
    has dunning turned on."""
    ((account_id, number),) = customers(api, runtime, 1, price="30")
    tenant_id = api.tenant.tenant_id
    enable_dunning(runtime, tenant_id)
    with runtime.service_context(tenant_id) as ctx:
        from billcycle.accounts import service as accounts

        account = accounts.require_account(ctx, account_id)
        account.auto_pay = True
        now = ctx.clock.now()
        contact = Contact(
            tenant_id=tenant_id,
            account_id=account_id,
            first_name="Ada",
            last_name="Payer",
            work_email="ada@example.com",
            created_at=now,
            updated_at=now,
        )
        ctx.session.add(contact)
        ctx.session.flush()
        account.bill_to_contact_id = contact.id
    create_run(api, targetDate="2026-01-10", autoPost=True)
    jobs.run_until_idle()
    with runtime.service_context(tenant_id) as ctx:
        invoice = ctx.session.scalars(
            select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.account_id == account_id)
        ).one()
        assert invoice.status == "Posted"
        return Customer(account_id, number, invoice.id, invoice.due_date)


def enable_dunning(runtime: Runtime, tenant_id: int) -> None:
    with runtime.service_context(tenant_id) as ctx:
        policy.set_policy(ctx, PolicyChanges(dunning_enabled=True))


def move_to(clock: FrozenClock, jobs: ManualDispatcher, day: date, hour: int = 6) -> None:
    """Set business time to ``day`` and let the scheduler tick (what production does)."""
    clock.set(datetime.combine(day, time(hour), tzinfo=UTC))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()


@dataclass(frozen=True)
class State:
    standing: AccountStanding
    suspended_on: date | None
    subscription_statuses: list[str]


def state(runtime: Runtime, tenant_id: int, account_id: int) -> State:
    with runtime.service_context(tenant_id) as ctx:
        row = collections_repo.get_account_row(ctx.session, tenant_id, account_id)
        statuses = list(
            ctx.session.scalars(
                select(Subscription.status)
                .where(Subscription.tenant_id == tenant_id, Subscription.account_id == account_id)
                .order_by(Subscription.id)
            )
        )
        return State(policy.shown_standing(row), row.suspended_on if row else None, statuses)


def event_types(runtime: Runtime, tenant_id: int, account_id: int) -> list[tuple[str, date]]:
    with runtime.service_context(tenant_id) as ctx:
        return [
            (event.event_type, event.business_date)
            for event in events.account_events(ctx, account_id, limit=1000)
        ]


def pay_invoice(runtime: Runtime, tenant_id: int, customer: Customer, amount: str) -> Payment:
    """An External payment applied to the customer's invoice."""
    with runtime.service_context(tenant_id) as ctx:
        return payments.create_payment(
            ctx,
            NewPayment(
                account_id=customer.account_id,
                amount=Decimal(amount),
                currency="USD",
                invoices=(InvoiceApplication(customer.invoice_id, Decimal(amount)),),
            ),
        )


def billed_periods(runtime: Runtime, tenant_id: int, account_id: int) -> list[tuple[date, bool]]:
    """(service start, is credit) of every live invoice item of the account."""
    with runtime.service_context(tenant_id) as ctx:
        rows = ctx.session.execute(
            select(InvoiceItem.service_start, InvoiceItem.is_credit)
            .join(Invoice, Invoice.id == InvoiceItem.invoice_id)
            .where(
                Invoice.tenant_id == tenant_id,
                Invoice.account_id == account_id,
                InvoiceItem.voided.is_(False),
            )
            .order_by(InvoiceItem.service_start, InvoiceItem.id)
        ).all()
    return [(start, bool(credit)) for start, credit in rows]
