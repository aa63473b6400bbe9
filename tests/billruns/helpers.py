"""Shared set-up for bill-run tests: accounts with subscriptions, made through the API."""

from __future__ import annotations

from typing import Any

from billcycle.runtime import Runtime
from tests.subscriptions.factories import add_account, add_rate_plan, flat
from tests.support.api import Api

BILL_RUNS = "/zuora/v1/bill-runs"


def customers(
    api: Api,
    runtime: Runtime,
    count: int,
    *,
    price: str = "30",
    bill_cycle_day: int = 1,
    batch: int = 1,
    start: str = "2026-01-01",
) -> list[tuple[int, str]]:
    """``count`` Active accounts, each with one monthly subscription; (id, number) pairs."""
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        plan = add_rate_plan(ctx.session, tenant_id, flat(price))
        accounts = []
        for _ in range(count):
            account = add_account(ctx.session, tenant_id, bill_cycle_day=bill_cycle_day)
            account.batch = batch
            accounts.append((account.id, account.account_number))
    for _, number in accounts:
        response = api.client.post(
            "/zuora/v1/subscriptions",
            json={
                "accountKey": number,
                "contractEffectiveDate": start,
                "termType": "EVERGREEN",
                "subscribeToRatePlans": [{"productRatePlanId": plan.rate_plan_key}],
            },
            headers=api.zuora_headers,
        )
        assert response.status_code == 200, response.text
    return accounts


def create_run(api: Api, **body: Any) -> dict[str, Any]:
    payload = {"batches": ["AllBatches"], "targetDate": "2026-02-01", **body}
    response = api.client.post(BILL_RUNS, json=payload, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def get_run(api: Api, run_id: str) -> dict[str, Any]:
    response = api.client.get(f"{BILL_RUNS}/{run_id}", headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    message: str = body["reasons"][0]["message"]
    return message
