"""Tenants through the admin API: create, list (keyset pages), get, update, delete."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from billcycle.admin.paging import encode_cursor
from tests.accounts.factories import account_body
from tests.admin.probes import assert_problem, fusebill_key_works, token_for, zuora_token
from tests.catalog.factories import product_body

TENANTS = "/billcycle/v1/tenants"


def create(admin: TestClient, **body: Any) -> dict[str, Any]:
    response = admin.post(TENANTS, json={"name": "Acme", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_create_returns_the_tenant_and_working_credentials(admin: TestClient) -> None:
    response = admin.post(
        TENANTS, json={"name": "  Acme  ", "bulk_jobs_enabled": True, "bulk_job_record_limit": 50}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{TENANTS}/{body['id']}"
    assert body["name"] == "Acme"
    assert body["bulk_jobs_enabled"] is True
    assert body["bulk_job_record_limit"] == 50
    assert body["entity_id"] == f"{body['id']:032x}"
    assert body["created_at"] == "2026-01-10T09:00:00Z"
    credentials = body["credentials"]
    assert set(credentials) == {"client_id", "client_secret", "api_key"}
    assert zuora_token(admin, credentials["client_id"], credentials["client_secret"]) == 200
    assert fusebill_key_works(admin, credentials["api_key"])
    # The secrets are never shown again.
    again = admin.get(f"{TENANTS}/{body['id']}").json()
    assert "credentials" not in again
    assert credentials["client_secret"] not in admin.get(f"{TENANTS}/{body['id']}").text


def test_defaults_match_the_cli(admin: TestClient) -> None:
    body = create(admin)
    assert body["bulk_jobs_enabled"] is False
    assert body["bulk_job_record_limit"] == 1000


def test_get_and_unknown(admin: TestClient) -> None:
    body = create(admin, name="Globex")
    got = admin.get(f"{TENANTS}/{body['id']}")
    assert got.status_code == 200
    assert got.json() == {k: v for k, v in body.items() if k != "credentials"}
    missing = assert_problem(admin.get(f"{TENANTS}/999999999"), 404)
    assert missing["type"] == "urn:billcycle:problem:not-found"
    assert missing["detail"] == "Tenant 999999999 does not exist."


def test_pages_walk_every_tenant_once_in_id_order(admin: TestClient) -> None:
    ids = [create(admin, name=f"Paged {n}")["id"] for n in range(5)]
    url: str | None = f"{TENANTS}?limit=2&after={encode_cursor(ids[0] - 1)}"
    seen: list[int] = []
    pages = 0
    while url is not None:
        response = admin.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= 2
        seen.extend(item["id"] for item in page["data"])
        url = page["next"]
        if url is None:
            assert "link" not in response.headers
        else:
            assert response.headers["link"] == f'<{url}>; rel="next"'
        pages += 1
    assert seen[:5] == ids
    assert seen == sorted(seen)
    assert pages >= 3


def test_the_last_page_has_no_next(admin: TestClient) -> None:
    last = create(admin, name="Last")["id"]
    page = admin.get(f"{TENANTS}?limit=5&after={encode_cursor(last - 1)}").json()
    assert [item["id"] for item in page["data"]][:1] == [last]
    assert page["next"] is None


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit")],
)
def test_bad_paging_parameters(admin: TestClient, query: str, parameter: str) -> None:
    body = assert_problem(admin.get(f"{TENANTS}?{query}"), 422)
    assert body["errors"][0]["parameter"] == parameter


@pytest.mark.parametrize("cursor", ["nonsense", "aWQ6", encode_cursor(1) + "!!", "bm9wZToxMg"])
def test_a_cursor_not_from_the_api_is_refused(admin: TestClient, cursor: str) -> None:
    body = assert_problem(admin.get(f"{TENANTS}?after={cursor}"), 422)
    assert body["errors"] == [
        {"parameter": "after", "detail": "The cursor in 'after' is not one this API returned."}
    ]


def test_update_changes_only_what_is_sent(admin: TestClient) -> None:
    tenant = create(admin, name="Before")
    url = f"{TENANTS}/{tenant['id']}"
    response = admin.patch(url, json={"name": "After"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "After"
    assert response.json()["bulk_jobs_enabled"] is False
    response = admin.patch(url, json={"bulk_jobs_enabled": True, "bulk_job_record_limit": 7})
    body = response.json()
    assert (body["name"], body["bulk_jobs_enabled"], body["bulk_job_record_limit"]) == (
        "After",
        True,
        7,
    )
    assert admin.get(url).json() == body


@pytest.mark.parametrize(
    ("patch", "pointer"),
    [
        ({"name": ""}, "#/name"),
        ({"name": "   "}, "#/name"),
        ({"name": None}, "#"),
        ({"bulk_job_record_limit": 0}, "#/bulk_job_record_limit"),
        ({"bulk_jobs_enabled": "yes"}, "#/bulk_jobs_enabled"),
        ({"colour": "red"}, "#/colour"),
        ({"name": "x" * 256}, "#/name"),
    ],
)
def test_bad_updates_are_422_and_change_nothing(
    admin: TestClient, patch: dict[str, Any], pointer: str
) -> None:
    tenant = create(admin, name="Steady")
    url = f"{TENANTS}/{tenant['id']}"
    before = admin.get(url).json()
    # A valid change sent alongside must not be applied either.
    body = assert_problem(admin.patch(url, json={"bulk_job_record_limit": 9, **patch}), 422)
    assert body["type"] == "urn:billcycle:problem:invalid-value"
    assert [error["pointer"] for error in body["errors"]] == [pointer]
    assert admin.get(url).json() == before


def test_bad_create_bodies(admin: TestClient) -> None:
    before = admin.get(f"{TENANTS}?limit=100").json()
    assert_problem(admin.post(TENANTS, json={}), 422)
    assert_problem(admin.post(TENANTS, json={"name": "  "}), 422)
    assert_problem(admin.post(TENANTS, json={"name": "A", "bulk_job_record_limit": -1}), 422)
    body = assert_problem(
        admin.post(TENANTS, content=b"{not json", headers={"Content-Type": "application/json"}),
        400,
    )
    assert body["type"] == "about:blank"
    assert body["title"] == "Bad Request"
    assert admin.get(f"{TENANTS}?limit=100").json() == before


def test_an_empty_tenant_is_deleted_with_its_credentials(admin: TestClient) -> None:
    tenant = create(admin, name="Short-lived")
    credentials = tenant["credentials"]
    response = admin.delete(f"{TENANTS}/{tenant['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(admin.get(f"{TENANTS}/{tenant['id']}"), 404)
    assert zuora_token(admin, credentials["client_id"], credentials["client_secret"]) == 401
    assert not fusebill_key_works(admin, credentials["api_key"])
    assert_problem(admin.delete(f"{TENANTS}/{tenant['id']}"), 404)


@pytest.mark.parametrize(
    ("path", "body"),
    [("/zuora/v1/accounts", account_body()), ("/zuora/v1/object/product", product_body())],
    ids=["account", "product"],
)
def test_a_tenant_with_data_is_not_deleted(
    admin: TestClient, path: str, body: dict[str, Any]
) -> None:
    tenant = create(admin, name="Busy")
    credentials = tenant["credentials"]
    token = token_for(admin, credentials["client_id"], credentials["client_secret"])
    made = admin.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert made.status_code == 200, made.text
    assert made.json().get("success", made.json().get("Success")), made.text

    problem = assert_problem(admin.delete(f"{TENANTS}/{tenant['id']}"), 409)
    assert problem["type"] == "urn:billcycle:problem:rule"
    assert "has billing data" in problem["detail"]
    # Nothing changed: the tenant and both its credentials still work.
    assert admin.get(f"{TENANTS}/{tenant['id']}").status_code == 200
    assert zuora_token(admin, credentials["client_id"], credentials["client_secret"]) == 200
    assert fusebill_key_works(admin, credentials["api_key"])
