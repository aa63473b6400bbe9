"""One wire form for amounts and dates across the Zuora dialect.

Accounts, subscriptions and invoices once had a number type each, and catalog, invoices
and subscriptions a date type each; now ``zuora/schemas/base.py`` holds one of each. These
tests pin the bytes: a whole amount keeps its decimal point (``1000.0``, never ``1000``),
even in a currency without minor units and for whole quantities and prices, and every
endpoint refuses a malformed date with the same words.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from billcycle.ids import to_zuora_id
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.runtime import Runtime
from tests.invoicing.factories import make_account, make_invoice, make_subscription, monthly
from tests.support.api import Api

JAN = date(2026, 1, 1)


def _get(api: Api, path: str) -> httpx.Response:
    response = api.client.get(f"/zuora{path}", headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    return response


def _seed_yen(runtime: Runtime, tenant_id: int) -> tuple[str, str, str]:
    """A JPY account (no minor units: stored amounts have no decimals at all) with a
    subscription at a whole price and a posted invoice of it."""
    with runtime.service_context(tenant_id) as ctx:
        billed = make_subscription(ctx, make_account(ctx, currency="JPY"), price=Decimal(1000))
        invoice = make_invoice(
            ctx,
            billed.account,
            [monthly(billed.charge, JAN, "1000")],
            status=InvoiceStatus.POSTED,
        )
        return (
            billed.account.account_number,
            billed.subscription.subscription_number,
            to_zuora_id(invoice.id),
        )


def test_whole_amounts_keep_their_decimal_point_on_every_endpoint(
    api: Api, runtime: Runtime
) -> None:
    account, subscription, invoice = _seed_yen(runtime, api.tenant.tenant_id)

    # invoices (and their items: whole quantities and unit prices too)
    body = _get(api, f"/v1/invoices/{invoice}").text
    assert '"amount":1000.0,' in body
    assert '"taxAmount":0.0,' in body
    assert '"balance":1000.0,' in body
    items = _get(api, f"/v1/invoices/{invoice}/items").text
    assert '"chargeAmount":1000.0,' in items
    assert '"quantity":1.0,' in items
    assert '"unitPrice":1000.0,' in items
    documents = api.client.get(
        "/zuora/v1/billing-documents",
        params={"accountNumber": account},
        headers=api.zuora_headers,
    )
    assert '"amount":1000.0,' in documents.text, documents.text

    # accounts
    detail = _get(api, f"/v1/accounts/{account}").text
    assert '"totalInvoiceBalance":1000.0' in detail
    assert '"creditBalance":0.0' in detail
    summary = _get(api, f"/v1/accounts/{account}/summary").text
    assert '"amount":1000.0,' in summary

    # subscriptions
    sub = _get(api, f"/v1/subscriptions/{subscription}").text
    assert '"price":1000.0' in sub
    assert '"quantity":1.0' in sub


def _bad_date(api: Api, method: str, path: str, body: dict[str, Any]) -> str:
    response = api.client.request(method, f"/zuora{path}", json=body, headers=api.zuora_headers)
    assert response.status_code == 400, response.text
    answer = response.json()
    # The REST API answers in ``reasons``, the object API in ``Errors``.
    message: str = (
        answer["reasons"][0]["message"] if "reasons" in answer else answer["Errors"][0]["Message"]
    )
    return message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("31-01-2026", "use a date in yyyy-mm-dd format"),
        ("2026-01-31T00:00:00", "use a date in yyyy-mm-dd format"),
        ("2026-02-30", "day is out of range for month"),
    ],
)
def test_every_endpoint_refuses_a_malformed_date_in_the_same_words(
    api: Api, runtime: Runtime, value: str, reason: str
) -> None:
    _, subscription, invoice = _seed_yen(runtime, api.tenant.tenant_id)
    messages = {
        "invoices": _bad_date(api, "PUT", f"/v1/invoices/{invoice}/post", {"invoiceDate": value}),
        "subscriptions": _bad_date(
            api,
            "PUT",
            f"/v1/subscriptions/{subscription}/cancel",
            {"cancellationPolicy": "SpecificDate", "cancellationEffectiveDate": value},
        ),
        "catalog": _bad_date(
            api,
            "POST",
            "/v1/object/product",
            {"Name": "Gold", "EffectiveStartDate": value, "EffectiveEndDate": "2030-01-01"},
        ),
    }
    for endpoint, message in messages.items():
        assert message.endswith(f"Value error, {reason}."), (endpoint, message)


def test_dates_may_come_with_blanks_around_them(api: Api, runtime: Runtime) -> None:
    _, subscription, _ = _seed_yen(runtime, api.tenant.tenant_id)
    response = api.client.get(
        f"/zuora/v1/subscriptions/{subscription}",
        params={"as-of-date": " 2026-01-15 "},
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
