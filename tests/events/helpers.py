"""Reading the outbox back through the admin API, every page."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def all_events(admin: TestClient, tenant_id: int, **params: Any) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = []
    url: str | None = f"/billcycle/v1/tenants/{tenant_id}/events"
    query: dict[str, Any] | None = {"limit": 100, **params}
    while url is not None:
        response = admin.get(url, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        shown.extend(body["data"])
        url, query = body["next"], None
    return shown
