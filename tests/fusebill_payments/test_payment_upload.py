"""A CSV of payments (Fusebill's bulk payment import: StaxBillID, Amount, Reference,
optional invoice allocation columns) becomes a BulkPayment job, as text/csv or as a
multipart file, and processing it pays the invoices."""

from __future__ import annotations

from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.fusebill.helpers import assert_error
from tests.fusebill_payments.helpers import balances, customer_with, fget, fpost, ok, state
from tests.support.api import Api


def test_csv_upload_pays_invoices(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    billed = customer_with(runtime, api, ["30", "30", "30"])
    a, b, c = billed.invoice_ids
    who = billed.account_id
    csv = (
        "StaxBillID,Amount,Reference,PaymentMethod,InvoiceID,AllocationAmount,InvoiceID2,AllocationAmount2,AutoAllocate\n"
        "(Required) the customer,(Required) the amount,(Optional),,,,,,\n"
        f"{who},45.00,chq 1,Check,{a},30,{b},15,\n"
        f'{who},"$1,000.00",wire,DirectDeposit,,,,,true\n'
        f"{who},5,,Cash,,,,,\n"
    )
    response = fpost(
        api, "/v1/bulkPaymentSubmit/upload", content=csv, headers={"Content-Type": "text/csv"}
    )
    job = ok(response)
    assert (job["type"], job["totalRecords"]) == ("BulkPayment", 3)
    jobs.run_until_idle()
    ok(fpost(api, "/v1/BulkApi/Process", {"id": job["id"]}))
    jobs.run_until_idle()
    done = ok(fget(api, f"/v1/BulkApi/{job['id']}", view="Full"))
    assert done["status"] == "Processed", done
    assert balances(api, [a, b, c]) == [(30, 0, "Paid"), (30, 0, "Paid"), (30, 0, "Paid")]
    auto = ok(fget(api, f"/v1/payments/{done['records'][1]['createdEntityId']}"))
    assert (auto["amount"], auto["unallocatedAmount"]) == (1000, 955)
    cash = ok(fget(api, f"/v1/payments/{done['records'][2]['createdEntityId']}"))
    assert (cash["unallocatedAmount"], cash["invoiceAllocations"]) == (5, [])


def test_multipart_upload_and_bad_files(api: Api, runtime: Runtime) -> None:
    billed = customer_with(runtime, api, ["30"])
    before = state(runtime, api.tenant.tenant_id)
    bad = [
        (b"Amount\n5\n", "Line 1: the header names no StaxBillID column"),
        (b"StaxBillID,Amount\nabc,5\n", "Line 2: StaxBillID 'abc' is not an id"),
        (b"StaxBillID,Amount\n1,five\n", "Line 2: Amount 'five' is not an amount"),
        (b"StaxBillID,Amount,InvoiceID\n1,5,7\n", "needs both its InvoiceID and its amount"),
        (b"StaxBillID,Amount,PaymentMethod\n1,5,Bitcoin\n", "PaymentMethod 'Bitcoin' is not"),
        (b"StaxBillID,Amount\n", "data must list at least one payment"),
        (b"\xff\xfe", "The file is not UTF-8 text."),
    ]
    for content, message in bad:
        response = fpost(
            api,
            "/v1/BulkApi/upload",
            files={"file": ("pay.csv", content, "text/csv")},
            data={"accountUploadType": "BulkPayment"},
        )
        assert_error(response, 400, message)
    assert_error(fpost(api, "/v1/bulkPaymentSubmit/upload", {"a": 1}), 400, "text/csv")
    assert state(runtime, api.tenant.tenant_id) == before
    good = fpost(
        api,
        "/v1/BulkApi/upload",
        files={"file": ("march.csv", f"StaxBillID,Amount\n{billed.account_id},5\n", "text/csv")},
        data={"accountUploadType": "bulkpayment"},
    )
    job = ok(good)
    assert (job["type"], job["fileName"], job["totalRecords"]) == ("BulkPayment", "march.csv", 1)
