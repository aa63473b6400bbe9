"""BulkPayment jobs on the BulkApi: created, validated, polled, processed and cancelled
exactly like BulkWriteOff jobs; processed records record payments (``createdEntityId``)
that pay the invoices Fusebill then shows paid."""

from __future__ import annotations

from typing import Any

from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.fusebill.helpers import assert_error
from tests.fusebill_payments.helpers import balances, customer_with, fget, fpost, ok, state
from tests.support.api import Api


def _check(customer_id: int, amount: Any, **more: Any) -> dict[str, Any]:
    return {
        "customerId": customer_id,
        "amount": amount,
        "paymentMethod": "Check",
        "source": "Import",
        **more,
    }


def _poll(api: Api, job_id: int) -> dict[str, Any]:
    body: dict[str, Any] = ok(fget(api, f"/v1/BulkApi/{job_id}", view="Full"))
    return body


def test_bulk_payment_job_pays_invoices(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    """The done-when sentence, first half: a Fusebill BulkPayment job pays invoices."""
    one = customer_with(runtime, api, ["30", "30"])
    two = customer_with(runtime, api, ["50"])
    data = [
        _check(
            one.account_id, 30, paymentAllocations=[{"invoiceId": one.invoice_ids[0], "amount": 30}]
        ),
        _check(one.account_id, "40.00", autoAllocate=True),  # pays the second, 10 left over
        _check(two.account_id, 20.5, reference="wire 77", autoAllocate=True),
        _check(two.account_id, 0),  # fails validation
        _check(999_999_999, 5),  # unknown customer
        _check(
            two.account_id, 1, paymentAllocations=[{"invoiceId": one.invoice_ids[1], "amount": 1}]
        ),
        _check(two.account_id, 1.001),  # over-precise
    ]
    job = ok(fpost(api, "/v1/BulkApi", {"accountUploadType": "BulkPayment", "data": data}))
    assert (job["type"], job["status"], job["totalRecords"]) == ("BulkPayment", "Validating", 7)
    assert job["reference"] == "Bulk Payment"
    assert job["fileName"].startswith("BulkPayment-")
    jobs.run_until_idle()
    validated = _poll(api, job["id"])
    assert validated["status"] == "ValidatedWithErrors"
    assert (validated["successfulRecords"], validated["failedRecords"]) == (3, 4)
    assert [(r["status"], r["details"]) for r in validated["records"][3:]] == [
        ("FailedValidation", "The amount must be greater than zero."),
        ("FailedValidation", "Customer not found."),
        ("FailedValidation", f"Invoice {one.invoice_ids[1]} not found for this customer."),
        ("FailedValidation", "The amount has more decimal places than USD allows (2)."),
    ]
    assert balances(api, one.invoice_ids) == [(0, 30, "Overdue"), (0, 30, "Overdue")]

    ok(fpost(api, "/v1/BulkApi/Process", {"id": job["id"]}))
    jobs.run_until_idle()
    done = _poll(api, job["id"])
    assert done["status"] == "ProcessedWithErrors"
    assert (done["processedRecords"], done["failedProcessedRecords"]) == (3, 0)
    created = [r["createdEntityId"] for r in done["records"][:3]]
    assert all(r["status"] == "Processed" for r in done["records"][:3])
    assert balances(api, one.invoice_ids) == [(30, 0, "Paid"), (30, 0, "Paid")]
    assert balances(api, two.invoice_ids) == [(20.5, 29.5, "Overdue")]
    first, second, third = (ok(fget(api, f"/v1/payments/{pid}")) for pid in created)
    assert [(a["invoiceId"], a["amount"]) for a in first["invoiceAllocations"]] == [
        (one.invoice_ids[0], 30)
    ]
    assert [(a["invoiceId"], a["amount"]) for a in second["invoiceAllocations"]] == [
        (one.invoice_ids[1], 30)
    ]
    assert (second["unallocatedAmount"], third["reference"]) == (10, "wire 77")
    activity = ok(fget(api, f"/v1/paymentActivities/{third['paymentActivityId']}"))
    assert (activity["source"], activity["method"], activity["status"]) == (
        "Import",
        "Check",
        "Successful",
    )
    # Fully paid since validation: a record allocating to a paid invoice now fails.


def test_processing_rechecks_balances(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    billed = customer_with(runtime, api, ["30"])
    (invoice,) = billed.invoice_ids
    allocate = [{"invoiceId": invoice, "amount": 20}]
    data = [_check(billed.account_id, 20, paymentAllocations=allocate)] * 2
    job = ok(fpost(api, "/v1/bulkPaymentSubmit", {"data": data}))
    assert job["type"] == "BulkPayment"
    jobs.run_until_idle()
    assert _poll(api, job["id"])["status"] == "Validated"  # each alone fits the balance
    ok(fpost(api, "/v1/BulkApi/Process", {"id": job["id"]}))
    jobs.run_until_idle()
    done = _poll(api, job["id"])
    assert [r["status"] for r in done["records"]] == ["Processed", "FailedProcessing"]
    assert done["records"][1]["details"] == (
        f"The allocation to invoice {invoice} (20.00) is more than its outstanding balance (10.00)."
    )
    assert balances(api, [invoice]) == [(20, 10, "Overdue")]


def test_cancel_behaves_like_bulk_write_off(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """The done-when sentence, second half: a cancel fails every incomplete record with
    Fusebill's words, finishes the job ProcessedWithErrors, pays nothing, and frees the
    tenant for a new job; a finished job cannot be cancelled again."""
    billed = customer_with(runtime, api, ["30", "30"])
    data = [_check(billed.account_id, 30, autoAllocate=True)] * 2
    job = ok(fpost(api, "/v1/BulkApi", {"accountUploadType": "BulkPayment", "data": data}))
    jobs.run_until_idle()
    before = state(runtime, api.tenant.tenant_id)
    blocked = fpost(api, "/v1/BulkApi", {"accountUploadType": "BulkPayment", "data": data})
    assert_error(blocked, 409, "cannot be created while bulk job")

    cancelled = ok(fpost(api, f"/v1/BulkApi/Cancel/{job['id']}"))
    assert cancelled["status"] == "ProcessedWithErrors"
    assert [(r["status"], r["details"]) for r in cancelled["records"]] == [
        ("FailedProcessing", "Manually marked as Failed.")
    ] * 2
    assert (cancelled["failedProcessedRecords"], cancelled["totalProcessedRecords"]) == (2, 2)
    jobs.run_until_idle()
    assert state(runtime, api.tenant.tenant_id) == before
    assert balances(api, billed.invoice_ids) == [(0, 30, "Overdue")] * 2
    again = fpost(api, f"/v1/BulkApi/Cancel/{job['id']}")
    assert_error(again, 400, "is not a valid status for cancellation")
    process = fpost(api, "/v1/BulkApi/Process", {"id": job["id"]})
    assert_error(process, 400, "is not a valid status for processing")
    # A new job may be created now.
    assert ok(fpost(api, "/v1/bulkPaymentSubmit", {"data": data}))["status"] == "Validating"


def test_bad_bulk_payment_bodies(api: Api, runtime: Runtime) -> None:
    before = state(runtime, api.tenant.tenant_id)
    cases = [
        ({"accountUploadType": "BulkPayment", "data": [1]}, "data[0]: must be a payment object"),
        (
            {"accountUploadType": "BulkPayment", "data": [{"customerId": 1, "amount": 5}]},
            "data[0]: paymentMethod is required",
        ),
        (
            {"accountUploadType": "BulkPayment", "data": [_check(1, "x")]},
            'data[0]: amount: "x" is not an amount',
        ),
        (
            {"accountUploadType": "BulkPayment", "data": [_check(1, 5, source="Nope")]},
            'data[0]: source: "Nope" is not one of Manual',
        ),
        ({"accountUploadType": "BulkPayment", "data": []}, "data must list at least one payment"),
        ({"accountUploadType": "BulkPayment"}, "data is required"),
    ]
    for body, message in cases:
        assert_error(fpost(api, "/v1/BulkApi", body), 400, message)
    assert ok(fget(api, "/v1/BulkApi")) == []
    assert state(runtime, api.tenant.tenant_id) == before
