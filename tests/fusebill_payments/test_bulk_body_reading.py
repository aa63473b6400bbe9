"""How a BulkPayment create body is read: record by record when every record is in the
stored form (``fusebill/schemas/bulk_payment_stream``), the general way otherwise; both
store the same records and refuse the same bodies with the same words. And the request
body guard, which proves a long body's strings short from its bytes: a string over the
cap is still refused wherever it hides."""

from __future__ import annotations

import json
from typing import Any

from billcycle.runtime import Runtime
from tests.fusebill.helpers import assert_error
from tests.fusebill_payments.helpers import customer_with, fget, ok, state
from tests.support.api import Api

_COMPACT = (",", ":")


def _records(api: Api, job_id: int) -> list[str]:
    body = ok(fget(api, f"/v1/BulkApi/{job_id}", view="Full"))
    return [record["data"] for record in body["records"]]


def _post_text(api: Api, path: str, text: str) -> Any:
    headers = {**api.fusebill_headers, "Content-Type": "application/json"}
    return api.client.post(f"/fusebill{path}", content=text.encode(), headers=headers)


def _bulk(data: Any, **more: Any) -> str:
    return json.dumps({"accountUploadType": "BulkPayment", "data": data, **more})


def _cancel(api: Api, job_id: int) -> None:
    ok(api.client.post(f"/fusebill/v1/BulkApi/Cancel/{job_id}", headers=api.fusebill_headers))


def test_every_spelling_of_a_body_stores_the_same_records(api: Api, runtime: Runtime) -> None:
    billed = customer_with(runtime, api, ["30"])
    customer, invoice = billed.account_id, billed.invoice_ids[0]
    records: list[dict[str, Any]] = [
        {
            "customerId": customer,
            "amount": 12.5,
            "paymentMethod": "Check",
            "source": "Import",
            "reference": 'wire "7" \\ é',
            "paymentAllocations": [{"invoiceId": invoice, "amount": 12.5}],
        },
        {"customerId": customer, "amount": 3, "paymentMethod": "Cash"},
        {"paymentMethod": "DirectDeposit", "amount": 1e2, "customerId": customer},
    ]
    stored = [json.dumps(record, separators=_COMPACT) for record in records]
    bodies = [
        json.dumps({"accountUploadType": "BulkPayment", "data": records}),
        json.dumps({"data": records, "AccountUploadType": "bulkPayment "}, indent=2),
        json.dumps({"Data": [], "accountUploadType": "BulkPayment", "data": records, "x": [1]}),
        " \n"
        + json.dumps({"data": records, "accountUploadType": "BulkPayment"}, ensure_ascii=False),
    ]
    for text in bodies:
        job = ok(_post_text(api, "/v1/BulkApi", text))
        assert _records(api, job["id"]) == stored, text
        _cancel(api, job["id"])
    submitted = ok(_post_text(api, "/v1/bulkPaymentSubmit", json.dumps({"data": records})))
    assert _records(api, submitted["id"]) == stored
    _cancel(api, submitted["id"])
    # A record not in the stored form (a numeric string) sends the whole body the
    # general way: that record in its encoded form, the others as they were.
    odd = {**records[1], "amount": "3.10"}
    job = ok(_post_text(api, "/v1/BulkApi", _bulk([records[0], odd])))
    kept = _records(api, job["id"])
    assert kept[0] == stored[0]
    assert json.loads(kept[1])["amount"] == "3.10"


