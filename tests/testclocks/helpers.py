"""Sandbox tenants for the test-clock tests: customers on cards, a monthly scheduled bill
run that auto-posts, dunning on, and a snapshot of what a year of billing left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from billcycle.accounts.models import Account
from billcycle.billruns.models import BillRun
from billcycle.collections import policy
from billcycle.collections.inputs import PolicyChanges
from billcycle.collections.models import CollectionEvent
from billcycle.db.session import unit_of_work
from billcycle.invoicing.models import Invoice
from billcycle.paymentruns.models import PaymentRun
from billcycle.payments.models import Payment
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from tests.billruns.helpers import BILL_RUNS, customers
from tests.paymentruns.helpers import add_method, default_gateway, set_auto_pay
from tests.support.api import Api, api_for

GOOD, DECLINING = "tok_visa", "tok_chargeDeclined"


def sandbox(runtime: Runtime, client: TestClient, name: str) -> Api:
    with unit_of_work(runtime.session_factory) as session:
        tenant = create_tenant(session, runtime.clock, name, sandbox=True)
    return api_for(client, tenant)


@dataclass(frozen=True)
class Book:
    """A sandbox tenant set up for a year of billing: account ids by card token."""

    api: Api
    good: list[int]
    declining: list[int]


def year_of_billing(runtime: Runtime, api: Api) -> Book:
    """Three auto-pay customers on $30 monthly plans from 2026-01-01 (two good cards, one
    that declines), a bill run on the 1st of every month at 06:00 UTC that auto-posts,
    and dunning on: attempts 1, 3 and 5 days after the due date, failures never stop
    the retries, and the grace period outlasts the year (so the declining account stays
    in poor standing, billed every month)."""
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    accounts = [account_id for account_id, _ in customers(api, runtime, 3, price="30")]
    tokens = dict(zip(accounts, (GOOD, GOOD, DECLINING), strict=True))
    for account_id, token in tokens.items():
        set_auto_pay(runtime, t, account_id)
        add_method(runtime, t, account_id, token)
    with runtime.service_context(t) as ctx:
        policy.set_policy(
            ctx,
            PolicyChanges(
                dunning_enabled=True,
                attempt_days=(1, 3, 5),
                grace_days=400,
                max_consecutive_failures=100,
            ),
        )
    schedule_monthly_bill_runs(api)
    return Book(
        api,
        [a for a, token in tokens.items() if token == GOOD],
        [a for a, token in tokens.items() if token == DECLINING],
    )


def schedule_monthly_bill_runs(
    api: Api, *, auto_email: bool = False, auto_renewal: bool = False
) -> None:
    """A bill run of every account, auto-posted, on the 1st of each month at 06:00 from
    2026-02-01 (Zuora's scheduled bill runs); with ``autoEmail`` / ``autoRenewal`` when
    asked (sent only then, so the default request is Zuora's without them)."""
    flags = {"autoEmail": True} if auto_email else {}
    if auto_renewal:
        flags["autoRenewal"] = True
    response = api.client.post(
        BILL_RUNS,
        json={
            "batches": ["AllBatches"],
            "billCycleDay": "AllBillCycleDays",
            "targetDateOffset": 0,
            "invoiceDateOffset": 0,
            "autoPost": True,
            **flags,
            "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Monthly", "runTime": 6},
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text


def snapshot(runtime: Runtime, tenant_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """What billing left, keyed by what a person reads (numbers, dates, amounts,
    statuses), not by row ids, so two tenants' books can be compared."""
    with runtime.service_context(tenant_id) as ctx:
        s = ctx.session
        number = {
            a.id: a.account_number
            for a in s.scalars(select(Account).where(Account.tenant_id == tenant_id))
        }
        invoices = [
            (
                number[i.account_id],
                i.invoice_number,
                i.invoice_date,
                i.due_date,
                i.amount_minor,
                i.status,
                i.posted_at,
                i.emailed_at,
            )
            for i in s.scalars(
                select(Invoice).where(Invoice.tenant_id == tenant_id).order_by(Invoice.id)
            )
        ]
        payments = [
            (
                number[p.account_id],
                p.number,
                p.amount_minor,
                p.status,
                p.effective_date,
                p.submitted_at,
                p.settled_at,
            )
            for p in s.scalars(
                select(Payment).where(Payment.tenant_id == tenant_id).order_by(Payment.id)
            )
        ]
        bill_runs = [
            (
                r.bill_run_number,
                r.status,
                r.target_date,
                r.scheduled_execution_time,
                r.started_at,
                r.completed_at,
                r.posted_at,
            )
            for r in s.scalars(
                select(BillRun).where(BillRun.tenant_id == tenant_id).order_by(BillRun.id)
            )
        ]
        payment_runs = [
            (r.payment_run_number, r.status, r.target_date, r.executed_on, r.completed_on)
            for r in s.scalars(
                select(PaymentRun).where(PaymentRun.tenant_id == tenant_id).order_by(PaymentRun.id)
            )
        ]
        events = [
            (number[e.account_id], e.event_type, e.business_date)
            for e in s.scalars(
                select(CollectionEvent)
                .where(CollectionEvent.tenant_id == tenant_id)
                .order_by(CollectionEvent.id)
            )
        ]
    return {
        "invoices": invoices,
        "payments": payments,
        "bill_runs": bill_runs,
        "payment_runs": payment_runs,
        "events": events,
    }
