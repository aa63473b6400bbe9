"""Fusebill test helpers: the exact error envelope, GET shorthand and the billed customer
the fixtures build (see conftest.py for the customer's invoices)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from billcycle.clock import FrozenClock
from billcycle.db.session import unit_of_work
from billcycle.invoicing import service as invoicing
from billcycle.invoicing.generator import GenerationOptions, generate_invoices
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntryType
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from tests.accounts.factories import account_body
from tests.subscriptions.factories import add_rate_plan, flat
from tests.support.api import Api

ENVELOPE_KEYS = ["ErrorId", "HttpStatusCode", "Errors"]


def error(status: int, message: str) -> dict[str, Any]:
    return {
        "ErrorId": 0,
        "HttpStatusCode": status,
        "Errors": [{"Key": "Api Error", "Value": message}],
    }


def assert_error(response: httpx.Response, status: int, contains: str = "") -> str:
    """The exact Fusebill envelope; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ENVELOPE_KEYS
    assert body["ErrorId"] == 0
    assert body["HttpStatusCode"] == status
    assert len(body["Errors"]) == 1
    assert list(body["Errors"][0]) == ["Key", "Value"]
    assert body["Errors"][0]["Key"] == "Api Error"
    message: str = body["Errors"][0]["Value"]
    assert contains in message, message
    return message


def fget(api: Api, path: str, **params: Any) -> httpx.Response:
    response: httpx.Response = api.client.get(
        f"/fusebill{path}", params=params, headers=api.fusebill_headers
    )
    return response


@dataclass(frozen=True)
class Customer:
    id: int
    account_number: str
    overdue: int
    paid: int
    partial: int
    unpaid: int
    draft: int
    numbers: dict[int, int]  # invoice id -> Fusebill invoice number

    @property
    def posted(self) -> list[int]:
        return [self.overdue, self.paid, self.partial, self.unpaid]


def _subscribe(api: Api, account_number: str, rate_plan_id: str) -> None:
    body = {
        "accountKey": account_number,
        "contractEffectiveDate": "2025-10-01",
        "termType": "EVERGREEN",
        "subscribeToRatePlans": [{"productRatePlanId": rate_plan_id}],
    }
    response = api.client.post("/zuora/v1/subscriptions", json=body, headers=api.zuora_headers)
    assert response.status_code == 200, response.text


def create_account(api: Api, **overrides: Any) -> tuple[int, str]:
    body = account_body(**{"paymentTerm": "Net 30", **overrides})
    body["billToContact"]["workPhone"] = "+1 555 0100"
    response = api.client.post("/zuora/v1/accounts", json=body, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    data = response.json()
    return int(data["accountId"], 16), data["accountNumber"]


def bill_customer(api: Api, runtime: Runtime, clock: FrozenClock) -> Customer:
    tenant_id = api.tenant.tenant_id
    account_id, number = create_account(api)
    with runtime.service_context(tenant_id) as ctx:
        plan = add_rate_plan(ctx.session, tenant_id, flat("30"))
    _subscribe(api, number, plan.rate_plan_key)
    ids: list[int] = []
    for target in (date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)):
        with runtime.service_context(tenant_id) as ctx:
            result = generate_invoices(
                ctx, [account_id], GenerationOptions(target_date=target, invoice_date=target)
            )
            assert result.failures == {}
            ids.extend(result.invoice_ids)
    with runtime.service_context(tenant_id) as ctx:
        draft = generate_invoices(
            ctx,
            [account_id],
            GenerationOptions(target_date=date(2026, 3, 1), invoice_date=date(2026, 3, 1)),
        ).invoice_ids
    assert len(ids) == 4
    assert len(draft) == 1
    start = clock.now()
    numbers: dict[int, int] = {}
    for minute, invoice_id in enumerate(ids):
        clock.set(start + timedelta(minutes=minute))
        with runtime.service_context(tenant_id) as ctx:
            invoice = invoicing.post_invoice(ctx, invoicing.get_invoice(ctx, invoice_id))
            numbers[invoice_id] = int(invoice.invoice_number.removeprefix("INV"))
    clock.set(start)
    with runtime.service_context(tenant_id) as ctx:
        draft_invoice = invoicing.get_invoice(ctx, draft[0])
        numbers[draft_invoice.id] = int(draft_invoice.invoice_number.removeprefix("INV"))
        for invoice_id, minor in ((ids[1], 3000), (ids[2], 1000)):
            ledger.apply_to_invoice(
                ctx,
                invoicing.get_invoice(ctx, invoice_id),
                EntryType.PAYMENT,
                minor,
                reference="cheque",
                comment=None,
                source="API",
            )
    overdue, paid, partial, unpaid = ids
    return Customer(account_id, number, overdue, paid, partial, unpaid, draft[0], numbers)


def new_tenant(runtime: Runtime, name: str, *, bulk_jobs: bool) -> NewTenant:
    with unit_of_work(runtime.session_factory) as session:
        return create_tenant(session, runtime.clock, name, bulk_jobs=bulk_jobs)
