"""The demo data `make run` serves is built through the services and is readable."""

from __future__ import annotations

from sqlalchemy import func, select

from billcycle.demo import has_demo_data, load_demo
from billcycle.invoicing.models import Invoice
from billcycle.runtime import Runtime
from tests.support.api import Api


def test_demo_data_loads_and_serves(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        assert not has_demo_data(ctx)
        summary = load_demo(ctx, accounts_count=12)
    assert summary.accounts == 12
    assert summary.subscriptions >= 12
    assert summary.invoices == 12
    with runtime.service_context(tenant_id) as ctx:
        assert has_demo_data(ctx)
        posted = ctx.session.scalar(
            select(func.count())
            .select_from(Invoice)
            .where(Invoice.tenant_id == tenant_id, Invoice.status == "Posted")
        )
    assert posted == 12
    response = api.client.get("/zuora/v1/accounts/A00000001", headers=api.zuora_headers)
    assert response.status_code == 200
    assert response.json()["metrics"]["balance"] > 0
    catalog = api.client.get("/zuora/v1/catalog/products", headers=api.zuora_headers).json()
    assert {p["name"] for p in catalog["products"]} == {"Cloud Platform", "Support"}
