"""Payment runs driven by Zuora's own Python client (zuora-sdk, unchanged), against a
live server: create, read, summary, data, list, update, delete."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from zuora_sdk.models import (
    CreatePaymentRunData,
    CreatePaymentRunRequest,
    UpdatePaymentRunRequest,
)
from zuora_sdk.rest import ApiException

from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.paymentruns import service as paymentruns
from billcycle.runtime import Runtime
from tests.paymentruns.helpers import balance, customer, default_gateway
from tests.support.api import Api
from tests.support.zuora_sdk import make_sdk_client


def test_payment_run_lifecycle_through_the_sdk(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, live_url: str
) -> None:
    tenant_id = api.tenant.tenant_id
    default_gateway(runtime, tenant_id)
    good = customer(runtime, tenant_id, ["10.00", "5.50"])
    bad = customer(runtime, tenant_id, ["7.00"], "tok_chargeDeclined")
    client = make_sdk_client(f"{live_url}/zuora", api.tenant.client_id, api.tenant.client_secret)
    runs = client.payment_runs_api()

    created = runs.create_payment_run(
        CreatePaymentRunRequest(target_date="2026-01-10", consolidated_payment=False)
    )
    assert created.status == "Pending"
    assert created.number == "PR-00000001"
    jobs.run_until_idle()

    got = runs.get_payment_run(created.number)
    assert got.status == "Completed"
    assert got.id == created.id
    assert got.target_date == "2026-01-10"
    assert got.executed_on is not None

    summary = runs.get_payment_run_summary(created.id)
    assert summary.number_of_receivables == 3
    assert summary.number_of_invoices == 3
    assert summary.number_of_payments == 3
    assert summary.number_of_errors == 1
    assert summary.total_values is not None
    (totals,) = summary.total_values
    assert totals.total_value_of_invoices == "22.50 USD"
    assert totals.total_value_of_payments == "15.50 USD"
    assert totals.total_value_of_errors == "7 USD"

    data = runs.get_payment_run_data(created.id).data
    assert data is not None
    by_doc = {d.document_id: d for d in data}
    declined = by_doc[f"{bad.invoice_ids[0]:032x}"]
    assert declined.result == "Error"
    assert declined.error_code == "generic_decline"
    assert declined.amount_to_collect == 7.0
    assert declined.amount_collected == 0
    paid = by_doc[f"{good.invoice_ids[1]:032x}"]
    assert paid.result == "Processed"
    assert paid.amount_collected == 5.5
    assert paid.transactions is not None
    assert paid.transactions[0].type == "Payment"
    assert paid.transactions[0].status == "Processed"
    assert [balance(runtime, tenant_id, i) for i in good.invoice_ids] == [0, 0]

    # A scheduled run with explicit records, moved by an update (the SDK sends ISO).
    scheduled = runs.create_payment_run(
        CreatePaymentRunRequest(
            run_date="2026-01-12 08:00:00",
            data=[
                CreatePaymentRunData(
                    account_id=f"{bad.account_id:032x}",
                    document_id=f"{bad.invoice_ids[0]:032x}",
                    document_type="Invoice",
                    amount=2,
                )
            ],
        )
    )
    assert scheduled.status == "Pending"
    assert scheduled.run_date == "2026-01-12 08:00:00"
    updated = runs.update_payment_run(
        scheduled.id,
        UpdatePaymentRunRequest(
            run_date=datetime(2026, 1, 13, 9, 30, tzinfo=UTC), target_date=date(2026, 1, 13)
        ),
    )
    assert updated.run_date == "2026-01-13 09:00:00"
    assert updated.target_date == "2026-01-13"

    listed = runs.get_payment_runs(page_size=1)
    assert listed.payment_runs is not None
    assert [r.number for r in listed.payment_runs] == ["PR-00000002"]
    assert listed.next_page is not None
    pending = runs.get_payment_runs(status="Pending")
    assert [r.number for r in pending.payment_runs or []] == ["PR-00000002"]
    by_target = runs.get_payment_runs(target_date=date(2026, 1, 10))
    assert [r.number for r in by_target.payment_runs or []] == ["PR-00000001"]
    today = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
    by_created = runs.get_payment_runs(created_date=today, sort="-createdDate")
    assert len(by_created.payment_runs or []) == 2
    assert runs.get_payment_runs(updated_date=datetime(2026, 1, 9, tzinfo=UTC)).payment_runs == []

    # Only a Canceled or Error run can be deleted.
    with pytest.raises(ApiException) as refused:
        runs.delete_payment_run(created.id)
    assert refused.value.status == 400
    with runtime.service_context(tenant_id) as ctx:
        paymentruns.cancel_payment_run(ctx, paymentruns.find_payment_run(ctx, "PR-00000002"))
    assert runs.delete_payment_run("PR-00000002").success is True
    with pytest.raises(ApiException) as gone:
        runs.get_payment_run("PR-00000002")
    assert gone.value.status == 404
