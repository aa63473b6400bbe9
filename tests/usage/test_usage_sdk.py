"""zuora-sdk against a live server: usage records (create, get, update, delete), an
account's usage list, a CSV upload loaded by the workers, and the rate detail of the
item a bill run made of them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
from zuora_sdk import CreateUsageRequest, UpdateUsageRequest

from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.support.api import Api
from tests.support.zuora_sdk import make_sdk_client
from tests.usage.helpers import PER_UNIT, TIERED, add_uoms, items_by_charge, run_bill_run, subscribe


def test_sdk_usage_records_upload_and_rate_detail(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, live_url: str, tmp_path: Path
) -> None:
    tenant_id = api.tenant.tenant_id
    add_uoms(runtime, tenant_id, "Call", "GB")
    customer = subscribe(api, runtime, PER_UNIT, TIERED)
    client = make_sdk_client(f"{live_url}/zuora", api.tenant.client_id, api.tenant.client_secret)
    usage_api = client.usage_api()

    created = usage_api.create_usage(
        CreateUsageRequest(
            account_number=customer.account_number,
            subscription_number=customer.subscription_number,
            charge_number=customer.charge_numbers["API calls"],
            start_date_time=datetime(2026, 1, 5, 10, 0),
            uom="Call",
            quantity=120,
            description="first",
        )
    )
    assert created.success is True
    assert created.id is not None
    got = usage_api.get_usage(created.id)
    assert got.account_number == customer.account_number
    assert got.charge_number == customer.charge_numbers["API calls"]
    assert got.quantity == 120
    assert got.uom == "Call"
    assert got.rbe_status == "Pending"
    assert got.source_type == "API"

    updated = usage_api.update_usage(created.id, UpdateUsageRequest(quantity=130))
    assert updated.success is True
    assert usage_api.get_usage(created.id).quantity == 130

    doomed = usage_api.create_usage(
        CreateUsageRequest(
            account_number=customer.account_number,
            start_date_time=datetime(2026, 1, 6),
            uom="GB",
            quantity=1,
        )
    )
    assert usage_api.delete_usage(doomed.id).success is True

    # A CSV of two rows (Zuora's usage file format), loaded by the workers.
    csv_file = tmp_path / "usage.csv"
    csv_file.write_text(
        "ACCOUNT_ID,UOM,QTY,STARTDATE,ENDDATE,SUBSCRIPTION_ID,CHARGE_ID,DESCRIPTION\n"
        f"{customer.account_number},GB,60,01/10/2026,01/10/2026,{customer.subscription_number},"
        f"{customer.charge_numbers['Storage']},disk\n"
        f"{customer.account_number},GB,90,01/20/2026,,,,\n"
    )
    uploaded = usage_api.upload_usage_file(str(csv_file))
    assert uploaded.success is True
    assert uploaded.size == csv_file.stat().st_size
    status_url = f"{live_url}{uploaded.check_import_status}"
    headers = {"Authorization": f"Bearer {client.token['access_token']}"}
    assert httpx.get(status_url, headers=headers).json()["importStatus"] == "Pending"
    jobs.run_until_idle()
    status = httpx.get(status_url, headers=headers).json()
    assert status["importStatus"] == "Completed", status
    assert status["loadedRecords"] == 2

    listed = usage_api.get_usages_by_account(customer.account_number, page_size=2)
    assert [u.quantity for u in listed.usage or []] == ["130", "60"]
    assert listed.next_page is not None
    second = usage_api.get_usages_by_account(customer.account_number, page=2, page_size=2)
    assert [u.quantity for u in second.usage or []] == ["90"]
    assert [u.source_name for u in second.usage or []] == ["Import"]

    run_bill_run(api, jobs, "2026-02-01")
    items = items_by_charge(runtime, tenant_id, customer.account_id)
    assert [i.amount_minor for i in items["API calls"]] == [1300]  # 130 x 0.10
    assert [i.amount_minor for i in items["Storage"]] == [12500]  # 100 x 1 + 50 x 0.5
    from billcycle.ids import to_zuora_id

    detail = usage_api.get_usage_rate_detail_by_invoice_item(to_zuora_id(items["Storage"][0].id))
    assert detail.data is not None
    assert detail.data.amount_without_tax == 125.0
    assert detail.data.quantity == "150"
    assert detail.data.rate_detail is not None
    assert "Total = 125.00" in detail.data.rate_detail
    assert usage_api.get_usage(created.id).rbe_status == "Processed"
