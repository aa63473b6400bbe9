"""A posted run's invoices reach the customers' inboxes (a real SMTP server), once."""

from __future__ import annotations

from typing import Any

from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.billruns.helpers import BILL_RUNS, create_run, get_run
from tests.subscriptions.factories import add_rate_plan, flat
from tests.support.api import Api


def email_customers(api: Api, runtime: Runtime, count: int) -> list[str]:
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        plan = add_rate_plan(ctx.session, tenant_id, flat("25"))
    emails = []
    for index in range(count):
        email = f"customer{index}@example.com"
        account = api.client.post(
            "/zuora/v1/accounts",
            json={
                "name": f"Customer {index}",
                "currency": "USD",
                "billCycleDay": 1,
                "invoiceDeliveryPrefsEmail": True,
                "billToContact": {
                    "firstName": "Pat",
                    "lastName": f"Doe{index}",
                    "workEmail": email,
                },
            },
            headers=api.zuora_headers,
        )
        assert account.status_code == 200, account.text
        response = api.client.post(
            "/zuora/v1/subscriptions",
            json={
                "accountKey": account.json()["accountNumber"],
                "contractEffectiveDate": "2026-01-01",
                "termType": "EVERGREEN",
                "subscribeToRatePlans": [{"productRatePlanId": plan.rate_plan_key}],
            },
            headers=api.zuora_headers,
        )
        assert response.status_code == 200, response.text
        emails.append(email)
    return emails


def test_posted_run_emails_arrive_once(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, smtp_server: Any
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"smtp_url": smtp_server.url})
    emails = email_customers(api, runtime, 3)
    run = create_run(api, autoPost=True, autoEmail=True)
    jobs.run_until_idle()
    assert get_run(api, run["id"])["status"] == "Posted"
    received = smtp_server.received
    assert sorted(r for message in received for r in message.rcpt_tos) == sorted(emails)
    for message in received:
        parsed = message.message
        assert str(parsed["Subject"]).startswith("Invoice INV")
        assert {p.get_content_type() for p in parsed.walk()} >= {"text/plain", "text/html"}

    # The emails endpoint with resend=false sends nothing new; resend=true sends again.
    url = f"{BILL_RUNS}/{run['billRunNumber']}/emails"
    assert api.client.post(url, json={"resend": False}, headers=api.zuora_headers).json() == {
        "success": True
    }
    jobs.run_until_idle()
    assert len(smtp_server.received) == 3
    api.client.post(url, json={"resend": True}, headers=api.zuora_headers)
    jobs.run_until_idle()
    assert len(smtp_server.received) == 6


def test_zero_amount_invoices_can_be_left_out(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, smtp_server: Any
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"smtp_url": smtp_server.url})
    email_customers(api, runtime, 1)
    first = create_run(api, autoPost=True)
    jobs.run_until_idle()
    # A run that bills nothing new has no invoices; email only what was posted.
    response = api.client.post(
        f"{BILL_RUNS}/{first['id']}/emails", json={}, headers=api.zuora_headers
    )
    assert response.status_code == 200
    jobs.run_until_idle()
    assert len(smtp_server.received) == 1
