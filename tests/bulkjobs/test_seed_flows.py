"""Fusebill's bulk write-off procedure and its cancel example, over raw HTTP exactly as
the seed pages write the calls (``/v1/bulkwriteoff``, ``view=full``, ``Process/`` with a
trailing slash, ``/v1//BulkApi/Cancel/{id}`` with a doubled slash), with the real job
runner doing the background work."""

from __future__ import annotations

from datetime import date

from billcycle.ids import to_zuora_id
from billcycle.invoicing.generator import GenerationOptions, generate_invoices
from billcycle.invoicing.service import post_invoices
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.bulkjobs.helpers import (
    cancel,
    create,
    get,
    ok,
    poll,
    post,
    posted_invoices,
    process,
    records,
    write_offs,
)
from tests.subscriptions.factories import add_account, add_rate_plan, flat
from tests.support.api import Api

JOB_KEYS = [
    "accountId",
    "type",
    "status",
    "createdTimestamp",
    "completedTimestamp",
    "totalRecords",
    "successfulRecords",
    "failedRecords",
    "totalProcessedRecords",
    "processedRecords",
    "failedProcessedRecords",
    "importingTimestamp",
    "processedTimestamp",
    "fileName",
    "reference",
    "relatedId",
    "internalAutomatedFlag",
    "modifiedTimestamp",
    "id",
    "uri",
]
RECORD_KEYS = ["accountUploadId", "status", "data", "details", "createdEntityId", "id", "uri"]

# The seed's error body, byte for byte.
SEED_CANCEL_ERROR = (
    b'{"ErrorId":0,"HttpStatusCode":400,"Errors":[{"Key":"Api Error","Value":'
    b'"Account upload status ProcessedWithErrors, is not a valid status for cancellation."}]}'
)


def counters(job: dict[str, object]) -> tuple[object, ...]:
    return tuple(
        job[key]
        for key in (
            "totalRecords",
            "successfulRecords",
            "failedRecords",
            "totalProcessedRecords",
            "processedRecords",
            "failedProcessedRecords",
        )
    )


def generated_posted_invoices(api: Api, runtime: Runtime, count: int) -> list[int]:
    """Invoices made the real way: subscriptions over the Zuora API, the generator, post."""
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        plan = add_rate_plan(ctx.session, tenant_id, flat("30"))
        accounts = [add_account(ctx.session, tenant_id) for _ in range(count)]
        numbers = [(a.id, a.account_number) for a in accounts]
    for _, number in numbers:
        response = api.client.post(
            "/zuora/v1/subscriptions",
            json={
                "accountKey": number,
                "contractEffectiveDate": "2026-01-01",
                "termType": "EVERGREEN",
                "subscribeToRatePlans": [{"productRatePlanId": plan.rate_plan_key}],
            },
            headers=api.zuora_headers,
        )
        assert response.status_code == 200, response.text
    with runtime.service_context(tenant_id) as ctx:
        result = generate_invoices(
            ctx,
            [account_id for account_id, _ in numbers],
            GenerationOptions(target_date=date(2026, 1, 1), invoice_date=date(2026, 1, 1)),
        )
        assert result.failures == {}
        posted = post_invoices(ctx, result.invoice_ids)
    assert len(posted) == count
    return sorted(posted)


def balances(api: Api, invoice_id: int) -> tuple[float, float]:
    """(Fusebill outstandingBalance, Zuora balance) of one invoice."""
    fusebill = ok(get(api, f"/v1/invoices/{invoice_id}"))
    zuora = api.client.get(
        f"/zuora/v1/invoices/{to_zuora_id(invoice_id)}", headers=api.zuora_headers
    )
    assert zuora.status_code == 200, zuora.text
    return fusebill["outstandingBalance"], zuora.json()["balance"]


