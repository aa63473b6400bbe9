"""Scheduled bill runs: their next occurrences, and Cancel this occurrence (cancelOnce)
versus Cancel the whole series."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient

from billcycle.billruns import service as bill_runs
from billcycle.billruns.statuses import BillRunStatus
from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.users.roles import Role
from tests.billruns.helpers import BILL_RUNS
from tests.console.helpers import add_user, sign_in
from tests.support.api import Api


def test_scheduled_runs_and_cancel_once_or_series(
    app: FastAPI, api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 1, 20, 8, 0, tzinfo=UTC))
    body = {
        "batches": ["AllBatches"],
        "billCycleDay": "AllBillCycleDays",
        "targetDateOffset": 0,
        "invoiceDateOffset": 0,
        "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Monthly", "runTime": 6},
    }
    first = api.client.post(BILL_RUNS, json=body, headers=api.zuora_headers).json()
    first_id = int(first["id"], 16)
    person = add_user(runtime, api.tenant.tenant_id, "sched@example.com", Role.OPERATOR)
    with TestClient(app) as client:
        csrf = sign_in(client, person)
        scheduled = client.get("/bill-runs/scheduled").text
        assert first["billRunNumber"] in scheduled
        assert "2026-02-01 06:00 UTC" in scheduled
        assert "2026-03-01 06:00 UTC" in scheduled
        assert first["billRunNumber"] not in client.get("/bill-runs").text
        page = client.get(f"/bill-runs/{first_id}").text
        assert 'id="cancel-run"' in page
        assert 'id="cancel-series"' in page
        assert "Cancel this occurrence" in page
        once = client.post(f"/bill-runs/{first_id}/cancel", data={"csrf_token": csrf})
        assert once.status_code == 200
        assert "Cancelling started" in once.text
        jobs.run_until_idle()
        with runtime.service_context(api.tenant.tenant_id) as ctx:
            assert bill_runs.find_bill_run(ctx, first_id).status == BillRunStatus.CANCELED
        scheduled = client.get("/bill-runs/scheduled").text
        assert first["billRunNumber"] not in scheduled
        assert "2026-03-01 06:00 UTC" in scheduled  # the series goes on
        next_id = int(scheduled.split('href="/bill-runs/')[-1].split('"')[0])
        series = client.post(f"/bill-runs/{next_id}/cancel-series", data={"csrf_token": csrf})
        assert series.status_code == 200
        jobs.run_until_idle()
        assert "No scheduled bill run" in client.get("/bill-runs/scheduled").text
