"""Issue 12 audit: advancing a sandbox tenant's clock runs, besides bill runs, payment
runs and dunning (test_year.py, test_stepping.py), the subscription renewals and term
ends and the invoice emails that would have happened meanwhile. A monthly scheduled bill
run with ``autoRenewal``, ``autoPost`` and ``autoEmail``; one customer on a two-month
term that renews a month at a time, one on a two-month term that is left to end; five
months advanced in one call."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from billcycle.accounts.models import Account
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.notifications.models import InvoiceEmail
from billcycle.runtime import Runtime
from billcycle.subscriptions.models import Subscription
from billcycle.testclocks import service as clocks
from tests.subscriptions.factories import add_rate_plan, flat
from tests.support.api import Api
from tests.testclocks.helpers import sandbox, schedule_monthly_bill_runs


def _customer(api: Api, plan_key: str, name: str, *, auto_renew: bool) -> str:
    account = api.client.post(
        "/zuora/v1/accounts",
        json={
            "name": name,
            "currency": "USD",
            "billCycleDay": 1,
            "invoiceDeliveryPrefsEmail": True,
            "billToContact": {"firstName": "Pat", "lastName": name, "workEmail": f"{name}@x.io"},
        },
        headers=api.zuora_headers,
    )
    assert account.status_code == 200, account.text
    number: str = account.json()["accountNumber"]
    terms: dict[str, Any] = {
        "termType": "TERMED",
        "initialTerm": 2,
        "initialTermPeriodType": "Month",
        "autoRenew": auto_renew,
    }
    if auto_renew:
        terms |= {"renewalTerm": 1, "renewalTermPeriodType": "Month"}
    response = api.client.post(
        "/zuora/v1/subscriptions",
        json={
            "accountKey": number,
            "contractEffectiveDate": "2026-01-01",
            **terms,
            "subscribeToRatePlans": [{"productRatePlanId": plan_key}],
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    return number


def test_an_advance_renews_terms_ends_terms_and_emails_the_invoices(
    app: FastAPI, runtime: Runtime
) -> None:
    with TestClient(app) as client:
        api = sandbox(runtime, client, "advance-effects")
        t = api.tenant.tenant_id
        with runtime.service_context(t) as ctx:
            plan = add_rate_plan(ctx.session, t, flat("30"))
        renewing = _customer(api, plan.rate_plan_key, "renewing", auto_renew=True)
        ending = _customer(api, plan.rate_plan_key, "ending", auto_renew=False)
        schedule_monthly_bill_runs(api, auto_email=True, auto_renewal=True)

    done = clocks.advance_by(runtime, t, timedelta(days=150))  # Jan 10 -> Jun 9
    assert done.bill_runs == 5  # Feb 1 ... Jun 1

    with runtime.service_context(t) as ctx:
        s = ctx.session
        terms = dict(
            s.execute(
                select(Subscription.account_id, Subscription.term_end_date).where(
                    Subscription.tenant_id == t
                )
            ).all()
        )
        account_of = dict(
            s.execute(
                select(Account.account_number, Account.id).where(Account.tenant_id == t)
            ).all()
        )
        billed_through = dict(
            s.execute(
                select(Invoice.account_id, func.max(InvoiceItem.service_end))
                .join(Invoice, Invoice.id == InvoiceItem.invoice_id)
                .where(Invoice.tenant_id == t, Invoice.status == "Posted")
                .group_by(Invoice.account_id)
            ).all()
        )
        invoices = dict(
            s.execute(
                select(Invoice.account_id, func.count())
                .where(Invoice.tenant_id == t, Invoice.status == "Posted")
                .group_by(Invoice.account_id)
            ).all()
        )
        emailed = s.execute(
            select(Invoice.account_id, InvoiceEmail.recipient, InvoiceEmail.transport)
            .join(Invoice, Invoice.id == InvoiceEmail.invoice_id)
            .where(InvoiceEmail.tenant_id == t, InvoiceEmail.status == "Sent")
        ).all()
        unsent = s.scalar(
            select(func.count())
            .select_from(Invoice)
            .where(Invoice.tenant_id == t, Invoice.emailed_at.is_(None))
        )

    renewer, ender = account_of[renewing], account_of[ending]
    # Renewed a month at a time by each run, so its term always covers the run's target
    # date: June 1's run renewed it to July 1 and billed June in advance.
    assert terms[renewer] == date(2026, 7, 1)
    assert billed_through[renewer] == date(2026, 7, 1)
    assert invoices[renewer] == 5
    # Left to end: billed for its two-month term (January and February), then nothing.
    assert terms[ender] == date(2026, 3, 1)
    assert billed_through[ender] == date(2026, 3, 1)
    assert invoices[ender] == 1
    # Every posted invoice was emailed to its bill-to contact, through the outbox.
    assert unsent == 0
    assert sorted((a, r) for a, r, _ in emailed) == sorted(
        [(renewer, "renewing@x.io")] * 5 + [(ender, "ending@x.io")]
    )
    assert {transport for *_, transport in emailed} == {"outbox"}
    assert len(list(runtime.settings.outbox_dir.iterdir())) == 6