def test_bulk_write_off_procedure(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    tenant_id = api.tenant.tenant_id
    invoice_ids = generated_posted_invoices(api, runtime, 4)
    assert [balances(api, i) for i in invoice_ids] == [(30.0, 30.0)] * 4

    created = create(api, invoice_ids)
    assert list(created) == JOB_KEYS
    job_id = created["id"]
    assert isinstance(job_id, int)
    assert created == {
        "accountId": tenant_id,
        "type": "BulkWriteOff",
        "status": "Validating",
        "createdTimestamp": "2026-01-10T09:00:00",
        "completedTimestamp": None,
        "totalRecords": 4,
        "successfulRecords": 0,
        "failedRecords": 0,
        "totalProcessedRecords": 0,
        "processedRecords": 0,
        "failedProcessedRecords": 0,
        "importingTimestamp": None,
        "processedTimestamp": None,
        "fileName": "BulkWriteOff-20260110.csv",
        "reference": "Bulk write off",
        "relatedId": None,
        "internalAutomatedFlag": False,
        "modifiedTimestamp": "0001-01-01T00:00:00",
        "id": job_id,
        "uri": None,
    }
    pending = poll(api, job_id)
    assert list(pending) == ["records", *JOB_KEYS]
    assert [r["status"] for r in pending["records"]] == ["Pending"] * 4

    jobs.run_until_idle()
    validated = poll(api, job_id)
    assert list(validated) == ["records", *JOB_KEYS]
    assert validated["status"] == "Validated"
    assert counters(validated) == (4, 4, 0, 0, 0, 0)
    assert validated["completedTimestamp"] == "2026-01-10T09:00:00"
    assert validated["modifiedTimestamp"] == "2026-01-10T09:00:00"
    for record, invoice_id in zip(validated["records"], invoice_ids, strict=True):
        assert list(record) == RECORD_KEYS
        assert record == {
            "accountUploadId": job_id,
            "status": "PassedValidation",
            "data": str(invoice_id),
            "details": None,
            "createdEntityId": None,
            "id": record["id"],
            "uri": None,
        }
    summary = poll(api, job_id, full=False)
    assert list(summary) == JOB_KEYS

    started = ok(process(api, job_id))
    assert list(started) == ["records", *JOB_KEYS]
    assert started["status"] == "Processing"
    assert started["importingTimestamp"] == "2026-01-10T09:00:00"
    assert started["processedTimestamp"] is None

    jobs.run_until_idle()
    done = poll(api, job_id)
    assert done["status"] == "Processed"
    assert counters(done) == (4, 4, 0, 4, 4, 0)
    assert done["processedTimestamp"] == "2026-01-10T09:00:00"
    entries = write_offs(runtime, tenant_id)
    assert set(entries) == set(invoice_ids)
    for record in done["records"]:
        entry = entries[int(record["data"])]
        assert record["status"] == "Processed"
        assert record["details"] is None
        assert record["createdEntityId"] == entry.id
        assert (entry.amount_minor, entry.source, entry.reference) == (
            3000,
            "Fusebill",
            "Bulk write off",
        )
    assert [balances(api, i) for i in invoice_ids] == [(0.0, 0.0)] * 4
    fusebill_invoice = ok(get(api, f"/v1/invoices/{invoice_ids[0]}"))
    assert fusebill_invoice["totalWriteoffs"] == 30.0

    # A finished job cannot be cancelled (nor processed again); a new one can be created.
    response = cancel(api, job_id)
    assert response.status_code == 400
    assert response.json()["Errors"][0]["Value"] == (
        "Account upload status Processed, is not a valid status for cancellation."
    )
    again = process(api, job_id)
    assert again.status_code == 400
    assert again.json()["Errors"][0]["Value"] == (
        "Account upload status Processed, is not a valid status for processing."
    )
    # Written off already: a new job of the same invoices validates, and fails, each one.
    second = create(api, invoice_ids[:2])
    jobs.run_until_idle()
    failed = poll(api, second["id"])
    assert failed["status"] == "Failed"
    assert counters(failed) == (2, 0, 2, 0, 0, 0)
    assert {r["details"] for r in failed["records"]} == {
        "Invoice has no outstanding balance to write off."
    }


def test_cancel_bulk_job_example(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    tenant_id = api.tenant.tenant_id
    billed = posted_invoices(runtime, tenant_id, 2)
    job_id = create(api, billed.invoice_ids)["id"]
    jobs.run_until_idle()
    assert poll(api, job_id)["status"] == "Validated"

    cancelled = ok(cancel(api, job_id))
    assert list(cancelled) == ["records", *JOB_KEYS]
    assert cancelled["status"] == "ProcessedWithErrors"
    assert counters(cancelled) == (2, 2, 0, 2, 0, 2)
    assert cancelled["importingTimestamp"] is None
    assert cancelled["processedTimestamp"] is None
    assert cancelled["completedTimestamp"] == "2026-01-10T09:00:00"
    assert cancelled["fileName"] == "BulkWriteOff-20260110.csv"
    assert cancelled["reference"] == "Bulk write off"
    for record, invoice_id in zip(cancelled["records"], billed.invoice_ids, strict=True):
        assert record == {
            "accountUploadId": job_id,
            "status": "FailedProcessing",
            "data": str(invoice_id),
            "details": "Manually marked as Failed.",
            "createdEntityId": None,
            "id": record["id"],
            "uri": None,
        }
    assert poll(api, job_id) == cancelled
    assert write_offs(runtime, tenant_id) == {}

    # The seed's error, byte for byte, for a second cancel.
    response = cancel(api, job_id)
    assert response.status_code == 400
    assert response.content == SEED_CANCEL_ERROR

    # Cancelling allowed a new job; nothing was written off by the cancelled one.
    assert create(api, billed.invoice_ids)["status"] == "Validating"
    jobs.run_until_idle()
    assert write_offs(runtime, tenant_id) == {}


def test_cancel_while_validating_and_processing(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    billed = posted_invoices(runtime, tenant_id, 7)
    job_id = create(api, billed.invoice_ids)["id"]
    cancelled = ok(cancel(api, job_id))
    assert cancelled["status"] == "ProcessedWithErrors"
    assert counters(cancelled) == (7, 0, 0, 7, 0, 7)
    jobs.run_until_idle()  # the queued validation finds its chunks cancelled
    assert poll(api, job_id) == cancelled
    assert {r.status for r in records(runtime, job_id)} == {"FailedProcessing"}

    job_id = create(api, billed.invoice_ids)["id"]
    jobs.run_until_idle()
    assert ok(process(api, job_id))["status"] == "Processing"
    # The queued drain has not run yet: the cancel marks every record failed.
    cancelled = ok(cancel(api, job_id))
    assert counters(cancelled) == (7, 7, 0, 7, 0, 7)
    assert cancelled["importingTimestamp"] == "2026-01-10T09:00:00"
    jobs.run_until_idle()
    assert poll(api, job_id) == cancelled
    assert write_offs(runtime, tenant_id) == {}


def test_paths_and_view_are_case_insensitive(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    billed = posted_invoices(runtime, api.tenant.tenant_id, 1)
    job = ok(
        post(api, "/V1/BULKAPI/", {"AccountUploadType": "bulkwriteoff", "Data": billed.invoice_ids})
    )
    jobs.run_until_idle()
    for view in ("Full", "FULL", "full"):
        assert "records" in ok(get(api, f"/v1/bulkapi/{job['id']}", view=view))
    assert "records" not in ok(get(api, f"/v1/bulkapi/{job['id']}", view="Summary"))
    done = ok(post(api, "/v1/bulkapi/process", {"ID": str(job["id"]), "settings": "x"}))
    assert done["status"] == "Processing"
    jobs.run_until_idle()
    assert ok(get(api, f"/V1/BulkApi/{job['id']}"))["status"] == "Processed"


def test_list_is_paged_newest_first(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    billed = posted_invoices(runtime, api.tenant.tenant_id, 3)
    ids = []
    for invoice_id in billed.invoice_ids:
        ids.append(create(api, [invoice_id])["id"])
        ok(cancel(api, ids[-1]))
    response = get(api, "/v1/BulkApi", pageSize=2)
    assert response.status_code == 200, response.text
    assert [job["id"] for job in response.json()] == [ids[2], ids[1]]
    assert all(list(job) == JOB_KEYS for job in response.json())
    assert response.headers["X-MaxCount"] == "3"
    assert response.headers["X-NextPage"] == "1"
    assert response.headers["X-PreviousPage"] == "-1"
    second = get(api, "/v1/BulkApi", pageSize=2, pageNumber=1)
    assert [job["id"] for job in second.json()] == [ids[0]]
    assert second.headers["X-NextPage"] == "-1"
    oldest = get(api, "/v1/BulkApi", sortOrder="Ascending", pageSize=1)
    assert [job["id"] for job in oldest.json()] == [ids[0]]
