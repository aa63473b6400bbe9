"""Posted invoices built through the services and the Zuora API, for the email tests."""

from __future__ import annotations

from datetime import date

from billcycle.accounts.inputs import AccountChanges, ContactChanges
from billcycle.accounts.service import require_account, update_account
from billcycle.invoicing.generator import GenerationOptions, generate_invoices
from billcycle.invoicing.service import post_invoices
from billcycle.runtime import Runtime
from tests.subscriptions.factories import ChargeSpec, add_account, add_rate_plan, flat
from tests.support.api import Api


def subscribe(api: Api, account_number: str, rate_plan_key: str) -> None:
    response = api.client.post(
        "/zuora/v1/subscriptions",
        json={
            "accountKey": account_number,
            "contractEffectiveDate": "2026-01-15",
            "termType": "EVERGREEN",
            "subscribeToRatePlans": [{"productRatePlanId": rate_plan_key}],
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text


def invoice_for(
    api: Api,
    runtime: Runtime,
    *,
    charge: ChargeSpec | None = None,
    work_email: str | None = "jane@example.com",
    personal_email: str | None = None,
    wants_email: bool = True,
    post: bool = True,
    target: date = date(2026, 2, 1),
) -> int:
    """A new account (bill-to Jane Doe) subscribed from 2026-01-15 to ``charge`` (30/month
    by default), invoiced up to ``target`` and, unless ``post=False``, posted."""
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        account = add_account(ctx.session, tenant_id)
        plan = add_rate_plan(
            ctx.session, tenant_id, charge or flat("30"), sku=f"SKU-{account.account_number}"
        )
        update_account(
            ctx,
            require_account(ctx, account.id),
            AccountChanges(
                invoice_delivery_prefs_email=wants_email,
                bill_to_contact=ContactChanges(
                    first_name="Jane",
                    last_name="Doe",
                    work_email=work_email,
                    personal_email=personal_email,
                ),
            ),
        )
    subscribe(api, account.account_number, plan.rate_plan_key)
    with runtime.service_context(tenant_id) as ctx:
        result = generate_invoices(
            ctx, [account.id], GenerationOptions(target_date=target, invoice_date=target)
        )
        assert result.failures == {}
        assert len(result.invoice_ids) == 1
        invoice_id = result.invoice_ids[0]
        if post:
            assert post_invoices(ctx, [invoice_id]) == [invoice_id]
    return invoice_id
