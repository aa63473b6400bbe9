"""Idempotency-Key on every POST and PATCH of both dialects (docs/security.md): the first
answer is stored per key for 24 hours and replayed byte for byte; a concurrent duplicate
gets 409; the key with another entity, method or URL gets 422, with another body 422 saying
so; keys up to 255 characters; 5xx answers and unauthenticated requests store nothing."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from billcycle.accounts.models import Account
from billcycle.clock import FrozenClock
from billcycle.db.session import unit_of_work
from billcycle.requestkeys import service as requestkeys
from billcycle.requestkeys.service import Outcome
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.fusebill_payments.helpers import customer_with
from tests.protocol.helpers import ACCOUNTS, account_body, bearer, cli, token
from tests.support.api import Api
from tests.support.tenants import other_tenant

__all__ = ["other_tenant"]


def _accounts(runtime: Runtime, tenant_id: int) -> int:
    with unit_of_work(runtime.session_factory) as session:
        return int(session.scalar(select(func.count()).where(Account.tenant_id == tenant_id)) or 0)


def _key() -> str:
    return f"k-{uuid.uuid4()}"


def test_a_repeat_replays_the_first_answer_and_acts_once(api: Api, runtime: Runtime) -> None:
    headers = {**api.zuora_headers, "Idempotency-Key": _key()}
    first = api.client.post(ACCOUNTS, json=account_body(), headers=headers)
    again = api.client.post(ACCOUNTS, json=account_body(), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    # Each answer has its own request id; the body is the first one's.
    assert again.headers["zuora-request-id"] != first.headers["zuora-request-id"]
    assert _accounts(runtime, api.tenant.tenant_id) == 1
    # Without a key every POST acts.
    api.client.post(ACCOUNTS, json=account_body(), headers=api.zuora_headers)
    assert _accounts(runtime, api.tenant.tenant_id) == 2


def test_the_key_with_another_body_url_or_entity_is_refused(
    api: Api, runtime: Runtime, other_tenant: NewTenant, database_url: str
) -> None:
    key = _key()
    headers = {**api.zuora_headers, "Idempotency-Key": key}
    assert api.client.post(ACCOUNTS, json=account_body(), headers=headers).status_code == 200
    other_body = api.client.post(ACCOUNTS, json=account_body("Other"), headers=headers)
    assert other_body.status_code == 422
    [reason] = other_body.json()["reasons"]
    assert reason["message"] == (
        "This Idempotency-Key was already used with a different request body."
    )
    other_url = api.client.post(
        "/zuora/v1/bill-runs",
        json={"batches": ["AllBatches"], "targetDate": "2026-02-01"},
        headers=headers,
    )
    assert other_url.status_code == 422
    assert "another request" in other_url.json()["reasons"][0]["message"]
    # The same client acting in another entity with the same key: 422 as Zuora documents.
    cli(database_url, "tenant", "grant", api.tenant.client_id, other_tenant.entity_id)
    both = token(api.client, api.tenant)
    in_other = api.client.post(
        ACCOUNTS,
        json=account_body(),
        headers=bearer(
            both, **{"Zuora-Entity-Ids": other_tenant.entity_id, "Idempotency-Key": key}
        ),
    )
    assert in_other.status_code == 422
    assert _accounts(runtime, api.tenant.tenant_id) == 1
    assert _accounts(runtime, other_tenant.tenant_id) == 0


def test_another_method_on_the_same_url_is_refused(runtime: Runtime, tenant: NewTenant) -> None:
    """No route of either dialect answers both POST and PATCH on one URL, so this is
    checked on the service the middleware calls."""
    now = runtime.machine_clock.now()
    common = {"tenant_id": tenant.tenant_id, "owner": f"client:{tenant.client_id}"}
    key = _key()
    made = requestkeys.claim(
        runtime.session_factory,
        **common,
        key=key,
        method="POST",
        path="/x",
        request_hash="h",
        now=now,
    )
    assert made.outcome is Outcome.RUN
    assert made.record_id is not None
    requestkeys.finish(runtime.session_factory, tenant.tenant_id, made.record_id, 200, None, b"{}")
    patched = requestkeys.claim(
        runtime.session_factory,
        **common,
        key=key,
        method="PATCH",
        path="/x",
        request_hash="h",
        now=now,
    )
    assert patched.outcome is Outcome.OTHER_REQUEST


def test_two_tenants_keys_never_meet(api: Api, other_tenant: NewTenant, runtime: Runtime) -> None:
    key = _key()
    mine = api.client.post(
        ACCOUNTS, json=account_body(), headers={**api.zuora_headers, "Idempotency-Key": key}
    )
    theirs = api.client.post(
        ACCOUNTS,
        json=account_body(),
        headers=bearer(token(api.client, other_tenant), **{"Idempotency-Key": key}),
    )
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["accountId"] != theirs.json()["accountId"]
    assert _accounts(runtime, other_tenant.tenant_id) == 1


def test_key_length_and_refused_requests(api: Api, runtime: Runtime) -> None:
    too_long = {**api.zuora_headers, "Idempotency-Key": "k" * 256}
    answer = api.client.post(ACCOUNTS, json=account_body(), headers=too_long)
    assert answer.status_code == 400
    assert answer.json()["reasons"][0]["message"].startswith("Idempotency-Key must be 1 to 255")
    longest = {**api.zuora_headers, "Idempotency-Key": "k" * 254 + uuid.uuid4().hex[:1]}
    assert api.client.post(ACCOUNTS, json=account_body(), headers=longest).status_code == 200
    # A 4xx answer is an answer: stored and replayed, acting never.
    key = {**api.zuora_headers, "Idempotency-Key": _key()}
    bad = api.client.post(ACCOUNTS, json={"name": "no currency"}, headers=key)
    assert bad.status_code == 400
    assert (
        api.client.post(ACCOUNTS, json={"name": "no currency"}, headers=key).content == bad.content
    )
    # A request that fails authentication stores nothing: the key still works after.
    fresh = _key()
    denied = api.client.post(
        ACCOUNTS,
        json=account_body(),
        headers={"Authorization": "Bearer nope", "Idempotency-Key": fresh},
    )
    assert denied.status_code == 401
    accepted = api.client.post(
        ACCOUNTS, json=account_body(), headers={**api.zuora_headers, "Idempotency-Key": fresh}
    )
    assert accepted.status_code == 200
    assert _accounts(runtime, api.tenant.tenant_id) == 2


def test_a_key_is_kept_for_24_hours(api: Api, runtime: Runtime, machine_clock: FrozenClock) -> None:
    headers = {**api.zuora_headers, "Idempotency-Key": _key()}
    first = api.client.post(ACCOUNTS, json=account_body(), headers=headers)
    machine_clock.advance(timedelta(hours=23))
    assert api.client.post(ACCOUNTS, json=account_body(), headers=headers).content == first.content
    machine_clock.advance(timedelta(hours=1, seconds=1))
    later = api.client.post(ACCOUNTS, json=account_body(), headers=headers)
    assert later.status_code == 200
    assert later.json()["accountId"] != first.json()["accountId"]
    assert _accounts(runtime, api.tenant.tenant_id) == 2


def test_fusebill_posts_take_the_same_header(api: Api, runtime: Runtime) -> None:
    billed = customer_with(runtime, api, ["100"])
    body = {
        "customerId": billed.account_id,
        "amount": 10,
        "paymentMethod": "Check",
        "source": "Manual",
        "reference": "cheque 1",
        "paymentAllocations": [{"invoiceId": billed.invoice_ids[0], "amount": 10}],
    }
    headers = {**api.fusebill_headers, "Idempotency-Key": _key()}
    first = api.client.post("/fusebill/v1/payments", json=body, headers=headers)
    again = api.client.post("/fusebill/v1/payments", json=body, headers=headers)
    assert first.status_code == again.status_code == 200, first.text
    assert again.content == first.content
    other = api.client.post("/fusebill/v1/payments", json={**body, "amount": 11}, headers=headers)
    assert other.status_code == 422
    assert other.json()["HttpStatusCode"] == 422
    assert "different request body" in other.json()["Errors"][0]["Value"]
    invoice = api.client.get(
        f"/fusebill/v1/invoices/{billed.invoice_ids[0]}", headers=api.fusebill_headers
    ).json()
    assert invoice["totalPayments"] == 10


def test_concurrent_duplicates_act_once(live_url: str, api: Api, runtime: Runtime) -> None:
    """Eight clients send the same key at once to a real server: one account is made; every
    other answer is that same answer (after it was stored) or 409 (while it ran)."""
    headers = {**api.zuora_headers, "Idempotency-Key": _key()}
    answers: list[httpx.Response] = []
    gate = threading.Barrier(8)

    def send() -> None:
        with httpx.Client(base_url=live_url, timeout=30) as client:
            gate.wait()
            answers.append(client.post(ACCOUNTS, json=account_body(), headers=headers))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _accounts(runtime, api.tenant.tenant_id) == 1
    made = [a for a in answers if a.status_code == 200]
    assert made
    assert all(a.content == made[0].content for a in made)
    assert all(a.status_code in (200, 409) for a in answers)
    for conflict in (a for a in answers if a.status_code == 409):
        assert conflict.json()["reasons"][0]["code"] % 100 == 50
