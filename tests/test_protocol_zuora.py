"""Zuora protocol basics shared by every route: envelope, headers, gzip, auth."""

from __future__ import annotations

import gzip
import json

from tests.support.api import Api


def test_token_and_request_ids(api: Api) -> None:
    response = api.client.post(
        "/zuora/oauth/token",
        data={
            "client_id": api.tenant.client_id,
            "client_secret": "wrong",
            "grant_type": "client_credentials",
        },
        headers={"Zuora-Track-Id": "track-123"},
    )
    assert response.status_code == 401
    body = response.json()
    assert body["success"] is False
    assert body["reasons"][0]["code"] % 100 == 11
    assert response.headers["zuora-track-id"] == "track-123"
    assert body["requestId"] == response.headers["zuora-request-id"]


def test_invalid_track_id_is_rejected(api: Api) -> None:
    for bad in ["a:b", "x" * 65, 'quo"te', "semi;colon"]:
        response = api.client.get(
            "/zuora/v1/accounts/A00000001", headers={**api.zuora_headers, "Zuora-Track-Id": bad}
        )
        assert response.status_code == 400, bad
        assert response.json()["reasons"][0]["code"] % 100 == 20


def test_missing_and_bad_tokens(api: Api) -> None:
    assert api.client.get("/zuora/v1/accounts/A00000001").status_code == 401
    response = api.client.get(
        "/zuora/v1/accounts/A00000001", headers={"Authorization": "Bearer nonsense"}
    )
    assert response.status_code == 401
    assert response.json()["success"] is False


def test_legacy_version_answers_200(api: Api) -> None:
    headers = {**api.zuora_headers, "Zuora-Version": "2023-01-01"}
    response = api.client.get("/zuora/v1/accounts/A99999999", headers=headers)
    assert response.status_code == 200
    assert response.json()["success"] is False
    headers["Zuora-Version"] = "2025-08-20"
    assert api.client.get("/zuora/v1/accounts/A99999999", headers=headers).status_code == 404
    headers["Zuora-Version"] = "not-a-version"
    assert api.client.get("/zuora/v1/accounts/A99999999", headers=headers).status_code == 400


def test_gzip_bomb_answers_413(api: Api) -> None:
    bomb = gzip.compress(b"{" + b" " * (50 * 1024 * 1024) + b"}")
    assert len(bomb) < 100_000
    response = api.client.post(
        "/zuora/v1/accounts",
        content=bomb,
        headers={
            **api.zuora_headers,
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 413
    assert response.json()["success"] is False


def test_corrupt_gzip_answers_400(api: Api) -> None:
    response = api.client.post(
        "/zuora/v1/accounts",
        content=b"\x1f\x8b\x08garbage",
        headers={
            **api.zuora_headers,
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400


def test_gzip_request_body_is_accepted(api: Api) -> None:
    body = gzip.compress(
        json.dumps(
            {
                "name": "Gzip Co",
                "currency": "USD",
                "billCycleDay": 1,
                "billToContact": {"firstName": "A", "lastName": "B"},
            }
        ).encode()
    )
    response = api.client.post(
        "/zuora/v1/accounts",
        content=body,
        headers={
            **api.zuora_headers,
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True


def test_docs_are_served(api: Api) -> None:
    assert api.client.get("/zuora/docs").status_code == 200
    spec = api.client.get("/zuora/openapi.json").json()
    assert "/oauth/token" in spec["paths"]


def test_expired_token_is_refused(app: object, tenant: object, runtime: object) -> None:
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from billcycle.tenancy.tokens import TokenSigner

    signer: TokenSigner = app.state.token_signer  # type: ignore[attr-defined]
    short = TokenSigner(signer._key, 60)
    token = short.issue(tenant.tenant_id, tenant.client_id, runtime.machine_clock.now())  # type: ignore[attr-defined]
    with TestClient(app) as client:  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {token.token}"}
        assert client.get("/zuora/v1/catalog/products", headers=headers).status_code == 200
        runtime.machine_clock.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
        response = client.get("/zuora/v1/catalog/products", headers=headers)
        assert response.status_code == 401
        assert "expired" in response.json()["reasons"][0]["message"]
