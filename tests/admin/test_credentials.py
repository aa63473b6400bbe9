"""A tenant's OAuth clients and API keys: made, listed, rotated and deleted through the
admin API, and accepted or refused accordingly by the dialects themselves."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.admin.probes import assert_problem, fusebill_key_works, zuora_token

TENANTS = "/billcycle/v1/tenants"


@pytest.fixture
def tenant(admin: TestClient) -> dict[str, Any]:
    response = admin.post(TENANTS, json={"name": "Credentials"})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def all_pages(admin: TestClient, url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url is not None:
        response = admin.get(next_url)
        assert response.status_code == 200, response.text
        items.extend(response.json()["data"])
        next_url = response.json()["next"]
    return items


# OAuth clients


def test_clients_are_created_listed_and_each_works(
    admin: TestClient, tenant: dict[str, Any]
) -> None:
    url = f"{TENANTS}/{tenant['id']}/oauth-clients"
    made = [admin.post(url) for _ in range(3)]
    for response in made:
        assert response.status_code == 201, response.text
        assert response.headers["location"] == f"{url}/{response.json()['id']}"
    first = tenant["credentials"]
    clients = [response.json() for response in made]

    listed = all_pages(admin, f"{url}?limit=2")
    assert [c["client_id"] for c in listed] == [first["client_id"]] + [
        c["client_id"] for c in clients
    ]
    assert all(set(c) == {"id", "tenant_id", "client_id", "created_at"} for c in listed)
    # Every active client of the tenant gets tokens.
    assert zuora_token(admin, first["client_id"], first["client_secret"]) == 200
    for client in clients:
        assert client["tenant_id"] == tenant["id"]
        assert zuora_token(admin, client["client_id"], client["client_secret"]) == 200
    got = admin.get(f"{url}/{clients[0]['id']}")
    assert got.json() == {k: v for k, v in clients[0].items() if k != "client_secret"}


def test_a_rotated_secret_is_refused_and_the_new_one_works(
    admin: TestClient, tenant: dict[str, Any]
) -> None:
    url = f"{TENANTS}/{tenant['id']}/oauth-clients"
    client = admin.post(url).json()
    rotated = admin.post(f"{url}/{client['id']}/rotate")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["client_id"] == client["client_id"]
    assert new["client_secret"] != client["client_secret"]
    assert zuora_token(admin, client["client_id"], client["client_secret"]) == 401
    assert zuora_token(admin, new["client_id"], new["client_secret"]) == 200
    # The tenant's other client is untouched.
    first = tenant["credentials"]
    assert zuora_token(admin, first["client_id"], first["client_secret"]) == 200


def test_a_deleted_client_is_refused(admin: TestClient, tenant: dict[str, Any]) -> None:
    url = f"{TENANTS}/{tenant['id']}/oauth-clients"
    client = admin.post(url).json()
    assert admin.delete(f"{url}/{client['id']}").status_code == 204
    assert zuora_token(admin, client["client_id"], client["client_secret"]) == 401
    assert_problem(admin.get(f"{url}/{client['id']}"), 404)
    assert_problem(admin.delete(f"{url}/{client['id']}"), 404)
    assert_problem(admin.post(f"{url}/{client['id']}/rotate"), 404)
    first = tenant["credentials"]
    assert zuora_token(admin, first["client_id"], first["client_secret"]) == 200


# API keys


def test_keys_are_created_listed_and_each_works(admin: TestClient, tenant: dict[str, Any]) -> None:
    url = f"{TENANTS}/{tenant['id']}/api-keys"
    made = [admin.post(url) for _ in range(2)]
    for response in made:
        assert response.status_code == 201, response.text
        assert response.headers["location"] == f"{url}/{response.json()['id']}"
    keys = [response.json() for response in made]
    listed = all_pages(admin, f"{url}?limit=1")
    assert len(listed) == 3
    assert [k["id"] for k in listed] == sorted(k["id"] for k in listed)
    assert all(set(k) == {"id", "tenant_id", "key_prefix", "created_at"} for k in listed)
    assert fusebill_key_works(admin, tenant["credentials"]["api_key"])
    for key in keys:
        assert key["api_key"].startswith(key["key_prefix"])
        assert fusebill_key_works(admin, key["api_key"])
    got = admin.get(f"{url}/{keys[1]['id']}")
    assert got.json() == {k: v for k, v in keys[1].items() if k != "api_key"}


def test_a_rotated_key_is_refused_and_the_new_one_works(
    admin: TestClient, tenant: dict[str, Any]
) -> None:
    url = f"{TENANTS}/{tenant['id']}/api-keys"
    key = admin.post(url).json()
    rotated = admin.post(f"{url}/{key['id']}/rotate")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["id"] == key["id"]
    assert new["api_key"] != key["api_key"]
    assert not fusebill_key_works(admin, key["api_key"])
    assert fusebill_key_works(admin, new["api_key"])
    assert fusebill_key_works(admin, tenant["credentials"]["api_key"])


def test_a_deleted_key_is_refused(admin: TestClient, tenant: dict[str, Any]) -> None:
    url = f"{TENANTS}/{tenant['id']}/api-keys"
    key = admin.post(url).json()
    assert admin.delete(f"{url}/{key['id']}").status_code == 204
    assert not fusebill_key_works(admin, key["api_key"])
    assert_problem(admin.get(f"{url}/{key['id']}"), 404)
    assert fusebill_key_works(admin, tenant["credentials"]["api_key"])


# Tenancy of credentials


@pytest.mark.parametrize("kind", ["oauth-clients", "api-keys"])
def test_another_tenants_credential_is_not_found_and_untouched(
    admin: TestClient, tenant: dict[str, Any], kind: str
) -> None:
    other = admin.post(TENANTS, json={"name": "Other"}).json()
    theirs = admin.post(f"{TENANTS}/{other['id']}/{kind}").json()
    wrong = f"{TENANTS}/{tenant['id']}/{kind}/{theirs['id']}"
    body = assert_problem(admin.get(wrong), 404)
    assert f"of tenant {tenant['id']} does not exist" in body["detail"]
    assert_problem(admin.post(f"{wrong}/rotate"), 404)
    assert_problem(admin.delete(wrong), 404)
    assert admin.get(f"{TENANTS}/{other['id']}/{kind}/{theirs['id']}").status_code == 200
    if kind == "oauth-clients":
        assert zuora_token(admin, theirs["client_id"], theirs["client_secret"]) == 200
    else:
        assert fusebill_key_works(admin, theirs["api_key"])
    ids = [item["id"] for item in admin.get(f"{TENANTS}/{tenant['id']}/{kind}").json()["data"]]
    assert theirs["id"] not in ids


@pytest.mark.parametrize("kind", ["oauth-clients", "api-keys"])
def test_credentials_of_an_unknown_tenant(admin: TestClient, kind: str) -> None:
    for response in (
        admin.get(f"{TENANTS}/999999999/{kind}"),
        admin.post(f"{TENANTS}/999999999/{kind}"),
        admin.get(f"{TENANTS}/999999999/{kind}/1"),
    ):
        body = assert_problem(response, 404)
        assert body["detail"] == "Tenant 999999999 does not exist."
