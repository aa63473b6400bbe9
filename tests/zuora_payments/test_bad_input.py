"""Every bad input the issue lists gets a clear 4xx in Zuora's envelope, with the 8-digit
code of the right category (last two digits: 20 invalid value, 22 missing field, 27
invalid query parameter, 30 rule restriction, 40 not found, 90 malformed JSON), and
changes nothing: the ledger, payments, refunds, invoice balances and the account's credit
are the same after."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from billcycle.ids import to_zuora_id
from billcycle.payments import service as payments
from billcycle.payments.inputs import NewPayment
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.payments.helpers import Billed, posted_invoices
from tests.support.api import Api
from tests.zuora_payments.helpers import ledger_state, reason

PAYMENT, REFUND, INVOICE, ACCOUNT, GENERIC = 500500, 500520, 500400, 500200, 500000


class Client:
    def __init__(self, api: Api) -> None:
        self.api = api

    def send(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.api.client.request(
            method, f"/zuora{path}", json=body, headers=self.api.zuora_headers, **kwargs
        )
        return response

    def ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.send(method, path, body)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        assert data["success"] is True
        return data


@pytest.fixture
def zuora(api: Api) -> Client:
    return Client(api)


@pytest.fixture
def billed(runtime: Runtime, tenant: NewTenant) -> Billed:
    return posted_invoices(runtime, tenant.tenant_id, ["100", "40"])


def _payment(zuora: Client, billed: Billed, amount: Any = 50, **extra: Any) -> dict[str, Any]:
    return {
        "accountId": to_zuora_id(billed.account_id),
        "amount": amount,
        "currency": "USD",
        "type": "External",
        **extra,
    }


def refused(
    zuora: Client,
    runtime: Runtime,
    tenant: NewTenant,
    billed: Billed,
    method: str,
    path: str,
    body: Any,
    *,
    status: int,
    code: int,
    words: str,
) -> None:
    before = ledger_state(runtime, tenant.tenant_id, billed.account_id, billed.invoice_ids)
    response = zuora.send(method, path, body)
    assert response.status_code == status, response.text
    got_code, message = reason(response.json())
    assert got_code == code, (got_code, message)
    assert words.lower() in message.lower(), message
    assert ledger_state(runtime, tenant.tenant_id, billed.account_id, billed.invoice_ids) == before


def test_bad_amounts_and_currencies_are_refused(
    zuora: Client, runtime: Runtime, tenant: NewTenant, billed: Billed
) -> None:
    cases = [
        (_payment(zuora, billed, 0), 400, PAYMENT * 100 + 20, "greater than zero"),
        (_payment(zuora, billed, -5), 400, PAYMENT * 100 + 20, "greater than zero"),
        (_payment(zuora, billed, 10.001), 400, PAYMENT * 100 + 20, "decimal places"),
        (_payment(zuora, billed, currency="EUR"), 400, PAYMENT * 100 + 20, "account's currency"),
        (_payment(zuora, billed, currency="XYZ"), 400, PAYMENT * 100 + 20, "ISO 4217"),
        (_payment(zuora, billed, "50"), 400, GENERIC * 100 + 20, "amount"),
        (_payment(zuora, billed, type="Cash"), 400, GENERIC * 100 + 20, "type"),
        (
            {k: v for k, v in _payment(zuora, billed).items() if k != "amount"},
            400,
            GENERIC * 100 + 22,
            "amount",
        ),
        (
            {k: v for k, v in _payment(zuora, billed).items() if k != "accountId"},
            400,
            PAYMENT * 100 + 22,
            "accountId",
        ),
        (
            _payment(zuora, billed, debitMemos=[{"debitMemoId": "x", "amount": 1}]),
            400,
            PAYMENT * 100 + 20,
            "debit memos",
        ),
        (
            _payment(zuora, billed, accountId="A99999999"),
            404,
            ACCOUNT * 100 + 40,
            "does not exist",
        ),
    ]
    for body, status, code, words in cases:
        refused(
            zuora,
            runtime,
            tenant,
            billed,
            "POST",
            "/v1/payments",
            body,
            status=status,
            code=code,
            words=words,
        )


def test_applications_beyond_what_is_owed_or_unapplied_change_nothing(
    zuora: Client, runtime: Runtime, tenant: NewTenant, billed: Billed, other_tenant: NewTenant
) -> None:
    first, second = (to_zuora_id(i) for i in billed.invoice_ids)
    # Applying more than an invoice owes at creation: no payment is left behind.
    refused(
        zuora,
        runtime,
        tenant,
        billed,
        "POST",
        "/v1/payments",
        _payment(zuora, billed, 150, invoices=[{"invoiceId": first, "amount": 120}]),
        status=400,
        code=INVOICE * 100 + 30,
        words="balance",
    )
    refused(
        zuora,
        runtime,
        tenant,
        billed,
        "POST",
        "/v1/payments",
        _payment(zuora, billed, 50, invoices=[{"invoiceId": first, "amount": 60}]),
        status=400,
        code=PAYMENT * 100 + 30,
        words="unapplied",
    )
    payment = zuora.ok("POST", "/v1/payments", _payment(zuora, billed, 50))
    key = payment["number"]
    cases: list[tuple[str, Any, int, int, str]] = [
        # more than the payment has unapplied
        (
            "apply",
            {"invoices": [{"invoiceId": first, "amount": 30}, {"invoiceId": second, "amount": 30}]},
            400,
            PAYMENT * 100 + 30,
            "unapplied",
        ),
        # more than the invoice owes
        (
            "apply",
            {"invoices": [{"invoiceId": second, "amount": 45}]},
            400,
            INVOICE * 100 + 30,
            "balance",
        ),
        (
            "apply",
            {"invoices": [{"invoiceId": first, "amount": 0}]},
            400,
            PAYMENT * 100 + 20,
            "greater than zero",
        ),
        (
            "apply",
            {"invoices": [{"invoiceId": first, "amount": 1.005}]},
            400,
            PAYMENT * 100 + 20,
            "decimal places",
        ),
        ("apply", {"invoices": [{"invoiceId": first}]}, 400, GENERIC * 100 + 22, "amount"),
        ("apply", {"invoices": [{"amount": 5}]}, 400, PAYMENT * 100 + 22, "invoiceId"),
        (
            "apply",
            {"invoices": [{"invoiceNumber": "INV99999999", "amount": 5}]},
            404,
            INVOICE * 100 + 40,
            "not found",
        ),
        (
            "apply",
            {"debitMemos": [{"debitMemoId": "x", "amount": 5}]},
            400,
            PAYMENT * 100 + 20,
            "debit memos",
        ),
        # nothing applied yet: nothing to take back
        (
            "unapply",
            {"invoices": [{"invoiceId": first, "amount": 5}]},
            400,
            PAYMENT * 100 + 30,
            "cannot unapply",
        ),
    ]
    for action, body, status, code, words in cases:
        refused(
            zuora,
            runtime,
            tenant,
            billed,
            "PUT",
            f"/v1/payments/{key}/{action}",
            body,
            status=status,
            code=code,
            words=words,
        )
    # Another tenant's invoice, and another account's, are not found.
    other = posted_invoices(runtime, other_tenant.tenant_id, ["10"])
    stranger = posted_invoices(runtime, tenant.tenant_id, ["10"])
    for invoice_id in (other.invoice_ids[0], stranger.invoice_ids[0]):
        refused(
            zuora,
            runtime,
            tenant,
            billed,
            "PUT",
            f"/v1/payments/{key}/apply",
            {"invoices": [{"invoiceId": to_zuora_id(invoice_id), "amount": 5}]},
            status=404,
            code=INVOICE * 100 + 40,
            words="not found",
        )


def test_refunds_and_cancels_beyond_the_rules_change_nothing(
    zuora: Client, runtime: Runtime, tenant: NewTenant, billed: Billed
) -> None:
    first = to_zuora_id(billed.invoice_ids[0])
    payment = zuora.ok(
        "POST",
        "/v1/payments",
        _payment(zuora, billed, 50, invoices=[{"invoiceId": first, "amount": 30}]),
    )
    key = payment["id"]
    refund = {"totalAmount": 25, "type": "External", "methodType": "Check"}
    cases: list[tuple[str, str, Any, int, int, str]] = [
        ("POST", "refunds", refund, 400, REFUND * 100 + 30, "unapplied"),
        (
            "POST",
            "refunds",
            {**refund, "totalAmount": 0},
            400,
            PAYMENT * 100 + 20,
            "greater than zero",
        ),
        (
            "POST",
            "refunds",
            {**refund, "totalAmount": -1},
            400,
            PAYMENT * 100 + 20,
            "greater than zero",
        ),
        (
            "POST",
            "refunds",
            {**refund, "totalAmount": 1.001},
            400,
            PAYMENT * 100 + 20,
            "decimal places",
        ),
        (
            "POST",
            "refunds",
            {"totalAmount": 5, "type": "External"},
            400,
            REFUND * 100 + 20,
            "methodType",
        ),
        (
            "POST",
            "refunds",
            {**refund, "type": "Electronic", "totalAmount": 5},
            400,
            REFUND * 100 + 30,
            "external",
        ),
        (
            "POST",
            "refunds",
            {**refund, "methodType": "Barter"},
            400,
            GENERIC * 100 + 20,
            "methodType",
        ),
        (
            "POST",
            "refunds/unapply",
            {**refund, "totalAmount": 50.01},
            400,
            REFUND * 100 + 30,
            "can refund",
        ),
        (
            "POST",
            "refunds/unapply",
            {**refund, "writeOff": True},
            400,
            REFUND * 100 + 20,
            "writeOff",
        ),
        ("PUT", "cancel", None, 400, PAYMENT * 100 + 30, "unapply it"),
        ("DELETE", "", None, 400, PAYMENT * 100 + 30, "only a canceled payment"),
        ("PUT", "transfer", {}, 400, PAYMENT * 100 + 22, "accountId"),
    ]
    for method, action, body, status, code, words in cases:
        path = f"/v1/payments/{key}/{action}".rstrip("/")
        refused(
            zuora,
            runtime,
            tenant,
            billed,
            method,
            path,
            body,
            status=status,
            code=code,
            words=words,
        )
    done = zuora.ok("POST", f"/v1/payments/{key}/refunds", {**refund, "totalAmount": 20})
    refused(
        zuora,
        runtime,
        tenant,
        billed,
        "DELETE",
        f"/v1/refunds/{done['number']}",
        None,
        status=400,
        code=REFUND * 100 + 30,
        words="only a canceled",
    )
    zuora.ok("PUT", f"/v1/refunds/{done['number']}/cancel")
    refused(
        zuora,
        runtime,
        tenant,
        billed,
        "PUT",
        f"/v1/refunds/{done['number']}/cancel",
        None,
        status=400,
        code=REFUND * 100 + 30,
        words="only a processed refund",
    )
    refused(
        zuora,
        runtime,
        tenant,
        billed,
        "PUT",
        f"/v1/refunds/{done['id']}",
        {"comment": "x" * 256},
        status=400,
        code=GENERIC * 100 + 20,
        words="comment",
    )


def test_unknown_keys_malformed_json_and_bad_queries(
    zuora: Client, runtime: Runtime, tenant: NewTenant, billed: Billed, other_tenant: NewTenant
) -> None:
    theirs = posted_invoices(runtime, other_tenant.tenant_id, ["10"])
    with runtime.service_context(other_tenant.tenant_id) as ctx:
        foreign = payments.create_payment(
            ctx, NewPayment(account_id=theirs.account_id, amount=Decimal(5), currency="USD")
        )
        foreign_key = foreign.number
    for path in (
        f"/v1/payments/{foreign_key}",
        "/v1/payments/P-99999999",
        "/v1/refunds/R-00000001",
    ):
        response = zuora.send("GET", path)
        assert response.status_code == 404, response.text
        assert reason(response.json())[0] % 100 == 40
    response = zuora.api.client.post(
        "/zuora/v1/payments",
        content=b"{not json",
        headers={**zuora.api.zuora_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert reason(response.json())[0] == GENERIC * 100 + 90
    for path in (
        "/v1/payments?pageSize=41",
        "/v1/payments?page=0",
        "/v1/payments?page=two",
        "/v1/payments?status=Paid",
        "/v1/payments?sort=colour",
        "/v1/payments?sort=number,amount,status",
        "/v1/payments?amount=ten",
        "/v1/payments?accountId=A00000001",
        "/v1/payments?createdDate=yesterday",
        "/v1/refunds?methodType=Barter",
        "/v1/refunds?pageSize=100",
    ):
        response = zuora.send("GET", path)
        assert response.status_code == 400, (path, response.text)
        code, message = reason(response.json())
        assert code % 100 == 27, (path, code)
        assert "query parameter" in message
    del billed