def test_a_body_longer_than_the_readers_window_stores_every_record(
    api: Api, runtime: Runtime
) -> None:
    """The reader decodes a body a megabyte at a time: records, strings, multi-byte
    characters and whitespace that straddle a window's end are read as a body read whole
    reads them, and a bad byte past the first window still sends the body the general
    way (which refuses it)."""
    billed = customer_with(runtime, api, ["30"])
    customer, invoice = billed.account_id, billed.invoice_ids[0]
    records: list[dict[str, Any]] = [
        {
            "customerId": customer,
            "amount": 1 + n / 100,
            "paymentMethod": "Check",
            **({"reference": f"é{n} ü"} if n % 3 else {"source": "Import"}),
            **({"paymentAllocations": [{"invoiceId": invoice, "amount": 1}]} if n % 2 else {}),
        }
        for n in range(900)
    ]
    stored = [json.dumps(record, separators=_COMPACT) for record in records]
    # Wide indentation: some 1.6 MB, so records cross the first window's end.
    text = json.dumps(
        {"accountUploadType": "BulkPayment", "data": records}, indent=300, ensure_ascii=False
    )
    assert len(text.encode()) > 1.5 * 2**20
    job = ok(_post_text(api, "/v1/BulkApi", text))
    assert _records(api, job["id"]) == stored
    _cancel(api, job["id"])
    before = state(runtime, api.tenant.tenant_id)
    headers = {**api.fusebill_headers, "Content-Type": "application/json"}
    broken = text.encode()[:-100] + b"\xff" + text.encode()[-100:]
    refused = api.client.post("/fusebill/v1/BulkApi", content=broken, headers=headers)
    assert refused.status_code == 400, refused.text
    assert state(runtime, api.tenant.tenant_id) == before


def test_bodies_the_reader_leaves_are_refused_in_the_same_words(api: Api, runtime: Runtime) -> None:
    before = state(runtime, api.tenant.tenant_id)
    good = {"customerId": 1, "amount": 5, "paymentMethod": "Check"}
    whole = _bulk([good, good])
    cases = [
        (whole[:-3], "The request body is not valid JSON."),
        (whole + "x", "The request body is not valid JSON."),
        (json.dumps([good]), "The request body must be a JSON object."),
        (_bulk(good), "data must be a list"),
        (_bulk([good, 7]), "data[1]: must be a payment object"),
        (_bulk([good], Data=None), "data is required"),
    ]
    for text, message in cases:
        assert_error(_post_text(api, "/v1/BulkApi", text), 400, message)
    assert_error(
        _post_text(
            api, "/v1/bulkPaymentSubmit", json.dumps({"accountUploadType": 5, "data": [good]})
        ),
        400,
        "creates BulkPayment jobs, not '5'",
    )
    assert ok(fget(api, "/v1/BulkApi")) == []
    assert state(runtime, api.tenant.tenant_id) == before


def test_a_long_string_is_refused_wherever_it_hides(api: Api, runtime: Runtime) -> None:
    """A body far longer than the cap, every record short but one: refused (400) whether
    the long text is plain, or made of escaped quotes (which the byte check cannot see
    through, so it parses); a long body of short strings is taken."""
    before = state(runtime, api.tenant.tenant_id)
    short = {"customerId": 1, "amount": 5, "paymentMethod": "Check", "reference": "r" * 60}
    many = [short] * 450  # with the long one: 901 records (the limit is 1,000), ~120 KB
    for long_text in ("a" * 65_537, '"' * 65_537):
        data = [*many, {**short, "reference": long_text}, *many]
        body = {"accountUploadType": "BulkPayment", "data": data}
        response = _post_text(api, "/v1/BulkApi", json.dumps(body))
        assert response.status_code == 400, response.text[:300]
        assert "65536 characters" in response.text
    assert state(runtime, api.tenant.tenant_id) == before
    job = ok(_post_text(api, "/v1/BulkApi", _bulk([*many, *many])))
    assert job["totalRecords"] == 900


