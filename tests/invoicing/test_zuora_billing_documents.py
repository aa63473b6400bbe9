"""Zuora ``GET /v1/billing-documents``: an account's invoices, filtered, sorted, paged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, get_args

import httpx
import pytest

from billcycle.ids import to_zuora_id
from billcycle.invoicing import service
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from billcycle.zuora.schemas.invoices import DocumentStatus
from tests.invoicing.factories import make_account, make_invoice, make_subscription, monthly
from tests.support.api import Api

PATH = "/zuora/v1/billing-documents"


@dataclass
class Documents:
    account_id: int
    account_number: str
    # invoice number -> (id, invoice date, status)
    invoices: dict[str, tuple[int, date, str]]


def seed(runtime: Runtime, tenant_id: int) -> Documents:
    """Four invoices: Jan (posted, written off), Feb (posted), Mar (draft), Apr (canceled)."""
    with runtime.service_context(tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx))
        invoices = {}
        for month, status in ((1, "Posted"), (2, "Posted"), (3, "Draft"), (4, "Canceled")):
            day = date(2026, month, 1)
            invoice = make_invoice(
                ctx,
                billed.account,
                [monthly(billed.charge, day, f"{month}0.25")],
                status=status,
                invoice_date=day,
            )
            invoices[invoice.invoice_number] = (invoice.id, day, status)
        first = next(iter(invoices.values()))[0]
        service.write_off_invoice(ctx, service.get_invoice(ctx, first))
        return Documents(billed.account.id, billed.account.account_number, invoices)


def get(api: Api, **params: Any) -> httpx.Response:
    return api.client.get(PATH, params=params, headers=api.zuora_headers)


def numbers(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [doc["documentNumber"] for doc in response.json()["documents"]]


def test_list_by_account_id_and_number(api: Api, runtime: Runtime) -> None:
    docs = seed(runtime, api.tenant.tenant_id)
    by_id = get(api, accountId=to_zuora_id(docs.account_id))
    by_number = get(api, accountNumber=docs.account_number)
    assert by_id.json() == by_number.json()
    body = by_id.json()
    assert body["success"] is True
    assert "nextPage" not in body
    expected = sorted(docs.invoices, key=lambda n: docs.invoices[n][1], reverse=True)
    assert numbers(by_id) == expected  # newest first by default
    jan = body["documents"][-1]
    jan_number = expected[-1]
    assert jan == {
        "id": to_zuora_id(docs.invoices[jan_number][0]),
        "documentType": "Invoice",
        "documentNumber": jan_number,
        "documentDate": "2026-01-01",
        "amount": 10.25,
        "balance": 0,
        "accountId": to_zuora_id(docs.account_id),
        "status": "Posted",
        "currency": "USD",
    }
    feb = body["documents"][-2]
    assert (feb["amount"], feb["balance"], feb["status"]) == (20.25, 20.25, "Posted")


def test_filters(api: Api, runtime: Runtime) -> None:
    docs = seed(runtime, api.tenant.tenant_id)
    account = to_zuora_id(docs.account_id)
    posted = [n for n, (_, _, s) in docs.invoices.items() if s == "Posted"]
    assert sorted(numbers(get(api, accountId=account, status="Posted"))) == sorted(posted)
    assert len(numbers(get(api, accountId=account, status="Canceled"))) == 1
    assert numbers(get(api, accountId=account, status="Split")) == []
    march = [n for n, (_, d, _) in docs.invoices.items() if d == date(2026, 3, 1)]
    assert numbers(get(api, accountId=account, documentDate="2026-03-01")) == march
    assert numbers(get(api, accountId=account, documentDate="2026-03-02")) == []


def test_sorting_follows_zuoras_operators(api: Api, runtime: Runtime) -> None:
    docs = seed(runtime, api.tenant.tenant_id)
    account = to_zuora_id(docs.account_id)
    oldest_first = sorted(docs.invoices, key=lambda n: docs.invoices[n][1])
    # Zuora documents "-" as ascending and "+" (or no operator) as descending.
    assert numbers(get(api, accountId=account, sort="-documentDate")) == oldest_first
    assert numbers(get(api, accountId=account, sort="+documentDate")) == oldest_first[::-1]
    assert numbers(get(api, accountId=account, sort="documentDate")) == oldest_first[::-1]
    assert numbers(get(api, accountId=account, sort="-documentNumber")) == sorted(docs.invoices)
    assert numbers(get(api, accountId=account, sort="+documentNumber")) == sorted(
        docs.invoices, reverse=True
    )
    assert numbers(get(api, accountId=account, sort="-documentType,-documentDate")) == oldest_first
    # A raw "+" in a URL arrives as a space.
    raw = api.client.get(
        f"{PATH}?accountId={account}&sort=+documentDate", headers=api.zuora_headers
    )
    assert numbers(raw) == oldest_first[::-1]


def test_paging(api: Api, runtime: Runtime) -> None:
    docs = seed(runtime, api.tenant.tenant_id)
    account = to_zuora_id(docs.account_id)
    everything = numbers(get(api, accountId=account, sort="-documentDate"))
    first = get(api, accountId=account, sort="-documentDate", pageSize=3)
    assert numbers(first) == everything[:3]
    next_page = first.json()["nextPage"]
    assert "page=2" in next_page
    assert "pageSize=3" in next_page
    second = get(api, accountId=account, sort="-documentDate", pageSize=3, page=2)
    assert numbers(second) == everything[3:]
    assert "nextPage" not in second.json()
    assert numbers(get(api, accountId=account, page=3, pageSize=3)) == []
    assert len(numbers(get(api, accountId=account, pageSize=40))) == 4


@pytest.mark.parametrize(
    ("params", "category"),
    [
        ({"pageSize": 0}, 20),
        ({"pageSize": 41}, 20),
        ({"pageSize": "x"}, 20),
        ({"page": 0}, 20),
        ({"sort": "amount"}, 20),
        ({"sort": "-documentDate,+documentNumber,documentType"}, 20),
        ({"sort": "documentDate,-documentDate"}, 20),
        ({"sort": "*documentDate"}, 20),
        ({"sort": ","}, 20),
        ({"status": "Paid"}, 20),
        ({"status": "posted"}, 20),
        ({"documentDate": "2026-02-30"}, 20),
        ({"documentDate": "01/02/2026"}, 20),
        ({"documentDate": "1767225600"}, 20),
    ],
)
def test_bad_parameters_are_400(
    api: Api, runtime: Runtime, params: dict[str, Any], category: int
) -> None:
    docs = seed(runtime, api.tenant.tenant_id)
    response = get(api, accountId=to_zuora_id(docs.account_id), **params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["reasons"][0]["code"] % 100 == category


def test_account_is_required_and_must_be_ours(
    api: Api, runtime: Runtime, other_tenant: NewTenant
) -> None:
    docs = seed(runtime, api.tenant.tenant_id)
    foreign = seed(runtime, other_tenant.tenant_id)
    missing = get(api)
    assert missing.status_code == 400
    assert missing.json()["reasons"][0]["code"] % 100 == 22
    for params in (
        {"accountId": to_zuora_id(foreign.account_id)},
        {"accountId": "0" * 32},
        {"accountId": "not-an-id"},
        {"accountNumber": "A99999999"},
    ):
        response = get(api, **params)
        assert response.status_code == 404, (params, response.text)
        assert response.json()["reasons"][0]["code"] == 50020040
    mismatch = get(api, accountId=to_zuora_id(docs.account_id), accountNumber="A99999999")
    assert mismatch.status_code == 400
    # The other tenant's account number is its own, not ours.
    assert foreign.account_number == docs.account_number
    assert numbers(get(api, accountNumber=foreign.account_number)) == numbers(
        get(api, accountId=to_zuora_id(docs.account_id))
    )


def test_an_account_without_invoices(api: Api, runtime: Runtime) -> None:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        account_number = make_account(ctx).account_number
    assert numbers(get(api, accountNumber=account_number)) == []


def test_every_invoice_status_is_a_status_filter_zuora_knows() -> None:
    """The status filter is Zuora's wider vocabulary; billcycle's invoice statuses must
    all be in it, or an invoice could not be listed by its own status."""
    assert {status.value for status in InvoiceStatus} <= set(get_args(DocumentStatus))
