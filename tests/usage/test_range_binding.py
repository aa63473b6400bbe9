"""On-time usage is billed by range: the item of its charge whose period holds its date
bills it, with no write to the record (a 10M-record bill run no longer rewrites 10M
rows); only late records carry a binding. Migration 0032 clears the old per-record
bindings and its downgrade writes them back, and what the API answers does not change."""

from __future__ import annotations

from alembic import command

from billcycle.db import migrate
from billcycle.ids import to_zuora_id
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.support.api import Api
from tests.usage.helpers import (
    PER_UNIT,
    USAGE,
    add_uoms,
    add_usage,
    items_by_charge,
    records_of,
    run_bill_run,
    subscribe,
)


def _statuses(api: Api, ids: list[int]) -> list[str]:
    return [
        api.client.get(f"{USAGE}/{to_zuora_id(i)}", headers=api.zuora_headers).json()["RbeStatus"]
        for i in ids
    ]


def test_on_time_usage_is_billed_by_its_items_period_and_survives_0032_both_ways(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    add_uoms(runtime, tenant_id, "Call")
    customer = subscribe(api, runtime, PER_UNIT)
    for when in ("2026-01-03T00:00:00", "2026-01-31T23:59:00", "2026-02-01T00:00:00"):
        assert add_usage(api, customer, "API calls", 10, when, "Call").status_code == 200
    run_bill_run(api, jobs, "2026-02-01")
    january = items_by_charge(runtime, tenant_id, customer.account_id)["API calls"][0]
    records = records_of(runtime, tenant_id, customer.account_id)
    ids = [r.id for r in records]
    # Billed by January's item (the February record is not), and nothing was written.
    assert [r.billed_by for r in records] == [january.id, january.id, None]
    assert [r.record.invoice_item_id for r in records] == [None, None, None]
    assert _statuses(api, ids) == ["Processed", "Processed", "Pending"]

    url = runtime.engine.url.render_as_string(hide_password=False)
    runtime.engine.dispose()
    command.downgrade(migrate.alembic_config(url), "0031")
    runtime.engine.dispose()
    # 0031's model: every billed record names its item.
    stored = records_of(runtime, tenant_id, customer.account_id)
    assert [r.record.invoice_item_id for r in stored] == [january.id, january.id, None]
    migrate.upgrade(url)
    runtime.engine.dispose()
    after = records_of(runtime, tenant_id, customer.account_id)
    assert [r.record.invoice_item_id for r in after] == [None, None, None]
    assert [r.billed_by for r in after] == [january.id, january.id, None]
    assert _statuses(api, ids) == ["Processed", "Processed", "Pending"]
