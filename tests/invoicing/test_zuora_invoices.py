"""Zuora ``/v1/invoices/{invoiceKey}``: retrieve, items, post, cancel, write off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from billcycle.ids import to_zuora_id
from billcycle.invoicing import service
from billcycle.ledger import service as ledger
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.invoicing.factories import (
    ItemSpec,
    make_account,
    make_invoice,
    make_subscription,
    monthly,
)
from tests.support.api import Api

JAN = date(2026, 1, 1)
FEB = date(2026, 2, 1)
MAR = date(2026, 3, 1)
INVOICE_NOT_FOUND = 50040040
INVOICE_RULE = 50040030


@dataclass
class Seeded:
    invoice_id: int
    number: str
    account_id: int
    charge_id: int
    item_ids: list[int]

    @property
    def hex(self) -> str:
        return to_zuora_id(self.invoice_id)


def seed(
    runtime: Runtime,
    tenant_id: int,
    *,
    status: str = "Draft",
    amounts: tuple[str, ...] = ("100", "49.99"),
    payment_term: str = "Net 30",
) -> Seeded:
    """One invoice of consecutive monthly periods of one charge."""
    with runtime.service_context(tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx, payment_term=payment_term))
        specs = [
            monthly(billed.charge, date(2026, 1 + n, 1), amount) for n, amount in enumerate(amounts)
        ]
        invoice = make_invoice(ctx, billed.account, specs, status=status, due_date=FEB)
        return Seeded(
            invoice.id,
            invoice.invoice_number,
            billed.account.id,
            billed.charge.id,
            [item.id for item in invoice.items],
        )


def url(key: str, action: str = "") -> str:
    return f"/zuora/v1/invoices/{key}{action}"


def get(api: Api, path: str, **params: Any) -> httpx.Response:
    return api.client.get(path, params=params, headers=api.zuora_headers)


def put(api: Api, path: str, body: Any = None, *, raw: str | None = None) -> httpx.Response:
    if raw is not None:
        headers = {**api.zuora_headers, "Content-Type": "application/json"}
        return api.client.put(path, content=raw, headers=headers)
    return api.client.put(path, json=body, headers=api.zuora_headers)


def error_code(response: httpx.Response) -> int:
    body = response.json()
    assert body["success"] is False, body
    code: int = body["reasons"][0]["code"]
    return code


def status_of(api: Api, key: str) -> str:
    response = get(api, url(key))
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


# -- retrieve --------------------------------------------------------------------------


def test_get_invoice_by_id_and_number(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id)
    for key in (seeded.hex, seeded.number):
        response = get(api, url(key))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is True
        assert body["id"] == seeded.hex
        assert body["invoiceNumber"] == seeded.number
        assert body["accountId"] == to_zuora_id(seeded.account_id)
        assert body["status"] == "Draft"
        assert (body["amount"], body["balance"], body["amountWithoutTax"]) == (
            149.99,
            149.99,
            149.99,
        )
        assert (body["taxAmount"], body["paymentAmount"], body["creditMemoAmount"]) == (0, 0, 0)
        assert (body["invoiceDate"], body["dueDate"], body["targetDate"]) == (
            "2026-01-01",
            "2026-02-01",
            "2026-01-01",
        )
        assert body["currency"] == "USD"
        assert body["paymentTerm"] == "Net 30"
        assert body["autoPay"] is False
        assert body["source"] == "BillRun"
        assert (body["includesRecurring"], body["includesOneTime"], body["includesUsage"]) == (
            True,
            False,
            False,
        )
        assert body["createdDate"] == "2026-01-10 09:00:00"
        assert "postedDate" not in body


def test_unknown_and_foreign_invoices_are_not_found(
    api: Api, runtime: Runtime, other_tenant: NewTenant
) -> None:
    foreign = seed(runtime, other_tenant.tenant_id)
    # Numbers are per tenant: the other tenant's INV00000001 is not ours to see either.
    for key in (foreign.hex, foreign.number, "INV99999999", "0" * 32, "f" * 32, "%20", "x" * 300):
        for path in (url(key), url(key, "/items")):
            response = get(api, path)
            assert response.status_code == 404, (key, response.text)
            assert error_code(response) == INVOICE_NOT_FOUND
        for action, body in (("/post", {}), ("/cancel", None), ("/write-off", {})):
            response = put(api, url(key, action), body)
            assert response.status_code == 404, (key, action, response.text)
    with runtime.service_context(other_tenant.tenant_id) as ctx:
        assert service.get_invoice(ctx, foreign.invoice_id).status == "Draft"
    ours = seed(runtime, api.tenant.tenant_id)
    assert ours.number == foreign.number
    assert get(api, url(foreign.number)).json()["id"] == ours.hex


# -- items -----------------------------------------------------------------------------


def test_items_show_inclusive_service_end_dates_and_page(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id, amounts=("100", "100", "50.5"))
    response = get(api, url(seeded.number, "/items"))
    assert response.status_code == 200, response.text
    items = response.json()["invoiceItems"]
    assert [item["id"] for item in items] == [to_zuora_id(i) for i in seeded.item_ids]
    first = items[0]
    assert (first["serviceStartDate"], first["serviceEndDate"]) == ("2026-01-01", "2026-01-31")
    assert items[1]["serviceEndDate"] == "2026-02-28"
    assert (first["chargeAmount"], first["balance"], first["taxAmount"]) == (100, 100, 0)
    assert items[2]["chargeAmount"] == 50.5
    assert first["chargeId"] == to_zuora_id(seeded.charge_id)
    assert (first["chargeName"], first["chargeType"], first["quantity"]) == (
        "Monthly fee",
        "Recurring",
        1,
    )
    assert (first["productName"], first["sku"], first["unitOfMeasure"]) == (
        "Gold",
        "SKU-GOLD",
        "Each",
    )
    assert first["subscriptionName"].startswith("A-S")
    assert "nextPage" not in response.json()

    page1 = get(api, url(seeded.hex, "/items"), pageSize=2)
    assert len(page1.json()["invoiceItems"]) == 2
    assert "page=2" in page1.json()["nextPage"]
    page2 = get(api, url(seeded.hex, "/items"), pageSize=2, page=2)
    assert [i["id"] for i in page2.json()["invoiceItems"]] == [to_zuora_id(seeded.item_ids[2])]
    assert "nextPage" not in page2.json()
    assert get(api, url(seeded.hex, "/items"), page=9).json()["invoiceItems"] == []


@pytest.mark.parametrize(
    "params", [{"pageSize": 0}, {"pageSize": 41}, {"page": 0}, {"pageSize": "ten"}, {"page": -1}]
)
def test_items_bad_paging_is_400(api: Api, runtime: Runtime, params: dict[str, Any]) -> None:
    seeded = seed(runtime, api.tenant.tenant_id)
    response = get(api, url(seeded.hex, "/items"), **params)
    assert response.status_code == 400, response.text
    assert error_code(response) % 100 == 20


def test_item_balances_follow_the_ledger(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id, status="Posted", amounts=("100", "50"))
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        invoice = service.get_invoice(ctx, seeded.invoice_id)
        ledger.apply_to_invoice(
            ctx,
            invoice,
            ledger.EntryType.PAYMENT,
            12000,
            reference=None,
            comment=None,
            source="API",
        )
    items = get(api, url(seeded.hex, "/items")).json()["invoiceItems"]
    assert [i["balance"] for i in items] == [0, 30]
    body = get(api, url(seeded.hex)).json()
    assert (body["balance"], body["paymentAmount"]) == (30, 120)


# -- post ------------------------------------------------------------------------------


def test_post_an_invoice(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id)
    response = put(api, url(seeded.number, "/post"), {})
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "id": seeded.hex, "jobStatus": "Completed"}
    body = get(api, url(seeded.hex)).json()
    assert (body["status"], body["postedDate"], body["invoiceDate"], body["dueDate"]) == (
        "Posted",
        "2026-01-10",
        "2026-01-01",
        "2026-02-01",
    )
    again = put(api, url(seeded.hex, "/post"), {})
    assert again.status_code == 400
    assert error_code(again) == INVOICE_RULE


def test_post_with_a_new_invoice_date_moves_the_due_date(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id, payment_term="Net 45")
    response = put(api, url(seeded.hex, "/post"), {"invoiceDate": "2026-01-15"})
    assert response.status_code == 200, response.text
    body = get(api, url(seeded.hex)).json()
    assert (body["invoiceDate"], body["dueDate"]) == ("2026-01-15", "2026-03-01")


def test_post_without_a_body(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id)
    response = api.client.put(url(seeded.hex, "/post"), headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    assert status_of(api, seeded.hex) == "Posted"


@pytest.mark.parametrize(
    ("body", "category"),
    [
        ({"invoiceDate": "2026-02-30"}, 20),
        ({"invoiceDate": "15/01/2026"}, 20),
        ({"invoiceDate": 1767225600}, 20),
        ({"invoiceDate": "2026-01-15T00:00:00"}, 20),
        ([1, 2], 20),
        ("not json", 90),
    ],
)
def test_post_bad_input_changes_nothing(
    api: Api, runtime: Runtime, body: Any, category: int
) -> None:
    seeded = seed(runtime, api.tenant.tenant_id)
    raw = "{not json" if body == "not json" else None
    response = put(api, url(seeded.hex, "/post"), body, raw=raw)
    assert response.status_code == 400, response.text
    assert error_code(response) % 100 == category
    assert status_of(api, seeded.hex) == "Draft"


def test_post_rejects_unknown_fields_when_asked(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id)
    response = put(api, url(seeded.hex, "/post?rejectUnknownFields=true"), {"bogus": 1})
    assert response.status_code == 400
    assert error_code(response) % 100 == 21
    assert put(api, url(seeded.hex, "/post"), {"bogus": 1}).status_code == 200
    posted = seed(runtime, api.tenant.tenant_id, status="Posted")
    body = {"items": [{"invoiceItemId": to_zuora_id(i), "x": 1} for i in posted.item_ids]}
    response = put(api, url(posted.hex, "/write-off?rejectUnknownFields=true"), body)
    assert response.status_code == 400
    assert "items[0].x" in response.json()["reasons"][0]["message"]
    assert get(api, url(posted.hex)).json()["balance"] == 149.99


# -- cancel ----------------------------------------------------------------------------


def test_cancel_a_draft(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id)
    response = put(api, url(seeded.number, "/cancel"))
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "id": seeded.hex, "jobStatus": "Completed"}
    assert status_of(api, seeded.hex) == "Canceled"
    again = put(api, url(seeded.number, "/cancel"))
    assert again.status_code == 400
    assert error_code(again) == INVOICE_RULE


def test_cancel_a_posted_invoice_is_refused(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id, status="Posted")
    response = put(api, url(seeded.hex, "/cancel"))
    assert response.status_code == 400
    assert error_code(response) == INVOICE_RULE
    assert "draft" in response.json()["reasons"][0]["message"]
    assert status_of(api, seeded.hex) == "Posted"


def test_cancel_an_older_invoice_is_refused(api: Api, runtime: Runtime) -> None:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        jan = make_invoice(ctx, billed.account, [monthly(billed.charge, JAN)])
        feb = make_invoice(ctx, billed.account, [monthly(billed.charge, FEB)], invoice_date=FEB)
        jan_number, feb_number = jan.invoice_number, feb.invoice_number
    response = put(api, url(jan_number, "/cancel"))
    assert response.status_code == 400
    assert feb_number in response.json()["reasons"][0]["message"]
    assert status_of(api, jan_number) == "Draft"
    assert put(api, url(feb_number, "/cancel")).status_code == 200
    assert put(api, url(jan_number, "/cancel")).status_code == 200


# -- write off -------------------------------------------------------------------------


def test_write_off_a_posted_invoice(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id, status="Posted")
    response = put(
        api,
        url(seeded.number, "/write-off"),
        {"comment": "bad debt", "memoDate": "2026-01-05", "reasonCode": "Write-off"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        entries = ledger.entries_of(ctx, service.get_invoice(ctx, seeded.invoice_id))
    assert [e.amount_minor for e in entries] == [14999]
    assert body["creditMemo"] == {"id": to_zuora_id(entries[0].id)}
    assert (entries[0].comment, entries[0].effective_date) == ("bad debt", date(2026, 1, 5))
    invoice = get(api, url(seeded.hex)).json()
    assert (invoice["balance"], invoice["creditMemoAmount"], invoice["status"]) == (
        0,
        149.99,
        "Posted",
    )
    items = get(api, url(seeded.hex, "/items")).json()["invoiceItems"]
    assert [i["balance"] for i in items] == [0, 0]
    again = put(api, url(seeded.hex, "/write-off"), {})
    assert again.status_code == 400
    assert "zero balance" in again.json()["reasons"][0]["message"]


def test_write_off_with_amount_and_all_items(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id, status="Posted")
    items = [{"invoiceItemId": to_zuora_id(i)} for i in seeded.item_ids]
    response = put(api, url(seeded.hex, "/write-off"), {"amount": 149.99, "items": items})
    assert response.status_code == 200, response.text
    assert get(api, url(seeded.hex)).json()["balance"] == 0


@pytest.mark.parametrize(
    ("body", "status", "category"),
    [
        ({"amount": 100}, 400, 30),
        ({"amount": 149.999}, 400, 20),
        ({"amount": "149.99"}, 400, 20),
        ({"amount": 0}, 400, 20),
        ({"amount": -149.99}, 400, 20),
        ({"memoDate": "2025-12-31"}, 400, 20),
        ({"memoDate": "2026-13-01"}, 400, 20),
        ({"revenueImpacting": "Maybe"}, 400, 20),
        ({"comment": "x" * 256}, 400, 20),
        ({"items": [{"invoiceItemId": "nonsense"}]}, 400, 20),
        ({"items": [{"invoiceItemId": "0" * 31 + "1"}]}, 400, 20),
        ({"items": []}, 400, 30),
        ({"items": [{}]}, 400, 22),
    ],
)
def test_write_off_bad_input_changes_nothing(
    api: Api, runtime: Runtime, body: dict[str, Any], status: int, category: int
) -> None:
    seeded = seed(runtime, api.tenant.tenant_id, status="Posted")
    response = put(api, url(seeded.hex, "/write-off"), body)
    assert response.status_code == status, response.text
    assert error_code(response) % 100 == category
    assert get(api, url(seeded.hex)).json()["balance"] == 149.99


def test_write_off_needs_every_item(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id, status="Posted")
    other = seed(runtime, api.tenant.tenant_id, status="Posted")
    some = [{"invoiceItemId": to_zuora_id(seeded.item_ids[0])}]
    response = put(api, url(seeded.hex, "/write-off"), {"items": some})
    assert response.status_code == 400
    assert "every item" in response.json()["reasons"][0]["message"]
    foreign = [{"invoiceItemId": to_zuora_id(i)} for i in seeded.item_ids + other.item_ids[:1]]
    response = put(api, url(seeded.hex, "/write-off"), {"items": foreign})
    assert response.status_code == 400
    assert get(api, url(seeded.hex)).json()["balance"] == 149.99


@pytest.mark.parametrize("status", ["Draft", "Canceled"])
def test_write_off_of_an_unposted_invoice_is_refused(
    api: Api, runtime: Runtime, status: str
) -> None:
    seeded = seed(runtime, api.tenant.tenant_id, status=status)
    response = put(api, url(seeded.hex, "/write-off"), {})
    assert response.status_code == 400
    assert error_code(response) == INVOICE_RULE
    assert "only posted invoices" in response.json()["reasons"][0]["message"]


def test_write_off_of_a_zero_invoice_is_refused(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id, status="Posted", amounts=("0",))
    response = put(api, url(seeded.hex, "/write-off"), {})
    assert response.status_code == 400
    assert "zero balance" in response.json()["reasons"][0]["message"]


def test_write_off_malformed_json(api: Api, runtime: Runtime) -> None:
    seeded = seed(runtime, api.tenant.tenant_id, status="Posted")
    response = put(api, url(seeded.hex, "/write-off"), raw='{"comment": ')
    assert response.status_code == 400
    assert error_code(response) % 100 == 90


def test_credit_items_show_negative_amounts(api: Api, runtime: Runtime) -> None:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        make_invoice(
            ctx, billed.account, [monthly(billed.charge, JAN), monthly(billed.charge, FEB)]
        )
        credit = make_invoice(
            ctx,
            billed.account,
            [ItemSpec(billed.charge, date(2026, 2, 15), MAR, Decimal("-50"), is_credit=True)],
        )
        number = credit.invoice_number
    body = get(api, url(number)).json()
    assert (body["amount"], body["balance"]) == (-50, -50)
    item = get(api, url(number, "/items")).json()["invoiceItems"][0]
    assert (item["chargeAmount"], item["serviceStartDate"], item["serviceEndDate"]) == (
        -50,
        "2026-02-15",
        "2026-02-28",
    )


def test_item_balances_with_a_credit_item(api: Api, runtime: Runtime) -> None:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        other = make_subscription(ctx, billed.account)
        invoice = make_invoice(
            ctx,
            billed.account,
            [
                monthly(billed.charge, JAN),
                ItemSpec(other.charge, JAN, FEB, Decimal("-30"), is_credit=True),
            ],
            status="Posted",
        )
        ledger.apply_to_invoice(
            ctx, invoice, ledger.EntryType.PAYMENT, 5000, reference=None, comment=None, source="API"
        )
        number = invoice.invoice_number
    items = get(api, url(number, "/items")).json()["invoiceItems"]
    assert [i["balance"] for i in items] == [50, -30]
    assert put(api, url(number, "/write-off"), {"amount": 20}).status_code == 200
    items = get(api, url(number, "/items")).json()["invoiceItems"]
    assert [i["balance"] for i in items] == [0, 0]
