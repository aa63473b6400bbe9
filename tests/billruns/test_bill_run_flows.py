"""Bill runs end to end over HTTP, with the real job runner doing the background work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from billcycle.clock import FrozenClock
from billcycle.invoicing.models import Invoice
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.jobs.models import WorkChunk
from billcycle.ledger.models import LedgerEntry
from billcycle.runtime import Runtime
from tests.accounts.factories import apply_to_invoice
from tests.billruns.helpers import BILL_RUNS, create_run, customers, error_of, get_run
from tests.support.api import Api


def invoices_of(runtime: Runtime, tenant_id: int, **where: object) -> list[Invoice]:
    with runtime.service_context(tenant_id) as ctx:
        stmt = select(Invoice).where(Invoice.tenant_id == tenant_id)
        for column, value in where.items():
            stmt = stmt.where(getattr(Invoice, column) == value)
        return list(ctx.session.scalars(stmt.order_by(Invoice.id)))


def test_ad_hoc_run_post_cancel_delete(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    tenant_id = api.tenant.tenant_id
    accounts = customers(api, runtime, 17)
    run = create_run(api, name="January")
    assert run["status"] == "Pending"
    assert run["billRunNumber"].startswith("BR-")
    jobs.run_until_idle()

    done = get_run(api, run["id"])
    assert done["status"] == "Completed"
    assert done["accountsTotal"] == 17
    assert done["accountsProcessed"] == 17
    assert done["invoicesCreated"] == 17
    with runtime.service_context(tenant_id) as ctx:
        planned = ctx.session.scalars(
            select(WorkChunk.size)
            .where(WorkChunk.kind == "bill_run", WorkChunk.parent_id == int(run["id"], 16))
            .order_by(WorkChunk.seq)
        ).all()
    assert list(planned) == [7, 7, 3]  # chunk size 7 in tests
    assert done["totalAmounts"] == [{"currency": "USD", "amount": 1020.0}]  # 17 x (30 + 30)
    drafts = invoices_of(runtime, tenant_id, bill_run_id=int(run["id"], 16))
    assert len(drafts) == 17
    assert {i.status for i in drafts} == {"Draft"}
    assert {i.account_id for i in drafts} == {a for a, _ in accounts}

    # Cancel: the drafts are Canceled and their periods billable again.
    response = api.client.put(f"{BILL_RUNS}/{run['id']}/cancel", json={}, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "CancelInProgress"
    assert response.json()["nextRun"] is None
    jobs.run_until_idle()
    assert get_run(api, run["id"])["status"] == "Canceled"
    assert {i.status for i in invoices_of(runtime, tenant_id, bill_run_id=int(run["id"], 16))} == {
        "Canceled"
    }

    again = create_run(api, name="January again", autoPost=True)
    jobs.run_until_idle()
    posted = get_run(api, again["id"])
    assert posted["status"] == "Posted"
    assert posted["invoicesCreated"] == 17
    assert {
        i.status for i in invoices_of(runtime, tenant_id, bill_run_id=int(again["id"], 16))
    } == {"Posted"}

    # A Posted run cannot be cancelled; a Canceled one can be deleted.
    message = error_of(
        api.client.put(f"{BILL_RUNS}/{again['id']}/cancel", json={}, headers=api.zuora_headers), 400
    )
    assert "Posted" in message
    response = api.client.delete(f"{BILL_RUNS}/{run['id']}", headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    jobs.run_until_idle()
    assert api.client.get(f"{BILL_RUNS}/{run['id']}", headers=api.zuora_headers).status_code == 404
    assert invoices_of(runtime, tenant_id, bill_run_id=int(run["id"], 16)) == []


def _entries_on(runtime: Runtime, tenant_id: int, invoice_ids: list[int]) -> int:
    with runtime.service_context(tenant_id) as ctx:
        return int(
            ctx.session.scalar(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.invoice_id.in_(invoice_ids))
            )
            or 0
        )


def test_deleting_a_run_deletes_its_invoices_entries(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """No foreign key cascades from an invoice to its ledger entries (migration
    0046_pgbook_ledger_invoice_fk): a deleted run's invoices take theirs with them, as
    the cascade did, and leave every other invoice's."""
    tenant_id = api.tenant.tenant_id
    customers(api, runtime, 3)
    run = create_run(api, name="to delete")
    jobs.run_until_idle()
    response = api.client.put(f"{BILL_RUNS}/{run['id']}/cancel", json={}, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    jobs.run_until_idle()
    kept = create_run(api, name="kept")
    jobs.run_until_idle()
    removed = [i.id for i in invoices_of(runtime, tenant_id, bill_run_id=int(run["id"], 16))]
    others = [i.id for i in invoices_of(runtime, tenant_id, bill_run_id=int(kept["id"], 16))]
    assert removed
    assert others
    # Entries on both runs' invoices (what an Error run's posted invoices carry).
    with runtime.service_context(tenant_id) as ctx:
        for invoice_id in removed + others:
            invoice = ctx.session.get(Invoice, invoice_id)
            assert invoice is not None
            apply_to_invoice(ctx, invoice, 100)
    assert _entries_on(runtime, tenant_id, removed) == len(removed)

    response = api.client.delete(f"{BILL_RUNS}/{run['id']}", headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    jobs.run_until_idle()
    assert invoices_of(runtime, tenant_id, bill_run_id=int(run["id"], 16)) == []
    assert _entries_on(runtime, tenant_id, removed) == 0
    assert _entries_on(runtime, tenant_id, others) == len(others)


def test_manual_post(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    customers(api, runtime, 3)
    run = create_run(api)
    response = api.client.put(f"{BILL_RUNS}/{run['id']}/post", json={}, headers=api.zuora_headers)
    assert error_of(response, 400).endswith("only a Completed bill run can be posted.")
    jobs.run_until_idle()
    response = api.client.put(
        f"{BILL_RUNS}/{run['id']}/post",
        json={"invoiceDate": "2026-02-02"},
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "PostInProgress"
    jobs.run_until_idle()
    assert get_run(api, run["id"])["status"] == "Posted"
    posted = invoices_of(runtime, api.tenant.tenant_id, bill_run_id=int(run["id"], 16))
    assert {i.invoice_date.isoformat() for i in posted} == {"2026-02-02"}


def test_rerunning_bills_nothing_twice(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    customers(api, runtime, 9)
    first = create_run(api)
    second = create_run(api)
    jobs.run_until_idle()
    assert get_run(api, first["id"])["invoicesCreated"] == 9
    assert get_run(api, second["id"])["invoicesCreated"] == 0
    assert get_run(api, second["id"])["status"] == "Completed"


def test_selection_by_batch_day_and_filters(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    batch2 = customers(api, runtime, 3, batch=2, bill_cycle_day=15, start="2026-01-15")
    customers(api, runtime, 2, batch=1, bill_cycle_day=15, start="2026-01-15")
    customers(api, runtime, 2, batch=2, bill_cycle_day=1)
    run = create_run(api, batches=["Batch2"], billCycleDay="15", targetDate="2026-01-15")
    jobs.run_until_idle()
    assert get_run(api, run["id"])["accountsTotal"] == 3
    chosen = batch2[0]
    run = create_run(
        api,
        batches=None,
        billRunFilters=[{"filterType": "Account", "accountId": f"{chosen[0]:032x}"}],
        targetDate="2026-03-01",
    )
    jobs.run_until_idle()
    one = get_run(api, run["id"])
    assert (one["accountsTotal"], one["invoicesCreated"]) == (1, 1)


def test_charge_type_exclusion_and_catch_up(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    customers(api, runtime, 2)
    excluded = create_run(api, chargeTypeToExclude=["Recurring"])
    jobs.run_until_idle()
    assert get_run(api, excluded["id"])["invoicesCreated"] == 0
    catch_up = create_run(api, billRunType="CatchUp", targetDate="2026-03-01")
    jobs.run_until_idle()
    assert get_run(api, catch_up["id"])["invoicesCreated"] == 0
    after = create_run(api, targetDate="2026-04-01")
    jobs.run_until_idle()
    # CatchUp moved the watermarks to April: only April is billed now.
    assert get_run(api, after["id"])["totalAmounts"] == [{"currency": "USD", "amount": 60.0}]


def test_idempotency_key(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    customers(api, runtime, 1)
    headers = {**api.zuora_headers, "Idempotency-Key": "run-2026-02"}
    body = {"batches": ["AllBatches"], "targetDate": "2026-02-01"}
    first = api.client.post(BILL_RUNS, json=body, headers=headers)
    second = api.client.post(BILL_RUNS, json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    different = api.client.post(BILL_RUNS, json={**body, "name": "x"}, headers=headers)
    assert different.status_code == 422  # Zuora: the key was used with another request
    listed = api.client.get(BILL_RUNS, headers=api.zuora_headers).json()["billRuns"]
    assert len(listed) == 1


def test_bad_input_changes_nothing(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    cases = [
        ({"batches": ["AllBatches"]}, "targetDate"),
        (
            {
                "batches": ["AllBatches"],
                "billRunFilters": [{"filterType": "Account", "accountId": "0" * 32}],
                "targetDate": "2026-02-01",
            },
            "",
        ),
        ({"batches": ["AllBatches", "Batch3"], "targetDate": "2026-02-01"}, "AllBatches"),
        (
            {
                "batches": ["AllBatches"],
                "targetDate": "2026-02-01",
                "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Daily", "runTime": 24},
            },
            "",
        ),
        (
            {
                "batches": ["AllBatches"],
                "targetDateOffset": 0,
                "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Weekly", "runTime": 3},
            },
            "",
        ),
    ]
    for body, hint in cases:
        response = api.client.post(BILL_RUNS, json=body, headers=api.zuora_headers)
        assert response.status_code == 400, (body, response.text)
        assert hint in response.json()["reasons"][0]["message"]
    assert api.client.get(BILL_RUNS, headers=api.zuora_headers).json()["billRuns"] == []
    unknown = f"{BILL_RUNS}/{'f' * 32}"
    assert api.client.get(unknown, headers=api.zuora_headers).status_code == 404
    assert api.client.delete(unknown, headers=api.zuora_headers).status_code == 404
    assert api.client.put(f"{unknown}/post", json={}, headers=api.zuora_headers).status_code == 404
    assert jobs.pending == []


def test_state_guards(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    customers(api, runtime, 2)
    run = create_run(api)
    jobs.run_until_idle()
    message = error_of(
        api.client.delete(f"{BILL_RUNS}/{run['id']}", headers=api.zuora_headers), 400
    )
    assert "Completed" in message
    assert get_run(api, run["id"])["status"] == "Completed"


def test_other_tenants_run_is_not_found(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    from billcycle.db.session import unit_of_work
    from billcycle.tenancy.service import create_tenant

    customers(api, runtime, 1)
    run = create_run(api)
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other")
    token = api.client.post(
        "/zuora/oauth/token",
        data={
            "client_id": other.client_id,
            "client_secret": other.client_secret,
            "grant_type": "client_credentials",
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for call in (
        lambda: api.client.get(f"{BILL_RUNS}/{run['id']}", headers=headers),
        lambda: api.client.get(f"{BILL_RUNS}/{run['billRunNumber']}", headers=headers),
        lambda: api.client.put(f"{BILL_RUNS}/{run['id']}/cancel", json={}, headers=headers),
    ):
        assert call().status_code == 404
    assert get_run(api, run["id"])["status"] == "Pending"


def test_monthly_schedule_cancel_once_and_series(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    customers(api, runtime, 2)
    clock.set(datetime(2026, 1, 20, 8, 0, tzinfo=UTC))
    body = {
        "batches": ["AllBatches"],
        "billCycleDay": "AllBillCycleDays",
        "targetDateOffset": 0,
        "invoiceDateOffset": 0,
        "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Monthly", "runTime": 6},
    }
    first = api.client.post(BILL_RUNS, json=body, headers=api.zuora_headers).json()
    assert first["status"] == "Pending"
    assert first["scheduledExecutionTime"] == "2026-02-01 06:00:00"
    response = api.client.put(
        f"{BILL_RUNS}/{first['id']}/cancel", json={"cancelOnce": True}, headers=api.zuora_headers
    )
    assert response.status_code == 200, response.text
    next_run = response.json()["nextRun"]
    assert next_run["status"] == "Pending"
    assert next_run["billRunNumber"] != first["billRunNumber"]
    assert next_run["scheduledExecutionTime"] == "2026-03-01 06:00:00"
    jobs.run_until_idle()
    assert get_run(api, first["id"])["status"] == "Canceled"

    # Time passes: the scheduler starts March's occurrence, which creates April's.
    clock.set(datetime(2026, 3, 1, 6, 0, 5, tzinfo=UTC))
    from billcycle.jobs.dispatch import TaskCall

    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    march = get_run(api, next_run["id"])
    assert march["status"] == "Completed"
    assert march["targetDate"] == "2026-03-01"
    listed = api.client.get(f"{BILL_RUNS}?status=Pending", headers=api.zuora_headers).json()
    april = listed["billRuns"]
    assert [r["scheduledExecutionTime"] for r in april] == ["2026-04-01 06:00:00"]

    # cancelOnce=false ends the series.
    response = api.client.put(
        f"{BILL_RUNS}/{april[0]['id']}/cancel",
        json={"cancelOnce": False},
        headers=api.zuora_headers,
    )
    assert response.json()["nextRun"] is None
    jobs.run_until_idle()
    clock.advance(timedelta(days=90))
    jobs.dispatch(TaskCall("tick"))
    jobs.run_until_idle()
    pending = api.client.get(f"{BILL_RUNS}?status=Pending", headers=api.zuora_headers).json()
    assert pending["billRuns"] == []
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        count = ctx.session.scalar(select(func.count()).select_from(Invoice))
    assert count is not None
