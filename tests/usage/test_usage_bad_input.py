"""Bad usage input answers a clear 4xx and changes nothing: unknown or another tenant's
account, unknown charge, a UOM the charge does not use or the tenant does not define,
a negative quantity, a start date outside the subscription, malformed CSV rows (the
import fails as a whole with each row's number and reason, as Zuora documents), and an
upload past the body limit (refused before it is read)."""

from __future__ import annotations

from sqlalchemy import func, select

from billcycle.db.session import unit_of_work
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from billcycle.usage.models import UsageRecord
from tests.support.api import Api, api_for
from tests.usage.helpers import PER_UNIT, TIERED, USAGE, add_uoms, add_usage, proxy_error, subscribe


def _count(runtime: Runtime) -> int:
    with runtime.service_context(0) as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(UsageRecord)) or 0)


def test_bad_records_are_refused_and_change_nothing(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    add_uoms(runtime, tenant_id, "Call", "GB")
    customer = subscribe(api, runtime, PER_UNIT, TIERED, start="2026-01-01")
    before = _count(runtime)

    def refused(status: int, **changes: object) -> str:
        body = {
            "AccountNumber": customer.account_number,
            "ChargeNumber": customer.charge_numbers["API calls"],
            "StartDateTime": "2026-01-05T00:00:00",
            "UOM": "Call",
            "Quantity": 5,
            **changes,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return proxy_error(api.client.post(USAGE, json=body, headers=api.zuora_headers), status)

    assert "A00009999 does not exist" in refused(404, AccountNumber="A00009999")
    assert "does not exist" in refused(404, AccountNumber=None, AccountId="f" * 32)
    assert "C-99999999 does not exist" in refused(400, ChargeNumber="C-99999999")
    assert "is not the unit of charge" in refused(400, UOM="GB")
    assert "not defined for this tenant" in refused(400, UOM="Parsec")
    assert "0 or more" in refused(400, Quantity=-1)
    assert "decimal places" in refused(400, Quantity=1.123)
    assert "outside the subscription" in refused(400, StartDateTime="2025-12-31T23:00:00")
    assert "Missing required field" in refused(400, Quantity=None)
    assert "Subscription S-NOPE" in refused(400, SubscriptionNumber="S-NOPE")
    # Without a charge number the UOM picks the account's usage charge.
    ok = add_usage(api, customer, "API calls", 1, "2026-01-05T00:00:00", "Call")
    assert ok.status_code == 200
    assert _count(runtime) == before + 1

    # Another tenant's account is simply not found.
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other tenant")
    other_api = api_for(api.client, other)
    add_uoms(runtime, other.tenant_id, "Call")
    response = other_api.client.post(
        USAGE,
        json={
            "AccountNumber": customer.account_number,
            "StartDateTime": "2026-01-05T00:00:00",
            "UOM": "Call",
            "Quantity": 1,
        },
        headers=other_api.zuora_headers,
    )
    assert "does not exist" in proxy_error(response, 404)
    # ... and so is its record.
    record_id = ok.json()["Id"]
    assert (
        other_api.client.get(f"{USAGE}/{record_id}", headers=other_api.zuora_headers).status_code
        == 404
    )
    assert _count(runtime) == before + 1


def _upload(api: Api, content: bytes, name: str = "usage.csv") -> dict:
    response = api.client.post(
        "/zuora/v1/usage",
        files={"file": (name, content, "text/csv")},
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _status(api: Api, path: str) -> dict:
    response = api.client.get(path, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_file_with_bad_rows_loads_nothing(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    add_uoms(runtime, tenant_id, "Call", "GB")
    customer = subscribe(api, runtime, PER_UNIT, TIERED)
    a, s = customer.account_number, customer.subscription_number
    c = customer.charge_numbers["API calls"]
    content = (
        "ACCOUNT_ID,UOM,QTY,STARTDATE,ENDDATE,SUBSCRIPTION_ID,CHARGE_ID,DESCRIPTION\n"
        f"{a},Call,10,01/05/2026,,{s},{c},good\n"  # line 2: fine
        f"A00009999,Call,10,01/05/2026,,,,\n"  # 3: unknown account
        f"{a},Call,-3,01/05/2026,,,,\n"  # 4: negative
        f"{a},Call,ten,01/05/2026,,,,\n"  # 5: not a number
        f"{a},Call,1,13/45/2026,,,,\n"  # 6: not a date
        f"{a},GB,1,01/05/2026,,,{c},\n"  # 7: UOM not the charge's
        f"{a},Call,1,12/01/2025,,,,\n"  # 8: before the subscription
        f"{a},,1,01/05/2026,,,,\n"  # 9: missing UOM
    ).encode()
    before = _count(runtime)
    answer = _upload(api, content)
    assert answer["size"] == len(content)
    jobs.run_until_idle()
    status = _status(api, answer["checkImportStatus"])
    assert status["importStatus"] == "Failed"
    assert status["totalRecords"] == 8
    assert status["loadedRecords"] == 0
    rows = {e["row"]: e["reason"] for e in status["errors"]}
    assert sorted(rows) == [3, 4, 5, 6, 7, 8, 9]
    assert "A00009999 does not exist" in rows[3]
    assert "0 or more" in rows[4]
    assert "not a number" in rows[5]
    assert "not a date" in rows[6]
    assert "not the unit of charge" in rows[7]
    assert "outside the subscription" in rows[8]
    assert "Missing value for UOM" in rows[9]
    assert _count(runtime) == before

    # The same file without its bad rows loads whole.
    good = b"\n".join(content.split(b"\n")[:2]) + b"\n"
    answer = _upload(api, good)
    jobs.run_until_idle()
    status = _status(api, answer["checkImportStatus"])
    assert status["importStatus"] == "Completed"
    assert status["loadedRecords"] == 1
    assert _count(runtime) == before + 1


def test_bad_files_are_refused_at_upload(api: Api, runtime: Runtime) -> None:
    before = _count(runtime)
    bad_header = api.client.post(
        "/zuora/v1/usage",
        files={"file": ("usage.xlsx", b"x", "application/octet-stream")},
        headers=api.zuora_headers,
    )
    assert bad_header.status_code == 400
    assert "CSV" in bad_header.json()["reasons"][0]["message"]
    empty = api.client.post(
        "/zuora/v1/usage", files={"file": ("usage.csv", b"", "text/csv")}, headers=api.zuora_headers
    )
    assert empty.status_code == 400
    # Past the body limit: refused from Content-Length, before the body is read.
    limit = runtime.settings.max_body_bytes
    huge = api.client.post(
        "/zuora/v1/usage",
        content=b"x" * 16,
        headers={
            **api.zuora_headers,
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(2 * 1024**3),
        },
    )
    assert huge.status_code == 413, huge.text
    assert limit < 2 * 1024**3
    assert _count(runtime) == before
