"""Fusebill's customer billing settings (``GET /v1/customerbillingsetting/{id}``,
``PUT /v1/customerbillingsetting``) drive dunning per customer: an exempt customer is
neither dunned nor collected, and putting the setting back resumes both; the grace period
and auto collect are the account's. Bad input answers Fusebill's envelope and changes
nothing. Through the app over HTTP, both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.collections.helpers import dunning_customer, event_types, move_to
from tests.paymentruns.helpers import add_method, balance, default_gateway, payments_of
from tests.support.api import Api, api_for

SETTINGS = "/fusebill/v1/customerbillingsetting"


def _get(api: Api, customer_id: int | str) -> httpx.Response:
    return api.client.get(f"{SETTINGS}/{customer_id}", headers=api.fusebill_headers)


def _put(api: Api, body: Any) -> httpx.Response:
    return api.client.put(SETTINGS, json=body, headers=api.fusebill_headers)


def _settings(api: Api, customer_id: int) -> dict[str, Any]:
    response = _get(api, customer_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _changed(api: Api, settings: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """PUT the settings read with ``changes`` (Fusebill's read-modify-write)."""
    response = _put(api, {**settings, **changes})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body == {**settings, **changes}
    assert _settings(api, settings["id"]) == body
    return body


def _customer_status(api: Api, customer_id: int) -> tuple[str, str]:
    body = api.client.get(
        f"/fusebill/v1/customers/{customer_id}", headers=api.fusebill_headers
    ).json()
    return body["accountStatus"], body["status"]


def test_an_exempt_customer_is_neither_dunned_nor_collected_until_put_back(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    default_gateway(runtime, t)
    customer = dunning_customer(api, runtime, jobs)
    add_method(runtime, t, customer.account_id, "tok_visa")  # a card that would pay
    settings = _settings(api, customer.account_id)
    assert settings == {
        "id": customer.account_id,
        "invoiceDay": -1,
        "term": "Net30",
        "interval": "Monthly",
        "autoCollect": True,
        "autoCollectSettingType": None,
        "dunningExempt": False,
        "rechargeType": "",
        "rechargeThresholdAmount": None,
        "rechargeTargetAmount": None,
        "statusOnThreshold": None,
        "autoPostDraftInvoice": None,
        "hasPaymentMethod": True,
        "customerGracePeriod": None,
        "gracePeriodExtension": None,
        "standingPo": None,
        "acquisitionCost": 0.0,
    }
    settings = _changed(api, settings, dunningExempt=True)

    # Past every attempt day and the grace period: nothing charged, standing untouched.
    for offset in (1, 3, 5, 8):
        move_to(clock, jobs, customer.due_date + timedelta(days=offset))
    assert payments_of(runtime, t) == []
    assert balance(runtime, t, customer.invoice_id) == 3000
    assert _customer_status(api, customer.account_id) == ("Good", "Active")
    assert event_types(runtime, t, customer.account_id) == []

    # Put back: the next day's evaluation dunns it and collects the overdue invoice.
    _changed(api, settings, dunningExempt=False)
    move_to(clock, jobs, customer.due_date + timedelta(days=9))
    assert [p.status for p in payments_of(runtime, t)] == ["Processed"]
    assert balance(runtime, t, customer.invoice_id) == 0
    kinds = [kind for kind, _ in event_types(runtime, t, customer.account_id)]
    assert "Attempt" in kinds
    assert "PaymentSucceeded" in kinds
    assert _customer_status(api, customer.account_id) == ("Good", "Active")


def test_grace_period_auto_collect_and_term_are_the_accounts(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    customer = dunning_customer(api, runtime, jobs)  # auto-pay, no payment method yet
    settings = _settings(api, customer.account_id)
    assert (settings["autoCollect"], settings["hasPaymentMethod"]) == (True, False)

    # Auto collect off: dunned (poor standing) but never attempted.
    settings = _changed(api, settings, autoCollect=False, customerGracePeriod=2)
    move_to(clock, jobs, customer.due_date + timedelta(days=1))
    assert _customer_status(api, customer.account_id) == ("PoorStanding", "Active")
    # The customer's own grace period: suspended two days into poor standing (the tenant's
    # is seven).
    move_to(clock, jobs, customer.due_date + timedelta(days=3))
    assert _customer_status(api, customer.account_id) == ("PoorStanding", "Suspended")
    kinds = [kind for kind, _ in event_types(runtime, t, customer.account_id)]
    assert "Attempt" not in kinds
    assert "Suspended" in kinds

    # Auto collect needs a payment method on file: 409, nothing changes.
    refused = _put(api, {**settings, "autoCollect": True, "term": "Net15"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["HttpStatusCode"] == 409
    assert _settings(api, customer.account_id) == settings
    add_method(runtime, t, customer.account_id, "tok_visa")
    settings = {**settings, "hasPaymentMethod": True}
    # Names match case-insensitively; null grace is the tenant's again; the term is the
    # account's payment term (future invoices fall due by it).
    answer = _put(
        api,
        {
            "ID": customer.account_id,
            "AutoCollect": True,
            "term": "net15",
            "customerGracePeriod": None,
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        **settings,
        "autoCollect": True,
        "term": "Net15",
        "customerGracePeriod": None,
    }
    zuora = api.client.get(
        f"/zuora/v1/accounts/{customer.account_number}", headers=api.zuora_headers
    ).json()
    assert (zuora["billingAndPayment"]["paymentTerm"], zuora["billingAndPayment"]["autoPay"]) == (
        "Net 15",
        True,
    )


def test_bad_settings_change_nothing(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, other_tenant: NewTenant
) -> None:
    customer = dunning_customer(api, runtime, jobs)
    c = customer.account_id
    before = _settings(api, c)
    # Fusebill's own sample spells the path CustomerBillingSetting: paths are case-insensitive.
    spelled = api.client.get(
        f"/fusebill/v1/CustomerBillingSetting/{c}", headers=api.fusebill_headers
    )
    assert spelled.json() == before
    bad: list[tuple[Any, int]] = [
        ({}, 400),  # no id
        ({"id": "twelve"}, 400),
        ({"id": 0}, 400),
        ({"id": c, "dunningExempt": "yes"}, 400),
        ({"id": c, "dunningExempt": True, "term": "Net7"}, 400),  # no such term here
        ({"id": c, "dunningExempt": True, "term": 30}, 400),
        ({"id": c, "dunningExempt": True, "customerGracePeriod": -1}, 400),
        ({"id": c, "dunningExempt": True, "customerGracePeriod": 100000}, 400),
        ({"id": c, "dunningExempt": True, "customerGracePeriod": 1.5}, 400),
        ({"id": c, "dunningExempt": True, "acquisitionCost": 25}, 400),  # not kept
        ({"id": c, "dunningExempt": True, "rechargeType": "BringBalanceBackToTarget"}, 400),
        ({"id": c, "dunningExempt": True, "gracePeriodExtension": 3}, 400),
        ({"id": c, "dunningExempt": True, "standingPo": "PO-1"}, 400),
        ({"id": c, "dunningExempt": True, "autoCollectSettingType": "Threshold"}, 400),
        ([{"id": c}], 400),
        ({"id": 987654321, "dunningExempt": True}, 404),
    ]
    for body, status in bad:
        response = _put(api, body)
        assert response.status_code == status, (body, response.text)
        envelope = response.json()
        assert envelope["HttpStatusCode"] == status
        assert envelope["Errors"][0]["Key"] == "Api Error"
    raw = api.client.put(
        SETTINGS,
        content=b"{not json",
        headers={**api.fusebill_headers, "Content-Type": "application/json"},
    )
    assert raw.status_code == 400
    assert _settings(api, c) == before
    # Another tenant sees no such customer, and cannot change it.
    other = api_for(api.client, other_tenant)
    assert _get(other, c).status_code == 404
    assert _put(other, {**before, "dunningExempt": True}).status_code == 404
    assert _get(api, "abc").status_code in (400, 404)
    assert _get(api, 987654321).status_code == 404
    unauthenticated = api.client.put(SETTINGS, json={**before, "dunningExempt": True})
    assert unauthenticated.status_code == 401
    assert _settings(api, c) == before
