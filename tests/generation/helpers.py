"""Data made through the public API for the generation tests (and others that need a
subscription made the way a client makes one)."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api


def subscribe(api: Api, account_number: str, rate_plan_key: str, **body: Any) -> str:
    payload = {
        "accountKey": account_number,
        "contractEffectiveDate": "2026-01-15",
        "termType": "EVERGREEN",
        "subscribeToRatePlans": [{"productRatePlanId": rate_plan_key}],
        **body,
    }
    response = api.client.post("/zuora/v1/subscriptions", json=payload, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    number: str = response.json()["subscriptionNumber"]
    return number
