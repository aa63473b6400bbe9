"""Bill runs driven by Zuora's own Python client, against a live server."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from zuora_sdk.models import (
    BillRunSchedule,
    CancelBillRunRequest,
    CreateBillRunRequest,
    PostBillRunRequest,
)
from zuora_sdk.rest import ApiException

from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.billruns.helpers import customers
from tests.support.api import Api
from tests.support.zuora_sdk import make_sdk_client


def test_bill_run_lifecycle_through_the_sdk(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, live_url: str
) -> None:
    customers(api, runtime, 4)
    client = make_sdk_client(f"{live_url}/zuora", api.tenant.client_id, api.tenant.client_secret)
    bill_runs = client.bill_run_api()

    created = bill_runs.create_bill_run(
        CreateBillRunRequest(batches=["AllBatches"], target_date=date(2026, 2, 1), name="Feb")
    )
    assert created.status == "Pending"
    jobs.run_until_idle()
    completed = bill_runs.get_bill_run(created.id)
    assert completed.status == "Completed"
    assert completed.bill_run_number == created.bill_run_number

    canceled = bill_runs.cancel_bill_run(created.id, CancelBillRunRequest(cancel_once=True))
    assert canceled.status == "CancelInProgress"
    jobs.run_until_idle()
    assert bill_runs.get_bill_run(created.id).status == "Canceled"

    # The canceled run's charges are billed again by a new run, which is then posted.
    again = bill_runs.create_bill_run(
        CreateBillRunRequest(batches=["AllBatches"], target_date=date(2026, 2, 1))
    )
    jobs.run_until_idle()
    assert bill_runs.get_bill_run(again.id).additional_properties["invoicesCreated"] == 4
    posting = bill_runs.post_bill_run(again.id, PostBillRunRequest(invoice_date=date(2026, 2, 1)))
    assert posting.status == "PostInProgress"
    jobs.run_until_idle()
    assert bill_runs.get_bill_run(again.id).status == "Posted"

    with pytest.raises(ApiException) as refused:
        bill_runs.cancel_bill_run(again.id, CancelBillRunRequest(cancel_once=True))
    assert refused.value.status == 400

    bill_runs.delete_bill_run(created.id)
    jobs.run_until_idle()
    with pytest.raises(ApiException) as gone:
        bill_runs.get_bill_run(created.id)
    assert gone.value.status == 404

    auto = bill_runs.create_bill_run(
        CreateBillRunRequest(batches=["AllBatches"], target_date=date(2026, 3, 1), auto_post=True)
    )
    jobs.run_until_idle()
    assert bill_runs.get_bill_run(auto.id).status == "Posted"
    emailed = bill_runs.email_bill_run(auto.bill_run_number, {"resend": False})
    assert emailed.success is True


def test_scheduled_run_through_the_sdk(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, live_url: str, clock: FrozenClock
) -> None:
    customers(api, runtime, 2)
    clock.set(datetime(2026, 1, 20, 8, 0, tzinfo=UTC))
    client = make_sdk_client(f"{live_url}/zuora", api.tenant.client_id, api.tenant.client_secret)
    bill_runs = client.bill_run_api()
    monthly = bill_runs.create_bill_run(
        CreateBillRunRequest(
            batches=["AllBatches"],
            bill_cycle_day="AllBillCycleDays",
            schedule=BillRunSchedule(
                repeat_from=date(2026, 2, 1), repeat_type="Monthly", run_time=6
            ),
        )
    )
    assert monthly.scheduled_execution_time == "2026-02-01 06:00:00"
    once = bill_runs.cancel_bill_run(monthly.id, CancelBillRunRequest(cancel_once=True))
    assert once.next_run is not None
    assert once.next_run.status == "Pending"
    assert once.next_run.scheduled_execution_time == "2026-03-01 06:00:00"
    assert once.next_run.bill_run_number != monthly.bill_run_number

    series_end = bill_runs.cancel_bill_run(
        once.next_run.id, CancelBillRunRequest(cancel_once=False)
    )
    assert series_end.next_run is None
    jobs.run_until_idle()
    assert bill_runs.get_bill_run(once.next_run.id).status == "Canceled"
