"""``POST /fusebill/v1/invoices/writeoff``: the full write-off of one invoice, seen the same
way through both dialects; bad input changes nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx

from billcycle.ledger.models import LedgerEntry
from billcycle.runtime import Runtime
from tests.fusebill.helpers import Customer, assert_error, error, fget
from tests.support.api import Api

URL = "/fusebill/v1/invoices/writeoff"
ID = "<the overdue invoice>"  # replaced by its id in parametrized bodies


def write_off(api: Api, body: Any = None, *, raw: bytes | None = None) -> httpx.Response:
    response: httpx.Response
    if raw is not None:
        headers = {**api.fusebill_headers, "Content-Type": "application/json"}
        response = api.client.post(URL, content=raw, headers=headers)
    else:
        response = api.client.post(URL, json=body, headers=api.fusebill_headers)
    return response


def zuora_invoice(api: Api, invoice_id: int) -> dict[str, Any]:
    response = api.client.get(f"/zuora/v1/invoices/{invoice_id:032x}", headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def entries(runtime: Runtime, tenant_id: int) -> int:
    with runtime.service_context(tenant_id) as ctx:
        return ctx.session.query(LedgerEntry).filter(LedgerEntry.tenant_id == tenant_id).count()


def test_write_off_settles_the_invoice_in_both_dialects(
    api: Api, runtime: Runtime, customer: Customer
) -> None:
    response = write_off(
        api, {"invoiceId": customer.overdue, "amount": 60.00, "reference": "Bankrupt"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    entry_id = body.pop("id")
    assert isinstance(entry_id, int)
    assert body == {
        "invoiceId": customer.overdue,
        "customerId": customer.id,
        "amount": 60.0,
        "currency": "USD",
        "reference": "Bankrupt",
        "effectiveTimestamp": "2026-01-10T00:00:00",
        "createdTimestamp": "2026-01-10T09:00:00",
        "uri": None,
    }
    invoice = fget(api, f"/v1/invoices/{customer.overdue}").json()
    assert (invoice["status"], invoice["outstandingBalance"], invoice["totalWriteoffs"]) == (
        "WrittenOff",
        0.0,
        60.0,
    )
    zuora = zuora_invoice(api, customer.overdue)
    assert (zuora["balance"], zuora["status"]) == (0, "Posted")
    # Both views agree on every invoice.
    for invoice_id in customer.posted:
        fusebill = fget(api, f"/v1/invoices/{invoice_id}").json()
        assert fusebill["outstandingBalance"] == zuora_invoice(api, invoice_id)["balance"]
    # The write-off is a ledger entry from the Fusebill dialect.
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        entry = ctx.session.get(LedgerEntry, entry_id)
        assert entry is not None
        assert (entry.entry_type, entry.source, entry.amount_minor) == (
            "WriteOff",
            "Fusebill",
            6000,
        )


def test_write_off_of_a_partially_paid_invoice(api: Api, customer: Customer) -> None:
    response = write_off(api, {"invoiceId": customer.partial, "amount": "20.00"})
    assert response.status_code == 200, response.text
    assert response.json()["reference"] is None
    invoice = fget(api, f"/v1/invoices/{customer.partial}").json()
    assert (
        invoice["status"],
        invoice["totalPayments"],
        invoice["totalWriteoffs"],
        invoice["outstandingBalance"],
    ) == ("WrittenOff", 10.0, 20.0, 0.0)
    listed = fget(api, f"/v1/customers/{customer.id}/invoices", query="status:WrittenOff")
    assert [row["id"] for row in listed.json()] == [customer.partial]


def test_property_names_are_case_insensitive_and_unknown_ones_ignored(
    api: Api, customer: Customer
) -> None:
    body = {"INVOICEID": customer.unpaid, "Amount": 30, "REFERENCE": " r ", "extra": [1]}
    response = api.client.post(
        "/fusebill/v1/Invoices/WriteOff/", json=body, headers=api.fusebill_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["reference"] == "r"


BAD_AMOUNTS: list[tuple[Any, str]] = [
    (59.99, "must cover the full balance"),
    (60.01, "must cover the full balance"),
    ("1000", "must cover the full balance"),
    (60.001, "more decimal places than USD allows"),
    ("60.0000001", "more decimal places than USD allows"),
    (0.1 + 0.2, "more decimal places than USD allows"),
    (0, "greater than zero"),
    (-60, "greater than zero"),
]


def test_the_amount_must_be_the_full_balance(
    api: Api, runtime: Runtime, customer: Customer
) -> None:
    before = entries(runtime, api.tenant.tenant_id)
    for amount, message in BAD_AMOUNTS:
        response = write_off(api, {"invoiceId": customer.overdue, "amount": amount})
        assert_error(response, 400, message)
    assert entries(runtime, api.tenant.tenant_id) == before
    assert fget(api, f"/v1/invoices/{customer.overdue}").json()["outstandingBalance"] == 60.0


def test_nothing_to_write_off_is_a_conflict(api: Api, customer: Customer) -> None:
    message = assert_error(write_off(api, {"invoiceId": customer.paid, "amount": 0}), 409)
    assert message.endswith("has a zero balance: there is nothing to apply.")
    assert write_off(api, {"invoiceId": customer.unpaid, "amount": 30}).status_code == 200
    assert_error(write_off(api, {"invoiceId": customer.unpaid, "amount": 30}), 409, "zero balance")
    invoice = fget(api, f"/v1/invoices/{customer.unpaid}").json()
    assert invoice["totalWriteoffs"] == 30.0  # written off once


def test_invoices_that_are_not_fusebill_invoices_are_not_found(
    api: Api, other_api: Api, runtime: Runtime, customer: Customer
) -> None:
    before = entries(runtime, api.tenant.tenant_id)
    assert_error(
        write_off(api, {"invoiceId": customer.draft, "amount": 30}),
        404,
        f"Invoice {customer.draft} not found.",
    )
    assert_error(write_off(api, {"invoiceId": 987654, "amount": 30}), 404, "not found")
    assert_error(write_off(other_api, {"invoiceId": customer.overdue, "amount": 60}), 404)
    assert entries(runtime, api.tenant.tenant_id) == before


def test_the_feature_gate_answers_404(api: Api, gated_api: Api, customer: Customer) -> None:
    response = write_off(gated_api, {"invoiceId": customer.overdue, "amount": 60})
    assert response.json() == error(404, "The requested resource was not found.")
    response = write_off(gated_api, raw=b"{garbage")
    assert response.json() == error(404, "The requested resource was not found.")
    # The reads are not gated.
    assert fget(gated_api, "/v1/invoices/1").status_code == 404
    assert fget(api, f"/v1/invoices/{customer.overdue}").json()["outstandingBalance"] == 60.0


BAD_BODIES: list[tuple[Any, str]] = [
    ({"amount": 60}, "invoiceId: Field required"),
    ({"invoiceId": "1"}, "invoiceId: Input should be a valid integer"),
    ({"invoiceId": 1.5, "amount": 60}, "invoiceId: Input should be a valid integer"),
    ({"invoiceId": True, "amount": 60}, "invoiceId: Input should be a valid integer"),
    ({"invoiceId": None, "amount": 60}, "invoiceId: Input should be a valid integer"),
    ({"invoiceId": 0, "amount": 60}, "invoiceId: Input should be greater than or equal to 1"),
    ({"invoiceId": 2**64, "amount": 60}, "invoiceId: Input should be less than or equal to"),
    ({"invoiceId": ID}, "amount: Field required"),
    ({"invoiceId": ID, "amount": "sixty"}, "amount: Input should be a decimal number"),
    ({"invoiceId": ID, "amount": True}, "amount: Input should be a decimal number"),
    ({"invoiceId": ID, "amount": None}, "amount: Input should be a decimal number"),
    ({"invoiceId": ID, "amount": [60]}, "amount: Input should be a decimal number"),
    ({"invoiceId": ID, "amount": "NaN"}, "amount: Input should be a finite number"),
    ({"invoiceId": ID, "amount": "-Infinity"}, "amount: Input should be a finite number"),
    ({"invoiceId": ID, "amount": "1e999999999"}, "amount: Input should have at most 15 digits"),
    ({"invoiceId": ID, "amount": 1e300}, "amount: Input should have at most 15 digits"),
    ({"invoiceId": ID, "amount": "1e-999999999"}, "amount: Input should have at most 30 decimal"),
    ({"invoiceId": ID, "amount": 60, "reference": "x" * 501}, "reference: String should"),
    ({"invoiceId": ID, "amount": 60, "reference": 5}, "reference: Input should be a valid"),
    ([1, 2], "Input should be an object"),
    ("text", "Input should be an object"),
]


def test_malformed_bodies_are_400(api: Api, runtime: Runtime, customer: Customer) -> None:
    before = entries(runtime, api.tenant.tenant_id)
    for body, message in BAD_BODIES:
        sent = body
        if isinstance(body, dict) and body.get("invoiceId") is ID:
            sent = {**body, "invoiceId": customer.overdue}
        assert_error(write_off(api, sent), 400, message)
    assert entries(runtime, api.tenant.tenant_id) == before


UNPARSEABLE: list[bytes] = [
    b"",
    b"{",
    b"{invoiceId: 1, amount: 9.99}",
    b"\xff\xfe\x00garbage",
    b"x" * (2 * 1024 * 1024),
    json.dumps({"invoiceId": 1, "amount": 60}).encode() + b"trailing",
]


def test_unparseable_bodies_are_400(api: Api, runtime: Runtime, customer: Customer) -> None:
    """Empty, truncated, unquoted names (Fusebill's own example), binary, 2 MB of garbage,
    trailing text."""
    before = entries(runtime, api.tenant.tenant_id)
    for raw in UNPARSEABLE:
        response = write_off(api, raw=raw)
        assert response.json() == error(400, "The request body is not valid JSON."), raw[:40]
    assert entries(runtime, api.tenant.tenant_id) == before
