"""Only an operator key opens the admin API; the CLI makes, lists and revokes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from billcycle.cli.main import app as cli
from billcycle.db.session import unit_of_work
from billcycle.errors import InvalidValue
from billcycle.operators import service as operators
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.admin.probes import assert_problem, token_for

runner = CliRunner()


def test_an_operator_key_is_accepted(admin: TestClient) -> None:
    assert admin.get("/billcycle/v1/tenants").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer nonsense",
        "Bearer bco_0123456789abcdef_wrong",
        "Token whatever",
    ],
)
def test_missing_or_bad_keys_are_401(client: TestClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/billcycle/v1/tenants", headers=headers)
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert body["type"] == "urn:billcycle:problem:authentication"


def test_the_operator_key_in_another_scheme_is_refused(
    client: TestClient, operator_key: str
) -> None:
    response = client.get(
        "/billcycle/v1/tenants", headers={"Authorization": f"Basic {operator_key}"}
    )
    assert_problem(response, 401)


def test_no_tenant_credential_is_an_operator_key(client: TestClient, tenant: NewTenant) -> None:
    token = token_for(client, tenant.client_id, tenant.client_secret)
    for credential in (tenant.api_key, tenant.client_secret, tenant.client_id, token):
        response = client.get(
            f"/billcycle/v1/tenants/{tenant.tenant_id}",
            headers={"Authorization": f"Bearer {credential}"},
        )
        assert_problem(response, 401)
    # ... and the tenant's credentials still work where they belong.
    assert client.get(
        "/zuora/v1/accounts/A99999999", headers={"Authorization": f"Bearer {token}"}
    ).status_code in (200, 404)


def test_a_revoked_key_is_refused(runtime: Runtime, client: TestClient) -> None:
    with unit_of_work(runtime.session_factory) as session:
        key = operators.create_operator_key(session, runtime.clock, "leaving-soon").key
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/billcycle/v1/tenants", headers=headers).status_code == 200
    with unit_of_work(runtime.session_factory) as session:
        operators.revoke_operator_key(session, "leaving-soon")
    assert_problem(client.get("/billcycle/v1/tenants", headers=headers), 401)


def test_cli_creates_lists_and_revokes_operator_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    assert runner.invoke(cli, ["db", "upgrade", "--database", url]).exit_code == 0

    result = runner.invoke(cli, ["operator", "create", "alice", "--json", "--database", url])
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["name"] == "alice"
    assert created["key"].startswith("bco_")

    again = runner.invoke(cli, ["operator", "create", "alice", "--database", url])
    assert again.exit_code == 1
    assert "already exists" in again.output
    assert "Traceback" not in again.output

    listed = runner.invoke(cli, ["operator", "list", "--json", "--database", url])
    assert listed.exit_code == 0, listed.output
    entries = json.loads(listed.output)
    assert [entry["name"] for entry in entries] == ["alice"]
    assert created["key"].startswith(entries[0]["keyPrefix"])
    assert created["key"] not in listed.output

    assert runner.invoke(cli, ["operator", "revoke", "alice", "--database", url]).exit_code == 0
    listed = runner.invoke(cli, ["operator", "list", "--json", "--database", url])
    assert json.loads(listed.output) == []

    unknown = runner.invoke(cli, ["operator", "revoke", "alice", "--database", url])
    assert unknown.exit_code == 1
    assert "No operator key is named 'alice'" in unknown.output


def test_cli_key_opens_the_api(runtime: Runtime, client: TestClient) -> None:
    result = runner.invoke(
        cli,
        ["operator", "create", "cli-made", "--json", "--database", runtime.settings.database_url],
    )
    assert result.exit_code == 0, result.output
    key = json.loads(result.output)["key"]
    response = client.get("/billcycle/v1/tenants", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    with unit_of_work(runtime.session_factory) as session:
        operators.revoke_operator_key(session, "cli-made")


@pytest.mark.parametrize("name", ["", " ", "-starts-with-dash", "has space", "x" * 65])
def test_operator_names_are_checked(runtime: Runtime, name: str) -> None:
    with unit_of_work(runtime.session_factory) as session, pytest.raises(InvalidValue) as caught:
        operators.create_operator_key(session, runtime.clock, name)
    assert "operator name" in str(caught.value)
