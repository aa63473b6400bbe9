"""POST /zuora/v1/accounts on PostgreSQL writes the account, its contacts and its
``account.created`` event in one statement, and checks the token by the audit row's
statement at the unit's end: the event must read as ``events.emit`` writes it (SQLite
still emits it), and a revoked token must still stop the request before anything stays."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import func, inspect, select, text, update

from billcycle.accounts import service
from billcycle.accounts.inputs import ContactInput, NewAccount
from billcycle.accounts.models import Account
from billcycle.audit.models import AuditEvent
from billcycle.events.models import Event
from billcycle.events.payloads import json_value
from billcycle.paymentmethods.inputs import AccountPaymentSetup, NewPaymentMethod
from billcycle.paymentmethods.statuses import PaymentMethodType
from billcycle.runtime import Runtime
from billcycle.tenancy.models import OAuthClient
from tests.support.api import Api

ACCOUNT = {
    "name": "Ada's account",
    "currency": "USD",
    "billCycleDay": 7,
    "notes": 'quotes " and \\ backslash, \u00e9',
    "billToContact": {"firstName": "Ada", "lastName": "Lovelace", "workEmail": "a@x.io"},
}


def _counts(runtime: Runtime, tenant_id: int) -> tuple[int, int]:
    with runtime.service_context(tenant_id) as ctx:
        accounts = ctx.session.scalar(
            select(func.count()).select_from(Account).where(Account.tenant_id == tenant_id)
        )
        events = ctx.session.scalar(
            select(func.count()).select_from(Event).where(Event.tenant_id == tenant_id)
        )
    return int(accounts or 0), int(events or 0)


def test_the_created_event_reads_as_emit_writes_it(api: Api, runtime: Runtime) -> None:
    for sold_to in (None, {"firstName": "Bob", "lastName": "Byron"}):
        body: dict[str, Any] = {**ACCOUNT}
        if sold_to is not None:
            body["soldToContact"] = sold_to
        response = api.client.post("/zuora/v1/accounts", json=body, headers=api.zuora_headers)
        assert response.status_code == 200, response.text
        account_id = int(response.json()["accountId"], 16)
        with runtime.service_context(api.tenant.tenant_id) as ctx:
            account = ctx.session.get(Account, account_id)
            assert account is not None
            event = ctx.session.scalars(
                select(Event).where(Event.object_id == account_id, Event.type == "account.created")
            ).one()
            stored = ctx.session.execute(
                text("SELECT payload FROM events WHERE id = :id"), {"id": event.id}
            ).scalar()
            columns = [attr.key for attr in inspect(Account).column_attrs]
        assert event.tenant_id == api.tenant.tenant_id
        assert event.object_type == "account"
        assert event.fanned_out is False
        data = event.payload["object"]
        assert list(event.payload) == ["object"]
        # The account's own values and the ids its statement drew, in column order.
        assert list(data) == [key for key in columns if key in data]
        assert {"id", "bill_to_contact_id", "sold_to_contact_id", "account_number"} <= set(data)
        assert "tenant_id" not in data
        for key, value in data.items():
            assert value == json_value(getattr(account, key)), key
        assert data["id"] == account_id
        assert data["sold_to_contact_id"] != data["bill_to_contact_id"]
        # The stored text is json.dumps's, as the JSON column writes a dict.
        text_form = stored if isinstance(stored, str) else json.dumps(stored)
        assert json.loads(text_form) == event.payload
        if runtime.engine.dialect.name == "postgresql":
            assert text_form == json.dumps(event.payload)


def test_a_revoked_token_creates_nothing(api: Api, runtime: Runtime) -> None:
    first = api.client.post("/zuora/v1/accounts", json=ACCOUNT, headers=api.zuora_headers)
    assert first.status_code == 200, first.text
    tenant_id = api.tenant.tenant_id
    before = _counts(runtime, tenant_id)
    with runtime.service_context(tenant_id) as ctx:
        ctx.session.execute(
            update(OAuthClient)
            .where(OAuthClient.client_id == api.tenant.client_id)
            .values(generation=OAuthClient.generation + 1)
        )
    refused = api.client.post("/zuora/v1/accounts", json=ACCOUNT, headers=api.zuora_headers)
    assert refused.status_code == 401, refused.text
    assert "deleted or rotated" in refused.text
    # A body the account service refuses: the revoked token is still what is answered.
    invalid = {**ACCOUNT, "currency": "ZZZ"}
    refused = api.client.post("/zuora/v1/accounts", json=invalid, headers=api.zuora_headers)
    assert refused.status_code == 401, refused.text
    assert _counts(runtime, tenant_id) == before
    with runtime.service_context(tenant_id) as ctx:
        outcomes = list(
            ctx.session.scalars(
                select(AuditEvent.outcome)
                .where(AuditEvent.tenant_id == tenant_id)
                .order_by(AuditEvent.id)
            )
        )
    # Each refused write is audited after the fact (its unit rolled back), as before.
    assert outcomes == ["200", "401", "401"]


def test_a_refused_account_leaves_no_event(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    before = _counts(runtime, tenant_id)
    # Autopay without a payment method: refused after the account statement ran.
    body = {**ACCOUNT, "autoPay": True}
    refused = api.client.post("/zuora/v1/accounts", json=body, headers=api.zuora_headers)
    assert refused.status_code == 400, refused.text
    assert _counts(runtime, tenant_id) == before


def test_one_statement_create_is_for_plain_accounts_on_postgresql(
    api: Api, runtime: Runtime
) -> None:
    """``accounts.service.one_statement_create`` says which creates take the one-statement
    way: on PostgreSQL only, once the tenant's clock is remembered, and only for an
    account without a payment method, default method, gateway or autopay whose rules
    hold; every other create goes the ordinary way."""
    tenant_id = api.tenant.tenant_id
    plain = NewAccount(
        name="Ada",
        currency="USD",
        bill_to_contact=ContactInput(first_name="Ada", last_name="Lovelace"),
        bill_cycle_day=7,
    )

    def decided(data: NewAccount = plain, payment: AccountPaymentSetup | None = None) -> bool:
        plan = service.one_statement_create(
            runtime, tenant_id, None, data, payment or AccountPaymentSetup(gateway_name=None)
        )
        return plan is not None

    assert not decided()  # the tenant's clock is not remembered yet
    first = api.client.post("/zuora/v1/accounts", json=ACCOUNT, headers=api.zuora_headers)
    assert first.status_code == 200, first.text
    postgres = runtime.engine.dialect.name == "postgresql"
    assert decided() is postgres
    assert decided(payment=AccountPaymentSetup()) is postgres  # gateway not given (UNSET)
    plan = service.one_statement_create(
        runtime, tenant_id, None, plain, AccountPaymentSetup(gateway_name=None)
    )
    if plan is not None:
        assert plan.rows.values["name"] == "Ada"
        assert plan.rows.number is None
        assert plan.ctx.tenant_id == tenant_id
    # Never for an account with autopay, a payment method, a default method or a gateway,
    # nor for one that breaks a rule (the ordinary way answers its error).
    assert not decided(replace(plain, auto_pay=True))
    assert not decided(replace(plain, currency="ZZZ"))
    assert not decided(replace(plain, bill_cycle_day=None))
    assert not decided(payment=AccountPaymentSetup(default_method_id=1, gateway_name=None))
    assert not decided(payment=AccountPaymentSetup(gateway_name="Test"))
    method = NewPaymentMethod(type=PaymentMethodType.CREDIT_CARD)
    assert not decided(payment=AccountPaymentSetup(new_method=method, gateway_name=None))
