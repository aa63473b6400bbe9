"""Units of measure through the admin API and the CLI; a usage file through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from billcycle.cli.main import app as cli
from billcycle.db.session import unit_of_work
from billcycle.operators import service as operators
from billcycle.runtime import Runtime
from tests.support.api import Api
from tests.usage.helpers import PER_UNIT, USAGE, proxy_error, subscribe

runner = CliRunner()


def test_units_of_measure_through_the_admin_api(app: FastAPI, runtime: Runtime, api: Api) -> None:
    with unit_of_work(runtime.session_factory) as session:
        key = operators.create_operator_key(session, runtime.clock, "op-units").key
    tenant_id = api.tenant.tenant_id
    base = f"/billcycle/v1/tenants/{tenant_id}/units-of-measure"
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as admin:
        created = admin.post(base, json={"name": "Call", "decimalPlaces": 0})
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "Call"
        assert admin.post(base, json={"name": "call"}).status_code == 409
        assert admin.post(base, json={"name": "GB", "decimalPlaces": 12}).status_code == 422
        assert (
            admin.post(
                "/billcycle/v1/tenants/999999/units-of-measure", json={"name": "X"}
            ).status_code
            == 404
        )
        assert [u["name"] for u in admin.get(base).json()["data"]] == ["Call"]

        # A unit in use cannot be deleted; usage in an unknown unit is refused.
        customer = subscribe(api, runtime, PER_UNIT)
        body = {
            "AccountNumber": customer.account_number,
            "StartDateTime": "2026-01-05T00:00:00",
            "UOM": "Call",
            "Quantity": 3,
        }
        assert api.client.post(USAGE, json=body, headers=api.zuora_headers).status_code == 200
        assert admin.delete(f"{base}/Call").status_code == 409
        assert admin.delete(f"{base}/Nope").status_code == 404
        assert admin.post(base, json={"name": "Spare"}).status_code == 201
        assert admin.delete(f"{base}/Spare").status_code == 204
        assert [u["name"] for u in admin.get(base).json()["data"]] == ["Call"]
    bad = {**body, "UOM": "Spare"}
    assert "not defined" in proxy_error(
        api.client.post(USAGE, json=bad, headers=api.zuora_headers), 400
    )


def test_usage_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert runner.invoke(cli, ["db", "upgrade", "--database", url]).exit_code == 0
    created = runner.invoke(cli, ["tenant", "create", "Acme", "--json", "--database", url])
    assert created.exit_code == 0, created.output
    tenant = ["--tenant", "Acme", "--database", url]
    result = runner.invoke(cli, ["usage", "uom", "add", "Call", "--decimals", "2", *tenant])
    assert result.exit_code == 0, result.output
    again = runner.invoke(cli, ["usage", "uom", "add", "call", *tenant])
    assert again.exit_code == 1
    assert "already exists" in again.output
    listed = runner.invoke(cli, ["usage", "uom", "list", *tenant])
    assert "Call" in listed.output

    usage = tmp_path / "usage.csv"
    usage.write_text("ACCOUNT_ID,UOM,QTY,STARTDATE,ENDDATE\nA00000042,Call,1.5,01/05/2026,\n")
    result = runner.invoke(cli, ["usage", "import", str(usage), "--json", *tenant])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert outcome["status"] == "Failed"
    assert outcome["totalRecords"] == 1
    assert outcome["loadedRecords"] == 0
    assert outcome["errors"] == [{"row": 2, "reason": "Account A00000042 does not exist."}]
    deleted = runner.invoke(cli, ["usage", "uom", "delete", "Call", *tenant])
    assert deleted.exit_code == 0, deleted.output
