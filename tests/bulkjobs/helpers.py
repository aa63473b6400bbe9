"""Helpers for bulk-job tests: raw Fusebill HTTP calls, posted invoices to write off, and
direct reads of what the jobs wrote (records, ledger entries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from sqlalchemy import select, update

from billcycle.accounts.models import Account
from billcycle.bulkjobs.models import BulkJob, BulkJobRecord
from billcycle.ledger.models import LedgerEntry
from billcycle.runtime import Runtime
from tests.invoicing.factories import make_account, make_invoice, make_subscription, monthly
from tests.support.api import Api

FUSEBILL = "/fusebill/v1"
# Records per bulk-job chunk in these tests (conftest.py sets it): every job spans several.
CHUNK_SIZE = 3


def post(api: Api, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    if body is not None:
        kwargs["json"] = body
    headers = {**api.fusebill_headers, **kwargs.pop("headers", {})}
    response: httpx.Response = api.client.post(f"/fusebill{path}", headers=headers, **kwargs)
    return response


def get(api: Api, path: str, **params: Any) -> httpx.Response:
    response: httpx.Response = api.client.get(
        f"/fusebill{path}", params=params, headers=api.fusebill_headers
    )
    return response


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def create(api: Api, invoice_ids: list[int]) -> dict[str, Any]:
    return ok(
        post(api, "/v1/bulkwriteoff", {"accountUploadType": "BulkWriteOff", "data": invoice_ids})
    )


def poll(api: Api, job_id: int, *, full: bool = True) -> dict[str, Any]:
    return ok(get(api, f"/v1/BulkApi/{job_id}", **({"view": "full"} if full else {})))


def process(api: Api, job_id: int) -> httpx.Response:
    return post(api, "/v1/BulkApi/Process/", {"id": job_id})


def cancel(api: Api, job_id: int) -> httpx.Response:
    return post(api, f"/v1//BulkApi/Cancel/{job_id}")


def error_message(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["ErrorId", "HttpStatusCode", "Errors"]
    assert body["ErrorId"] == 0
    assert body["HttpStatusCode"] == status
    assert len(body["Errors"]) == 1
    assert body["Errors"][0]["Key"] == "Api Error"
    message: str = body["Errors"][0]["Value"]
    return message


@dataclass(frozen=True)
class Billed:
    account_id: int
    invoice_ids: list[int]


def posted_invoices(
    runtime: Runtime,
    tenant_id: int,
    count: int,
    *,
    amount: str = "30",
    status: str = "Posted",
    account_status: str = "Active",
) -> Billed:
    """``count`` invoices of one account, one month each from 2024-01."""
    with runtime.service_context(tenant_id) as ctx:
        account = make_account(ctx)
        billed = make_subscription(ctx, account, start=date(2024, 1, 1))
        ids = []
        for month in range(count):
            start = date(2024 + month // 12, month % 12 + 1, 1)
            invoice = make_invoice(
                ctx, account, [monthly(billed.charge, start, amount)], status=status
            )
            ids.append(invoice.id)
        if account_status != "Active":
            ctx.session.execute(
                update(Account).where(Account.id == account.id).values(status=account_status)
            )
        return Billed(account.id, ids)


def records(runtime: Runtime, job_id: int) -> list[BulkJobRecord]:
    with runtime.service_context(0) as ctx:
        return list(
            ctx.session.scalars(
                select(BulkJobRecord)
                .where(BulkJobRecord.bulk_job_id == job_id)
                .order_by(BulkJobRecord.seq)
            )
        )


def job_row(runtime: Runtime, job_id: int) -> BulkJob:
    with runtime.service_context(0) as ctx:
        job = ctx.session.get(BulkJob, job_id)
        assert job is not None
        return job


def write_offs(runtime: Runtime, tenant_id: int) -> dict[int, LedgerEntry]:
    """The tenant's write-off entries by invoice id."""
    with runtime.service_context(tenant_id) as ctx:
        entries = ctx.session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.tenant_id == tenant_id, LedgerEntry.entry_type == "WriteOff"
            )
        )
        found: dict[int, LedgerEntry] = {}
        for entry in entries:
            assert entry.invoice_id is not None
            assert entry.invoice_id not in found, "an invoice was written off twice"
            found[entry.invoice_id] = entry
        return found
