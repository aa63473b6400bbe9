"""Helpers for the Fusebill payment tests: raw Fusebill calls, a customer with posted
invoices, and the ledger's view of the tenant (to prove a refused request changed
nothing)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from billcycle.ledger.models import LedgerEntry
from billcycle.payments.activity_models import PaymentActivity
from billcycle.payments.models import Payment, Refund
from billcycle.runtime import Runtime
from tests.payments.helpers import Billed, posted_invoices
from tests.support.api import Api


def fpost(api: Api, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    if body is not None:
        kwargs["json"] = body
    headers = {**api.fusebill_headers, **kwargs.pop("headers", {})}
    response: httpx.Response = api.client.post(f"/fusebill{path}", headers=headers, **kwargs)
    return response


def fget(api: Api, path: str, **params: Any) -> httpx.Response:
    response: httpx.Response = api.client.get(
        f"/fusebill{path}", params=params, headers=api.fusebill_headers
    )
    return response


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def customer_with(runtime: Runtime, api: Api, amounts: list[str]) -> Billed:
    """A customer with one posted invoice per amount, oldest first (2025-01, 2025-02...)."""
    return posted_invoices(runtime, api.tenant.tenant_id, amounts)


def state(runtime: Runtime, tenant_id: int) -> tuple[int, ...]:
    """How many payments, refunds, activities and ledger entries the tenant has, and the
    ledger's sum: equal before and after a refused request means nothing changed."""
    with runtime.service_context(tenant_id) as ctx:
        session = ctx.session

        def count(model: Any) -> int:
            return int(
                session.scalar(
                    select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
                )
                or 0
            )

        total = session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
                LedgerEntry.tenant_id == tenant_id
            )
        )
        return (
            count(Payment),
            count(Refund),
            count(PaymentActivity),
            count(LedgerEntry),
            int(total or 0),
        )


def balances(api: Api, invoice_ids: list[int]) -> list[tuple[float, float, str]]:
    """Each invoice's (totalPayments, outstandingBalance, status) as Fusebill shows it."""
    shown = []
    for invoice_id in invoice_ids:
        body = ok(fget(api, f"/v1/invoices/{invoice_id}"))
        shown.append((body["totalPayments"], body["outstandingBalance"], body["status"]))
    return shown
