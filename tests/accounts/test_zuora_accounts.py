"""``/zuora/v1/accounts`` over HTTP: shapes, keys, and every kind of bad input."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from billcycle.accounts import service
from billcycle.accounts.models import Account
from billcycle.db.session import unit_of_work
from billcycle.ids import to_zuora_id
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant
from tests.accounts.factories import (
    account_body,
    add_invoice,
    add_subscription,
    apply_to_invoice,
    new_account,
)
from tests.support.api import Api

URL = "/zuora/v1/accounts"


def post(api: Api, body: Any) -> Any:
    return api.client.post(URL, json=body, headers=api.zuora_headers)


def get(api: Api, key: str, suffix: str = "") -> Any:
    return api.client.get(f"{URL}/{key}{suffix}", headers=api.zuora_headers)


def assert_error(response: Any, status: int, category: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["reasons"][0]["code"] % 100 == category
    return body


def account_count(api: Api, runtime: Runtime) -> int:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        count = ctx.session.scalar(
            select(func.count()).select_from(Account).where(Account.tenant_id == ctx.tenant_id)
        )
        return int(count or 0)


def test_create_answers_ids_and_numbers(api: Api) -> None:
    response = post(api, account_body())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["accountNumber"] == "A00000001"
    assert len(body["accountId"]) == 32
    assert int(body["accountId"], 16) > 0
    assert len(body["billToContactId"]) == 32
    assert body["soldToContactId"] != body["billToContactId"]


def test_get_by_id_and_by_number(api: Api) -> None:
    created = post(
        api,
        account_body(
            batch="Batch7",
            paymentTerm="Net 30",
            autoPay=True,
            # Zuora: an autopay account is created with its default payment method.
            paymentMethod={
                "type": "CreditCard",
                "tokens": {"tokenId": "tok_visa"},
                "cardMaskNumber": "************4242",
                "cardType": "Visa",
                "expirationMonth": 12,
                "expirationYear": 2030,
            },
            crmId="crm-42",
            notes="VIP",
            soldToSameAsBillTo=True,
        ),
    ).json()
    by_id = get(api, created["accountId"])
    by_number = get(api, "A00000001")
    assert by_id.status_code == 200, by_id.text
    assert by_id.json() == by_number.json()
    body = by_id.json()
    assert body["success"] is True
    assert body["basicInfo"] == {
        "id": created["accountId"],
        "name": "Acme Corp",
        "accountNumber": "A00000001",
        "notes": "VIP",
        "status": "Active",
        "crmId": "crm-42",
        "batch": "Batch7",
        "invoiceTemplateId": None,
        "communicationProfileId": None,
        "parentId": None,
        "salesRep": None,
    }
    billing = body["billingAndPayment"]
    assert billing["billCycleDay"] == 1
    assert billing["currency"] == "USD"
    assert billing["paymentTerm"] == "Net 30"
    assert billing["autoPay"] is True
    assert body["metrics"] == {
        "balance": 0.0,
        "currency": "USD",
        "totalInvoiceBalance": 0.0,
        "creditBalance": 0.0,
        "unappliedPaymentAmount": 0.0,
        "contractedMrr": 0.0,
    }
    bill_to = body["billToContact"]
    assert bill_to["id"] == created["billToContactId"]
    assert bill_to["firstName"] == "Ada"
    assert bill_to["zipCode"] == "94105"
    assert bill_to["country"] == "United States"
    assert body["soldToContact"] == bill_to


def test_get_shows_balances_from_posted_invoices(api: Api, runtime: Runtime) -> None:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        account = new_account(ctx)
        invoice = add_invoice(ctx, account, amount_minor=12_345)
        add_invoice(ctx, account, amount_minor=999, status="Draft")
        apply_to_invoice(ctx, invoice, 2_345)
    metrics = get(api, account.account_number).json()["metrics"]
    assert metrics["balance"] == 100.0
    assert metrics["totalInvoiceBalance"] == 100.0


def test_update_then_read_back(api: Api) -> None:
    created = post(api, account_body(crmId="crm-1")).json()
    response = api.client.put(
        f"{URL}/{created['accountId']}",
        json={
            "name": "Renamed",
            "billCycleDay": 15,
            "batch": "Batch50",
            "paymentTerm": "Net 60",
            "crmId": None,
            "billToContact": {"city": "Paris", "country": "France"},
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    body = get(api, "A00000001").json()
    assert body["basicInfo"]["name"] == "Renamed"
    assert body["basicInfo"]["crmId"] is None
    assert body["basicInfo"]["batch"] == "Batch50"
    assert body["billingAndPayment"]["billCycleDay"] == 15
    assert body["billingAndPayment"]["paymentTerm"] == "Net 60"
    assert body["billToContact"]["city"] == "Paris"
    assert body["billToContact"]["firstName"] == "Ada"
    assert body["soldToContact"]["city"] == "San Francisco"


def test_summary(api: Api, runtime: Runtime) -> None:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        account = new_account(ctx)
        invoice = add_invoice(ctx, account, amount_minor=5_000)
        apply_to_invoice(ctx, invoice, 1_000)
        subscription = add_subscription(ctx, account)
        plan = subscription.rate_plans[0]
    response = get(api, account.account_number, "/summary")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["basicInfo"]["balance"] == "40.00"
    assert body["basicInfo"]["lastInvoiceDate"] == "2026-01-01"
    assert body["basicInfo"]["batch"] == "Batch1"
    assert body["invoices"] == [
        {
            "id": to_zuora_id(invoice.id),
            "invoiceNumber": invoice.invoice_number,
            "invoiceDate": "2026-01-01",
            "dueDate": "2026-01-01",
            "amount": 50.0,
            "balance": 40.0,
            "status": "Posted",
        }
    ]
    [sub] = body["subscriptions"]
    assert sub["id"] == to_zuora_id(subscription.id)
    assert sub["subscriptionNumber"] == subscription.subscription_number
    assert sub["initialTerm"] == "12"
    assert sub["termEndDate"] == "2027-01-01"
    assert sub["ratePlans"] == [
        {
            "productId": to_zuora_id(plan.product_id),
            "productName": "Gold",
            "productRatePlanId": to_zuora_id(plan.product_rate_plan_id),
            "productSku": plan.product_sku,
            "ratePlanName": "Gold Monthly",
        }
    ]
    assert body["payments"] == []
    assert body["usage"] == []
    assert body["billToContact"]["lastName"] == "Lovelace"


def test_delete(api: Api, runtime: Runtime) -> None:
    created = post(api, account_body()).json()
    response = api.client.delete(f"{URL}/A00000001", headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "success": True,
        "id": created["accountId"],
        "jobStatus": "Completed",
    }
    assert_error(get(api, created["accountId"]), 404, 40)
    assert_error(api.client.delete(f"{URL}/A00000001", headers=api.zuora_headers), 404, 40)


def test_delete_refused_with_posted_invoices(api: Api, runtime: Runtime) -> None:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        account = new_account(ctx)
        add_invoice(ctx, account, amount_minor=100)
    response = api.client.delete(f"{URL}/{account.account_number}", headers=api.zuora_headers)
    body = assert_error(response, 400, 30)
    assert "posted invoices" in body["reasons"][0]["message"]
    assert get(api, account.account_number).status_code == 200


@pytest.mark.parametrize(
    ("body", "category"),
    [
        (account_body(name=None), 20),
        ({k: v for k, v in account_body().items() if k != "name"}, 22),
        ({k: v for k, v in account_body().items() if k != "billToContact"}, 22),
        ({k: v for k, v in account_body().items() if k != "billCycleDay"}, 22),
        (account_body(billToContact={"firstName": "A"}), 22),
        (account_body(currency="XYZ"), 20),
        (account_body(currency="US"), 20),
        (account_body(billCycleDay=32), 20),
        (account_body(billCycleDay="15"), 20),
        (account_body(billCycleDay=1.5), 20),
        (account_body(batch="Batch51"), 20),
        (account_body(batch="Batch0"), 20),
        (account_body(batch="Gold"), 20),
        (account_body(batch=3), 20),
        (account_body(paymentTerm="Net 31"), 20),
        (account_body(autoPay="yes"), 20),
        (account_body(status="Canceled"), 20),
        (account_body(name="x" * 256), 20),
        (account_body(billToContact={"firstName": "A", "lastName": "B", "country": "XX"}), 20),
        (account_body(billToContact={"firstName": "A", "lastName": "B", "workEmail": "a"}), 20),
        ([], 20),
        ("not an object", 20),
    ],
)
def test_create_rejects_bad_input(api: Api, runtime: Runtime, body: Any, category: int) -> None:
    assert_error(post(api, body), 400, category)
    assert account_count(api, runtime) == 0


def test_create_rejects_malformed_json(api: Api, runtime: Runtime) -> None:
    response = api.client.post(
        URL,
        content=b'{"name": "Acme", ',
        headers={**api.zuora_headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400, 90)
    assert account_count(api, runtime) == 0


def test_duplicate_account_number(api: Api) -> None:
    assert post(api, account_body(accountNumber="CUST-1")).status_code == 200
    body = assert_error(post(api, account_body(accountNumber="CUST-1")), 400, 20)
    assert "already exists" in body["reasons"][0]["message"]
    assert get(api, "CUST-1").json()["basicInfo"]["accountNumber"] == "CUST-1"


def test_unknown_fields_rejected_on_request(api: Api) -> None:
    response = api.client.post(
        f"{URL}?rejectUnknownFields=true",
        json=account_body(favouriteColour="blue"),
        headers=api.zuora_headers,
    )
    body = assert_error(response, 400, 21)
    assert "favouriteColour" in body["reasons"][0]["message"]
    # Ignored by default, as Zuora does.
    assert post(api, account_body(favouriteColour="blue")).status_code == 200


@pytest.mark.parametrize(
    "key", ["A99999999", "0" * 31 + "f", "ffffffffffffffffffffffffffffffff", "nope"]
)
def test_unknown_keys_answer_404(api: Api, key: str) -> None:
    post(api, account_body())
    assert_error(get(api, key), 404, 40)
    assert_error(get(api, key, "/summary"), 404, 40)
    assert_error(
        api.client.put(f"{URL}/{key}", json={"name": "x"}, headers=api.zuora_headers), 404, 40
    )
    assert_error(api.client.delete(f"{URL}/{key}", headers=api.zuora_headers), 404, 40)


def test_other_tenants_accounts_are_not_found(api: Api, runtime: Runtime) -> None:
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other")
    with runtime.service_context(other.tenant_id) as ctx:
        theirs = new_account(ctx, account_number="THEIRS")
    for key in (to_zuora_id(theirs.id), "THEIRS"):
        assert_error(get(api, key), 404, 40)
        assert_error(get(api, key, "/summary"), 404, 40)
        response = api.client.put(f"{URL}/{key}", json={"name": "x"}, headers=api.zuora_headers)
        assert_error(response, 404, 40)
        assert_error(api.client.delete(f"{URL}/{key}", headers=api.zuora_headers), 404, 40)
    with runtime.service_context(other.tenant_id) as ctx:
        assert service.require_account(ctx, theirs.id).name == "Acme Corp"


@pytest.mark.parametrize(
    ("body", "category"),
    [
        ({"billCycleDay": 32}, 20),
        ({"billCycleDay": "1"}, 20),
        ({"batch": "Batch51"}, 20),
        ({"paymentTerm": "Monthly"}, 20),
        ({"currency": "XYZ"}, 20),
        ({"status": "Draft"}, 30),
        ({"name": ""}, 22),
        ({"billToContact": {"lastName": ""}}, 22),
        ({"soldToContact": {"workEmail": "not-an-email"}}, 20),
        ({"autoPay": 1}, 20),
    ],
)
def test_update_rejects_bad_input_and_changes_nothing(
    api: Api, body: dict[str, Any], category: int
) -> None:
    post(api, account_body())
    before = get(api, "A00000001").json()
    response = api.client.put(
        f"{URL}/A00000001", json={"notes": "changed", **body}, headers=api.zuora_headers
    )
    assert_error(response, 400, category)
    assert get(api, "A00000001").json() == before


def test_update_rejects_malformed_json(api: Api) -> None:
    post(api, account_body())
    response = api.client.put(
        f"{URL}/A00000001",
        content=b"{nope",
        headers={**api.zuora_headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400, 90)


def test_currency_change_refused_once_invoiced(api: Api, runtime: Runtime) -> None:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        account = new_account(ctx)
        add_invoice(ctx, account, amount_minor=100, status="Draft")
    response = api.client.put(
        f"{URL}/{account.account_number}", json={"currency": "EUR"}, headers=api.zuora_headers
    )
    assert_error(response, 400, 30)
    assert get(api, account.account_number).json()["billingAndPayment"]["currency"] == "USD"


def test_requires_authentication(api: Api) -> None:
    assert_error(api.client.post(URL, json=account_body()), 401, 11)
    assert_error(api.client.get(f"{URL}/A00000001"), 401, 11)
