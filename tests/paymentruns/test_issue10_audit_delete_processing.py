"""Issue 10 audit ("Bad input": deleting a Processing run): ``DELETE
/v1/payment-runs/{key}`` is for Canceled or Error runs only; a run caught while its
chunks are still to be collected (Processing), and the same run once Completed, are
refused with a 400 in Zuora's envelope and stay, and their collection is unharmed."""

from __future__ import annotations

import pytest

from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.paymentruns.helpers import (
    PAYMENT_RUNS,
    balance,
    create_run,
    customer,
    default_gateway,
    read,
)
from tests.support.api import Api


def _refused_delete(api: Api, run_id: str) -> str:
    response = api.client.delete(f"{PAYMENT_RUNS}/{run_id}", headers=api.zuora_headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    (reason,) = body["reasons"]
    message: str = reason["message"]
    return message


def test_a_processing_or_completed_run_cannot_be_deleted(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    c = customer(runtime, t, ["10.00"])
    run = create_run(api, targetDate="2026-01-10")
    assert [call.name for call in jobs.pending] == ["payment_run.start"]
    with pytest.raises(RuntimeError, match="more than 1 tasks"):
        jobs.run_until_idle(max_tasks=1)  # the start only: its chunks stay queued
    assert read(api, f"/{run['id']}")["status"] == "Processing"

    assert "Canceled or Error" in _refused_delete(api, run["id"])
    assert read(api, f"/{run['id']}")["status"] == "Processing"

    jobs.run_until_idle()
    assert read(api, f"/{run['id']}")["status"] == "Completed"
    assert balance(runtime, t, c.invoice_ids[0]) == 0
    assert "Canceled or Error" in _refused_delete(api, run["number"])
    assert read(api, f"/{run['id']}")["status"] == "Completed"
