"""Bill-run rules beyond the happy path: failures, renewal, limits, catch-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from billcycle.billruns import service
from billcycle.billruns.schedule import BillRunSchedule, DayOffset, RepeatType
from billcycle.billruns.spec import BillRunSpec
from billcycle.clock import FrozenClock
from billcycle.errors import RuleViolation
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.runtime import Runtime
from billcycle.subscriptions.models import Subscription, SubscriptionCharge
from tests.billruns.helpers import BILL_RUNS, create_run, customers, get_run
from tests.support.api import Api


def test_a_failing_account_is_recorded_and_stops_only_itself(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    accounts = customers(api, runtime, 5)
    broken = accounts[2][0]
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        # Damaged data rating refuses (the API would never store it).
        ctx.session.execute(
            update(SubscriptionCharge)
            .where(SubscriptionCharge.account_id == broken)
            .values(charge_model="Volume Pricing", quantity=Decimal(5))
        )
    run = create_run(api)
    jobs.run_until_idle()
    done = get_run(api, run["id"])
    assert done["status"] == "Completed"
    assert (done["accountsProcessed"], done["accountsFailed"], done["invoicesCreated"]) == (5, 1, 4)
    assert done["accountFailures"][0]["accountId"] == f"{broken:032x}"
    assert "Volume" in done["accountFailures"][0]["message"]


def test_auto_renewal_renews_terms_ending_by_the_target_date(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        from tests.subscriptions.factories import add_account, add_rate_plan, flat

        plan = add_rate_plan(ctx.session, tenant_id, flat("10"))
        account = add_account(ctx.session, tenant_id)
        number = account.account_number
    response = api.client.post(
        "/zuora/v1/subscriptions",
        json={
            "accountKey": number,
            "contractEffectiveDate": "2026-01-01",
            "termType": "TERMED",
            "initialTerm": 1,
            "initialTermPeriodType": "Month",
            "renewalTerm": 1,
            "renewalTermPeriodType": "Month",
            "autoRenew": True,
            "subscribeToRatePlans": [{"productRatePlanId": plan.rate_plan_key}],
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    without = create_run(api, targetDate="2026-03-01")
    jobs.run_until_idle()
    assert get_run(api, without["id"])["totalAmounts"] == [{"currency": "USD", "amount": 10.0}]
    renewing = create_run(api, targetDate="2026-03-01", autoRenewal=True)
    jobs.run_until_idle()
    # Renewed twice (to 2026-04-01): February and March are billed now.
    assert get_run(api, renewing["id"])["totalAmounts"] == [{"currency": "USD", "amount": 20.0}]
    with runtime.service_context(tenant_id) as ctx:
        sub = ctx.session.scalars(
            select(Subscription).where(Subscription.tenant_id == tenant_id)
        ).one()
        assert sub.term_end_date is not None
        assert sub.term_end_date.isoformat() == "2026-04-01"


def test_no_more_than_500_pending_api_runs(api: Api, runtime: Runtime) -> None:
    spec = BillRunSpec(
        target_date_rule=DayOffset(0),
        schedule=BillRunSchedule(date(2027, 1, 1), RepeatType.NONE, 1),
    )
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        for _ in range(service.MAX_PENDING_API_RUNS):
            service.create_bill_run(ctx, spec)
        with pytest.raises(RuleViolation, match="500 Pending"):
            service.create_bill_run(ctx, spec)


def test_scheduler_catches_up_each_missed_occurrence_once(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    customers(api, runtime, 1, bill_cycle_day=1)
    clock.set(datetime(2026, 1, 30, 12, 0, tzinfo=UTC))
    response = api.client.post(
        BILL_RUNS,
        json={
            "batches": ["AllBatches"],
            "billCycleDay": "AsRunDay",
            "targetDateOffset": 0,
            "schedule": {"repeatFrom": "2026-01-31", "repeatType": "Daily", "runTime": 2},
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    # Down for three days: Jan 31, Feb 1 and Feb 2 were missed.
    clock.set(datetime(2026, 2, 2, 23, 0, tzinfo=UTC))
    for _ in range(6):  # more ticks than occurrences: none may run twice
        jobs.dispatch(TaskCall("tick"))
        jobs.run_until_idle()
    runs = api.client.get(f"{BILL_RUNS}?pageSize=50", headers=api.zuora_headers).json()
    by_time = {r["scheduledExecutionTime"]: r for r in runs["billRuns"]}
    assert sorted(by_time) == [
        "2026-01-31 02:00:00",
        "2026-02-01 02:00:00",
        "2026-02-02 02:00:00",
        "2026-02-03 02:00:00",
    ]
    assert [by_time[t]["status"] for t in sorted(by_time)] == [
        "Completed",
        "Completed",
        "Completed",
        "Pending",
    ]
    # AsRunDay on Jan 31 (a month end) and Feb 1 both select BCD 1 accounts only on Feb 1.
    assert by_time["2026-02-01 02:00:00"]["accountsTotal"] == 1
    assert by_time["2026-01-31 02:00:00"]["accountsTotal"] == 0
    assert by_time["2026-02-01 02:00:00"]["invoicesCreated"] == 1
    clock.advance(timedelta(hours=1))


def test_update_only_while_pending(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    customers(api, runtime, 1)
    run = create_run(api, name="draft name")
    response = api.client.put(
        f"{BILL_RUNS}/{run['id']}",
        json={"name": "February", "targetDate": "2026-03-01"},
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["targetDate"]) == ("February", "2026-03-01")
    jobs.run_until_idle()
    assert get_run(api, run["id"])["invoicesCreated"] == 1
    refused = api.client.put(
        f"{BILL_RUNS}/{run['id']}", json={"name": "late"}, headers=api.zuora_headers
    )
    assert refused.status_code == 400
    assert get_run(api, run["id"])["name"] == "February"


def test_concurrent_cancels_have_one_winner(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    import threading

    customers(api, runtime, 2)
    run = create_run(api)
    jobs.run_until_idle()
    barrier = threading.Barrier(3)
    statuses: list[int] = []

    def cancel() -> None:
        barrier.wait()
        response = api.client.put(
            f"{BILL_RUNS}/{run['id']}/cancel", json={}, headers=api.zuora_headers
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=cancel) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 400, 400]
    assert [call.name for call in jobs.pending] == ["bill_run.cancel"]
    jobs.run_until_idle()
    assert get_run(api, run["id"])["status"] == "Canceled"


def test_a_chunk_failing_every_attempt_ends_the_run_in_error(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    from billcycle.accounts.models import Account

    accounts = customers(api, runtime, 3)
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        # Damaged data only the write step trips over: every attempt fails the same way.
        ctx.session.execute(
            update(Account).where(Account.id == accounts[0][0]).values(payment_term="Bogus")
        )
    run = create_run(api)
    jobs.run_until_idle()
    failed = get_run(api, run["id"])
    assert failed["status"] == "Error"
    assert "failed" in failed["errorMessage"]
    assert failed["invoicesCreated"] == 0  # the chunk's work rolled back whole
    # An Error run can be deleted.
    assert (
        api.client.delete(f"{BILL_RUNS}/{run['id']}", headers=api.zuora_headers).status_code == 200
    )
