"""An operator makes a hosted card page link for one account; it opens the page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.paymentmethods.helpers import account


def test_an_operator_makes_a_link_that_opens_the_accounts_card_page(
    admin: TestClient, runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
    made = admin.post(f"/billcycle/v1/tenants/{tenant.tenant_id}/accounts/{acct.id}/card-link")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["url"].startswith(runtime.settings.public_url + "/pay/card/")
    assert body["expires_at"]
    page = admin.get(body["url"].removeprefix(runtime.settings.public_url))
    assert page.status_code == 200
    assert acct.account_number in page.text


def test_another_tenants_account_gets_no_link(
    admin: TestClient, runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        acct = account(ctx)
    made = admin.post(
        f"/billcycle/v1/tenants/{other_tenant.tenant_id}/accounts/{acct.id}/card-link"
    )
    assert made.status_code == 404
    assert made.headers["content-type"].startswith("application/problem+json")
