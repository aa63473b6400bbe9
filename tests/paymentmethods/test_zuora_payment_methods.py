"""``/zuora/v1/payment-methods`` and the accounts' payment fields over HTTP: error
envelopes (Zuora codes by category), isolation, nothing changed by bad input, and no
card number in any answer."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from billcycle.db.bulk import is_postgres
from billcycle.gateways import service as gateways
from billcycle.gateways.inputs import NewGateway
from billcycle.ids import to_zuora_id
from billcycle.paymentmethods import service
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.payments import service as payments
from billcycle.payments.inputs import InvoiceApplication, NewPayment
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.accounts.factories import account_body, add_invoice
from tests.paymentmethods.helpers import configure_gateway, wait_until_blocked
from tests.support.api import Api, api_for

METHODS = "/zuora/v1/payment-methods"
ACCOUNTS = "/zuora/v1/accounts"
CARD = {
    "type": "CreditCard",
    "cardType": "Visa",
    "cardNumber": "4242424242424242",
    "expirationMonth": 3,
    "expirationYear": 2031,
    "securityCode": "737",
}
TOKENS = {
    "type": "CreditCard",
    "tokens": {"tokenId": "tok_visa"},
    "cardMaskNumber": "************4242",
    "cardType": "Visa",
    "expirationMonth": 12,
    "expirationYear": 2030,
}


def assert_error(response: Any, status: int, category: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["reasons"][0]["code"] % 100 == category
    return body


def new_account(api: Api, **overrides: Any) -> str:
    response = api.client.post(ACCOUNTS, json=account_body(**overrides), headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    return str(response.json()["accountNumber"])


def create(api: Api, body: dict[str, Any]) -> Any:
    return api.client.post(METHODS, json=body, headers=api.zuora_headers)


def count(runtime: Runtime, tenant_id: int) -> int:
    with runtime.session_factory() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(PaymentMethod)
                .where(PaymentMethod.tenant_id == tenant_id)
            )
            or 0
        )


def test_a_card_number_without_a_gateway_is_refused(api: Api, runtime: Runtime) -> None:
    account = new_account(api)
    body = assert_error(create(api, {**CARD, "accountKey": account}), 400, 30)
    assert "tokens" in body["reasons"][0]["message"]
    assert count(runtime, api.tenant.tenant_id) == 0


@pytest.mark.usefixtures("remote_gateway_installed")
def test_a_card_number_for_a_gateway_that_cannot_tokenize_is_refused(
    api: Api, runtime: Runtime
) -> None:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        gateway_id = gateways.create_gateway(ctx, NewGateway(name="remote", type="Remote")).id
    account = new_account(api)
    body = assert_error(create(api, {**CARD, "accountKey": account}), 400, 30)
    assert "does not take card numbers" in body["reasons"][0]["message"]
    assert count(runtime, api.tenant.tenant_id) == 0
    # With the gateway's own token and the mask, the card is taken; it cannot be verified.
    created = create(api, {**TOKENS, "accountKey": account, "authGateway": to_zuora_id(gateway_id)})
    method_id = created.json()["id"]
    body = assert_error(
        api.client.put(f"{METHODS}/{method_id}/verify", json={}, headers=api.zuora_headers),
        400,
        30,
    )
    assert "cannot verify" in body["reasons"][0]["message"]


def test_no_answer_repeats_a_card_number(api: Api, runtime: Runtime) -> None:
    configure_gateway(runtime, api.tenant.tenant_id)
    account = new_account(api)
    created = create(api, {**CARD, "accountKey": account})
    assert created.status_code == 200, created.text
    method_id = created.json()["id"]
    answers = [
        created.text,
        api.client.get(f"{METHODS}/{method_id}", headers=api.zuora_headers).text,
        api.client.get(f"{ACCOUNTS}/{account}/payment-methods", headers=api.zuora_headers).text,
        api.client.get(f"{ACCOUNTS}/{account}/summary", headers=api.zuora_headers).text,
    ]
    for answer in answers:
        assert "424242424242" not in answer
        assert "737" not in answer
    # A test card the gateway does not know, and a bad number: refused, not repeated.
    for number in ("4111111111111111", "4242424242424241"):
        body = assert_error(create(api, {**CARD, "cardNumber": number}), 400, 20)
        assert number[:8] not in str(body)
    assert count(runtime, api.tenant.tenant_id) == 1


@pytest.mark.parametrize(
    ("body", "category"),
    [
        ({"cardType": "Visa"}, 22),  # no type
        ({"type": "PayPal"}, 20),
        ({**TOKENS, "cardMaskNumber": None}, 22),
        ({**TOKENS, "expirationMonth": "12"}, 20),  # strict types
        ({**TOKENS, "expirationMonth": 13}, 20),
        ({**TOKENS, "authGateway": "nope"}, 20),
        ({**TOKENS, "authGateway": "0" * 31 + "9"}, 20),
        ({**TOKENS, "makeDefault": True}, 30),  # an orphan cannot be a default
        ({**TOKENS, "accountKey": "A99999999"}, 40),
        (
            {
                "type": "ACH",
                "bankABACode": "011000015",
                "bankAccountName": "A",
                "bankName": "B",
                "bankAccountType": "Checking",
            },
            22,
        ),
        ({"type": "SEPA", "IBAN": "DE89370400440532013000"}, 22),
        ({**TOKENS, "useDefaultRetryRule": False}, 22),
    ],
)
def test_bad_creates_answer_their_category_and_create_nothing(
    api: Api, runtime: Runtime, body: dict[str, Any], category: int
) -> None:
    status = {20: 400, 22: 400, 30: 400, 40: 404}[category]
    assert_error(create(api, {k: v for k, v in body.items() if v is not None}), status, category)
    assert count(runtime, api.tenant.tenant_id) == 0


def test_other_tenants_methods_and_gateways_are_not_seen(
    api: Api, runtime: Runtime, app: Any, other_tenant: NewTenant
) -> None:
    configure_gateway(runtime, api.tenant.tenant_id)
    account = new_account(api)
    method_id = create(api, {**TOKENS, "accountKey": account}).json()["id"]
    other = api_for(api.client, other_tenant)
    for response in (
        other.client.get(f"{METHODS}/{method_id}", headers=other.zuora_headers),
        other.client.put(f"{METHODS}/{method_id}", json={}, headers=other.zuora_headers),
        other.client.delete(f"{METHODS}/{method_id}", headers=other.zuora_headers),
        other.client.put(f"{METHODS}/{method_id}/scrub", headers=other.zuora_headers),
        other.client.put(f"{METHODS}/{method_id}/verify", json={}, headers=other.zuora_headers),
        other.client.get(f"{METHODS}/not-an-id", headers=other.zuora_headers),
        other.client.get(f"{ACCOUNTS}/{account}/payment-methods", headers=other.zuora_headers),
    ):
        assert_error(response, 404, 40)
    gateways = other.client.get("/zuora/v1/payment-gateways", headers=other.zuora_headers)
    assert gateways.json() == {"success": True, "paymentgateways": []}
    mine = api.client.get("/zuora/v1/payment-gateways", headers=api.zuora_headers).json()
    assert [g["name"] for g in mine["paymentgateways"]] == ["test"]
    # An account of the other tenant cannot take this method as its default either.
    other_account = new_account(other)
    response = other.client.put(
        f"{ACCOUNTS}/{other_account}",
        json={"defaultPaymentMethodId": method_id},
        headers=other.zuora_headers,
    )
    assert_error(response, 404, 40)


def test_delete_default_verify_decline_and_scrubbed_method(api: Api, runtime: Runtime) -> None:
    configure_gateway(runtime, api.tenant.tenant_id)
    account = new_account(api)
    default = create(api, {**CARD, "accountKey": account}).json()["id"]
    declining = create(
        api, {**CARD, "accountKey": account, "cardNumber": "4000000000000002"}
    ).json()["id"]
    body = assert_error(
        api.client.delete(f"{METHODS}/{default}", headers=api.zuora_headers), 400, 30
    )
    assert "default" in body["reasons"][0]["message"]
    # A gateway's refusal is an integration error (category 99), as a declined payment is.
    body = assert_error(
        api.client.put(f"{METHODS}/{declining}/verify", json={}, headers=api.zuora_headers),
        402,
        99,
    )
    assert body["reasons"][0]["message"].startswith("Transaction declined.")
    ok = api.client.put(f"{METHODS}/{default}/verify", json={}, headers=api.zuora_headers)
    assert ok.json() == {"success": True, "paymentMethodId": default}
    scrubbed = api.client.put(f"{METHODS}/{declining}/scrub", headers=api.zuora_headers)
    assert scrubbed.json() == {"success": True}
    shown = api.client.get(f"{METHODS}/{declining}", headers=api.zuora_headers).json()
    assert shown["status"] == "Scrubbed"
    assert "cardNumber" not in shown
    assert_error(
        api.client.put(
            f"{METHODS}/{declining}", json={"expirationMonth": 1}, headers=api.zuora_headers
        ),
        400,
        30,
    )
    listed = api.client.get(
        f"{ACCOUNTS}/{account}/payment-methods", headers=api.zuora_headers
    ).json()
    assert [m["id"] for m in listed["creditcard"]] == [default]
    assert listed["defaultPaymentMethodId"] == default


def test_update_resets_failures_and_attaches_an_orphan(api: Api, runtime: Runtime) -> None:
    account = new_account(api)
    orphan = create(api, TOKENS).json()["id"]
    shown = api.client.get(f"{METHODS}/{orphan}", headers=api.zuora_headers).json()
    assert "accountId" not in shown  # an orphan: null, left out as Zuora leaves nulls out
    assert shown["isDefault"] is False
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        service.get_method(ctx, int(orphan, 16)).num_consecutive_failures = 2
    assert_error(
        api.client.put(
            f"{METHODS}/{orphan}", json={"numConsecutiveFailures": 1}, headers=api.zuora_headers
        ),
        400,
        20,
    )
    response = api.client.put(
        f"{METHODS}/{orphan}",
        json={"accountKey": account, "numConsecutiveFailures": 0},
        headers=api.zuora_headers,
    )
    assert response.json() == {"success": True, "id": orphan}
    shown = api.client.get(f"{METHODS}/{orphan}", headers=api.zuora_headers).json()
    assert shown["numConsecutiveFailures"] == 0
    assert shown["isDefault"] is True
    default = api.client.get(
        f"{ACCOUNTS}/{account}/payment-methods/default", headers=api.zuora_headers
    ).json()
    assert default["id"] == orphan


def test_account_payment_fields(api: Api, runtime: Runtime) -> None:
    configure_gateway(runtime, api.tenant.tenant_id, "main")
    # autoPay without a payment method, a card and a method together, an unknown gateway.
    for body, category in (
        (account_body(autoPay=True), 20),
        (account_body(creditCard=CARD, paymentMethod=TOKENS), 20),
        (account_body(paymentGateway="nope"), 20),
        (account_body(hpmCreditCardPaymentMethodId="x"), 20),
    ):
        assert_error(api.client.post(ACCOUNTS, json=body, headers=api.zuora_headers), 400, category)
    with runtime.session_factory() as session:
        from billcycle.accounts.models import Account

        assert not session.scalar(
            select(func.count())
            .select_from(Account)
            .where(Account.tenant_id == api.tenant.tenant_id)
        )
    assert count(runtime, api.tenant.tenant_id) == 0

    account = new_account(api, paymentGateway="main")
    detail = api.client.get(f"{ACCOUNTS}/{account}", headers=api.zuora_headers).json()
    assert detail["billingAndPayment"]["paymentGateway"] == "main"
    assert detail["billingAndPayment"]["defaultPaymentMethodId"] is None
    # autoPay on an account without a default method is refused, and changes nothing.
    refused = api.client.put(
        f"{ACCOUNTS}/{account}", json={"autoPay": True, "notes": "x"}, headers=api.zuora_headers
    )
    assert_error(refused, 400, 20)
    detail = api.client.get(f"{ACCOUNTS}/{account}", headers=api.zuora_headers).json()
    assert detail["basicInfo"]["notes"] is None
    first = create(api, {**TOKENS, "accountKey": account}).json()["id"]
    second = create(api, {**TOKENS, "accountKey": account}).json()["id"]
    updated = api.client.put(
        f"{ACCOUNTS}/{account}",
        json={"autoPay": True, "defaultPaymentMethodId": second, "paymentGateway": None},
        headers=api.zuora_headers,
    )
    assert updated.status_code == 200, updated.text
    detail = api.client.get(f"{ACCOUNTS}/{account}", headers=api.zuora_headers).json()
    billing = detail["billingAndPayment"]
    assert (billing["autoPay"], billing["defaultPaymentMethodId"]) == (True, second)
    assert billing["paymentGateway"] is None
    # The autopay account's default cannot be scrubbed; the other method can go.
    assert_error(api.client.put(f"{METHODS}/{second}/scrub", headers=api.zuora_headers), 400, 30)
    assert api.client.delete(f"{METHODS}/{first}", headers=api.zuora_headers).json() == {
        "success": True
    }


def test_summary_shows_the_default_method_and_the_last_payment(api: Api, runtime: Runtime) -> None:
    account = new_account(api)
    method_id = create(api, {**TOKENS, "accountKey": account}).json()["id"]
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        from billcycle.accounts import service as accounts

        acct = accounts.find_account(ctx, account_id=None, number=account)
        invoice = add_invoice(ctx, acct, amount_minor=5_000)
        payment = payments.create_payment(
            ctx,
            NewPayment(
                account_id=acct.id,
                amount=Decimal("80.00"),
                currency="USD",
                invoices=(InvoiceApplication(invoice_id=invoice.id, amount=Decimal("30.00")),),
            ),
        )
        invoice_number = invoice.invoice_number
    summary = api.client.get(f"{ACCOUNTS}/{account}/summary", headers=api.zuora_headers).json()
    basic = summary["basicInfo"]
    assert basic["defaultPaymentMethod"] == {
        "id": method_id,
        "paymentMethodType": "CreditCard",
        "creditCardNumber": "************4242",
        "creditCardType": "Visa",
        "creditCardExpirationMonth": "12",
        "creditCardExpirationYear": "2030",
    }
    assert basic["lastPaymentAmount"] == "80.00"
    assert basic["lastPaymentDate"] == str(payment.effective_date)
    assert summary["payments"] == [
        {
            "id": to_zuora_id(payment.id),
            "paymentNumber": payment.number,
            "paymentType": "External",
            "status": "Processed",
            "effectiveDate": str(payment.effective_date),
            "paidInvoices": [
                {
                    "invoiceId": to_zuora_id(invoice.id),
                    "invoiceNumber": invoice_number,
                    "appliedPaymentAmount": "30.00",
                }
            ],
        }
    ]


def test_a_default_change_racing_another_is_a_409_lock_contention(
    api: Api, runtime: Runtime
) -> None:
    with runtime.session_factory() as session:
        if not is_postgres(session):
            pytest.skip("SQLite has one writer: the second change waits, then wins")
    account = new_account(api)
    ids = [create(api, {**TOKENS, "accountKey": account}).json()["id"] for _ in range(3)]
    answers: list[Any] = []

    def put_default() -> None:
        answers.append(
            api.client.put(
                f"{ACCOUNTS}/{account}",
                json={"defaultPaymentMethodId": ids[2]},
                headers=api.zuora_headers,
            )
        )

    thread = threading.Thread(target=put_default)
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        service.make_default(ctx, service.get_method(ctx, int(ids[1], 16)))
        thread.start()
        wait_until_blocked(runtime)
    thread.join(timeout=30)
    assert_error(answers[0], 409, 50)
    listed = api.client.get(f"{ACCOUNTS}/{account}/payment-methods", headers=api.zuora_headers)
    assert listed.json()["defaultPaymentMethodId"] == ids[1]


def test_an_account_with_payment_methods_can_be_deleted(api: Api, runtime: Runtime) -> None:
    account = new_account(api)
    create(api, {**TOKENS, "accountKey": account})
    create(api, {**TOKENS, "accountKey": account})
    deleted = api.client.delete(f"{ACCOUNTS}/{account}", headers=api.zuora_headers)
    assert deleted.status_code == 200, deleted.text
    assert count(runtime, api.tenant.tenant_id) == 0