def test_records_read_as_text_are_stored_as_the_scanner_stores_them(
    api: Api, runtime: Runtime
) -> None:
    """The common record is matched as text (``bulk_payment_stream._COMMON``) and stored
    without the whitespace between its tokens; every record of these bodies must be
    stored exactly as the general way stores it (parsed, then written compact), whether
    the text matcher takes it (plain spellings) or leaves it to the scanner (numbers a
    float writes back otherwise, escapes, other orders, two allocations)."""
    billed = customer_with(runtime, api, ["30"])
    c, i = billed.account_id, billed.invoice_ids[0]
    big = "123456789012345678"  # 18 digits: the longest id the matcher takes
    records = [
        f'{{"customerId":{c},"amount":30.0,"paymentMethod":"Check","source":"Import",'
        f'"paymentAllocations":[{{"invoiceId":{i},"amount":30.0}}]}}',
        f'{{ "customerId" : {c} ,\n\t"amount": 30.0, "paymentMethod": "Check", "source": "Import",'
        f' "paymentAllocations": [ {{"invoiceId": {i}, "amount": 30.0}} ] }}\r\n',
        f'{{"customerId": {c}, "amount": 3, "paymentMethod": "Cash"}}',
        f'{{"customerId": {c}, "amount": 0, "paymentMethod": "ACH"}}',
        f'{{"customerId": {c}, "amount": -1.5, "paymentMethod": "DirectDeposit"}}',
        f'{{"customerId": {c}, "amount": 0.0001, "paymentMethod": "Cash"}}',
        f'{{"customerId": {c}, "amount": -0.0, "paymentMethod": "Cash"}}',
        f'{{"customerId": {c}, "amount": 1234567.1234567, "paymentMethod": "Cash"}}',
        f'{{"customerId": {c}, "amount": 999999999999999, "paymentMethod": "Cash"}}',
        f'{{"customerId": {big}, "amount": 1, "paymentMethod": "Cash"}}',
        f'{{"customerId": {c}, "amount": 5, "paymentMethod": "CreditCard", "reference": '
        f'"wire 7  ~{{}}[]:,"}}',
        f'{{"customerId": {c}, "amount": 5, "paymentMethod": "Check", "source": "Manual", '
        f'"reference": "r", "paymentAllocations": [{{"invoiceId": {big}, "amount": 5}}]}}',
        # The scanner's: their stored text differs from what they wrote.
        f'{{"customerId": {c}, "amount": 30.00, "paymentMethod": "Check"}}',
        f'{{"customerId": {c}, "amount": 1e2, "paymentMethod": "Check"}}',
        f'{{"customerId": {c}, "amount": 1.5E1, "paymentMethod": "Check"}}',
        f'{{"customerId": {c}, "amount": -0, "paymentMethod": "Check"}}',
        f'{{"customerId": {c}, "amount": 0.00001, "paymentMethod": "Check"}}',
        f'{{"customerId": {c}, "amount": 0.30000000000000004, "paymentMethod": "Check"}}',
        f'{{"customerId": {c}, "amount": 0.1000000000000000055, "paymentMethod": "Check"}}',
        f'{{"customerId": {c}, "amount": 12345678.5, "paymentMethod": "Check"}}',
        f'{{"customerId": {c}, "amount": 5, "paymentMethod": "Check", "reference": "a\\"b\\/"}}',
        f'{{"customerId": {c}, "amount": 5, "paymentMethod": "Check", "reference": "café"}}',
        f'{{"customerId": {c}, "amount": 5, "paymentMethod": "Check", "reference": null}}',
        f'{{"amount": 5, "customerId": {c}, "paymentMethod": "Check"}}',
        f'{{"customerId": {c}, "amount": 5, "paymentMethod": "Check", "amount": 6}}',
        f'{{"customerId": {c}, "amount": 10, "paymentMethod": "Check", "paymentAllocations": '
        f'[{{"invoiceId": {i}, "amount": 5}}, {{"invoiceId": {i}, "amount": 5}}]}}',
        f'{{"customerId": {c}, "amount": 5, "paymentMethod": "Check", "paymentAllocations": '
        f'[{{"amount": 5, "invoiceId": {i}}}]}}',
        f'{{"customerId": {c}, "amount": 5, "paymentMethod": "Check", "autoAllocate": true}}',
    ]
    expected = [json.dumps(json.loads(text), separators=_COMPACT) for text in records]
    for text in (
        '{"accountUploadType": "BulkPayment", "data": [' + ", ".join(records) + "]}",
        '{"data":[' + ",".join(records) + '],"accountUploadType":"BulkPayment"}',
    ):
        job = ok(_post_text(api, "/v1/BulkApi", text))
        assert _records(api, job["id"]) == expected
        _cancel(api, job["id"])
