"""Shared set-up for the protocol tests: account bodies, a tenant's second OAuth client,
tokens and the CLI on the test's database."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from billcycle.cli.main import app as cli_app
from billcycle.db.session import unit_of_work
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, issue_credentials

ACCOUNTS = "/zuora/v1/accounts"


def account_body(name: str = "Acme", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "currency": "USD",
        "billCycleDay": 1,
        "billToContact": {"firstName": "Ada", "lastName": "Lovelace", "country": "US"},
        **extra,
    }


def second_client(runtime: Runtime, tenant_id: int) -> NewTenant:
    """Another OAuth client (and API key) of the same tenant."""
    with unit_of_work(runtime.session_factory) as session:
        return issue_credentials(session, runtime.clock, tenant_id)


def token(client: TestClient, credentials: NewTenant) -> str:
    response = client.post(
        "/zuora/oauth/token",
        data={
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "grant_type": "client_credentials",
        },
    )
    assert response.status_code == 200, response.text
    access: str = response.json()["access_token"]
    return access


def bearer(access: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access}", **headers}


def cli(database_url: str, *args: str) -> Result:
    result = CliRunner().invoke(cli_app, [*args, "--database", database_url])
    assert result.exit_code == 0, result.output
    return result
