"""The test-side handle on one tenant's API: a client plus that tenant's credentials."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from billcycle.tenancy.service import NewTenant


@dataclass
class Api:
    """An httpx-based client bound to one tenant."""

    client: TestClient
    tenant: NewTenant
    token: str

    @property
    def zuora_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def fusebill_headers(self) -> dict[str, str]:
        return {"Authorization": f"Basic {self.tenant.api_key}"}


def api_for(client: TestClient, tenant: NewTenant) -> Api:
    """Log ``tenant`` in through the Zuora OAuth endpoint, as a client would."""
    response = client.post(
        "/zuora/oauth/token",
        data={
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "grant_type": "client_credentials",
        },
    )
    assert response.status_code == 200, response.text
    return Api(client=client, tenant=tenant, token=response.json()["access_token"])
