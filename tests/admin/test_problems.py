"""Every error under /billcycle is RFC 9457 problem+json; the dialects keep theirs."""

from __future__ import annotations

import gzip

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from billcycle.admin.errors import STATUS_BY_KIND, TITLE_BY_KIND
from billcycle.errors import ErrorKind
from tests.admin.probes import assert_problem


def test_every_domain_error_kind_has_a_status_and_a_title() -> None:
    assert set(STATUS_BY_KIND) == set(ErrorKind) == set(TITLE_BY_KIND)


def test_unknown_paths_are_404_problems(admin: TestClient) -> None:
    for path in ("/billcycle/v1/nothing-here", "/billcycle/v2/tenants", "/billcycle/x"):
        body = assert_problem(admin.get(path), 404)
        assert body == {
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": "No such resource.",
            "instance": path,
        }


def test_a_wrong_method_is_a_405_problem(admin: TestClient) -> None:
    response = admin.put("/billcycle/v1/tenants")
    body = assert_problem(response, 405)
    assert body["title"] == "Method Not Allowed"
    # Starlette names the methods of the first route matching the path.
    assert response.headers["allow"] in ("GET", "POST")


def test_path_ids_are_validated(admin: TestClient) -> None:
    body = assert_problem(admin.get("/billcycle/v1/tenants/abc"), 422)
    assert body["errors"][0]["parameter"] == "tenant_id"
    assert_problem(admin.get("/billcycle/v1/tenants/0"), 422)


def test_a_server_error_is_a_500_problem(app: FastAPI, operator_key: str) -> None:
    admin_app = next(
        route.app for route in app.routes if isinstance(route, Mount) and route.path == "/billcycle"
    )
    assert isinstance(admin_app, FastAPI)
    broken = APIRouter()

    @broken.get("/v1/broken")
    def fail() -> None:
        raise RuntimeError("boom")

    admin_app.include_router(broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get(
            "/billcycle/v1/broken", headers={"Authorization": f"Bearer {operator_key}"}
        )
    body = assert_problem(response, 500)
    assert body["title"] == "Internal Server Error"
    assert "boom" not in response.text


def test_a_body_over_the_limit_is_a_413_problem(admin: TestClient, app: FastAPI) -> None:
    limit = app.state.runtime.settings.max_body_bytes
    bomb = gzip.compress(b"{" + b" " * (limit + 10) + b"}")
    response = admin.post(
        "/billcycle/v1/tenants",
        content=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert_problem(response, 413)


def test_dialects_keep_their_envelopes(client: TestClient) -> None:
    zuora = client.get("/zuora/v1/nothing-here")
    assert zuora.headers["content-type"] == "application/json"
    assert zuora.json()["success"] is False
    fusebill = client.get("/fusebill/v1/nothing-here")
    assert fusebill.headers["content-type"] == "application/json"
    assert fusebill.json()["HttpStatusCode"] == 404


def test_openapi_document_and_docs_page(client: TestClient) -> None:
    document = client.get("/billcycle/openapi.json")
    assert document.status_code == 200
    schema = document.json()
    assert schema["info"]["title"] == "billcycle — admin API"
    assert {
        "/v1/tenants",
        "/v1/tenants/{tenant_id}",
        "/v1/tenants/{tenant_id}/oauth-clients",
        "/v1/tenants/{tenant_id}/oauth-clients/{client}",
        "/v1/tenants/{tenant_id}/oauth-clients/{client}/rotate",
        "/v1/tenants/{tenant_id}/api-keys",
        "/v1/tenants/{tenant_id}/api-keys/{key}",
        "/v1/tenants/{tenant_id}/api-keys/{key}/rotate",
    } <= set(schema["paths"])
    assert "OperatorKey" in schema["components"]["securitySchemes"]
    delete = schema["paths"]["/v1/tenants/{tenant_id}"]["delete"]["responses"]
    assert {"204", "401", "404", "409", "422"} <= set(delete)
    for status in ("401", "404", "409", "422"):
        assert delete[status]["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    docs = client.get("/billcycle/docs")
    assert docs.status_code == 200
    assert "/billcycle/openapi.json" in docs.text
    # The dialects' documents do not list the admin routes.
    assert not any("tenants" in p for p in client.get("/zuora/openapi.json").json()["paths"])
