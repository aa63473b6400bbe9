"""Trying a credential where a tenant's client would use it: the Zuora token endpoint
and a Fusebill request."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def zuora_token(client: TestClient, client_id: str, client_secret: str) -> int:
    """The status of ``POST /zuora/oauth/token`` for these client credentials."""
    response = client.post(
        "/zuora/oauth/token",
        data={
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "client_credentials",
        },
    )
    return response.status_code


def token_for(client: TestClient, client_id: str, client_secret: str) -> str:
    response = client.post(
        "/zuora/oauth/token",
        data={
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "client_credentials",
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def fusebill_key_works(client: TestClient, api_key: str) -> bool:
    """A Fusebill read with this key: 404 (no such customer) once authenticated, 401 if
    the key is refused."""
    response = client.get(
        "/fusebill/v1/customers/999999999", headers={"Authorization": f"Basic {api_key}"}
    )
    assert response.status_code in (401, 404), response.text
    return response.status_code == 404


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with this status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["instance"] == response.request.url.path
    return body
