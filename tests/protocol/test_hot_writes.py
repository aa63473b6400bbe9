"""POST /zuora/v1/accounts is answered below FastAPI's router (billcycle.zuora.hot_writes)
and, on PostgreSQL, written by ONE statement in autocommit from the event loop
(accounts.service.create_in_one_statement): the same answers, headers, error envelopes,
rows, events and audit events as the route's (taken here by adding a query string, which
the hot front leaves to the router)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import func, select

from billcycle.accounts import numbers
from billcycle.accounts.models import Account, Contact
from billcycle.audit.models import AuditEvent
from billcycle.events.models import Event
from billcycle.runtime import Runtime
from tests.protocol.helpers import account_body
from tests.support.api import Api

ACCOUNTS = "/zuora/v1/accounts"
ROUTED = f"{ACCOUNTS}?via=router"
VARYING = {"zuora-request-id", "ratelimit-remaining", "ratelimit-reset", "date"}
_HEX = re.compile(r"^[0-9a-f]{32}$")


def _shape(response: httpx.Response) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
    """Status, body with each id replaced by its form, and headers (less varying values)."""
    body = response.json()
    body.pop("processId", None)
    body.pop("requestId", None)
    for key, value in list(body.items()):
        if isinstance(value, str) and (_HEX.match(value) or key == "accountNumber"):
            body[key] = "<id>" if _HEX.match(value) else "<number>"
    headers = [(k, "" if k in VARYING else v) for k, v in response.headers.multi_items()]
    return response.status_code, body, headers


def _warm(api: Api) -> None:
    # A tenant's first write reads its clock's zone (then remembered): the ordinary way.
    first = api.client.post(ACCOUNTS, json=account_body("warm"), headers=api.zuora_headers)
    assert first.status_code == 200, first.text


def test_the_hot_write_answers_what_the_route_answers(api: Api) -> None:
    _warm(api)
    headers = {**api.zuora_headers, "Zuora-Track-Id": "track-1"}
    cases: list[tuple[dict[str, Any] | None, str | None]] = [
        (account_body("plain"), None),
        (account_body("two", soldToContact={"firstName": "B", "lastName": "C"}), None),
        ({"currency": "USD", "billToContact": {"firstName": "A", "lastName": "B"}}, None),
        (account_body("bad currency", currency="ZZZ"), None),
        (account_body("bad day", billCycleDay=40), None),
        (account_body("autopay", autoPay=True), None),
        ({**account_body(), "name": 7}, None),
        (None, "{not json"),
        (None, "[1, 2]"),
        (None, ""),
    ]
    for body, raw in cases:
        if body is not None:
            hot = api.client.post(ACCOUNTS, json=body, headers=headers)
            routed = api.client.post(ROUTED, json=body, headers=headers)
        else:
            sent = {**headers, "Content-Type": "application/json"}
            hot = api.client.post(ACCOUNTS, content=raw, headers=sent)
            routed = api.client.post(ROUTED, content=raw, headers=sent)
        assert _shape(hot) == _shape(routed), (body, raw, hot.text)
    # The protocol's own refusals, the same way too.
    bad_track = {**api.zuora_headers, "Zuora-Track-Id": "a:b"}
    assert _shape(api.client.post(ACCOUNTS, json=account_body(), headers=bad_track)) == _shape(
        api.client.post(ROUTED, json=account_body(), headers=bad_track)
    )
    no_token = {"Content-Type": "application/json"}
    assert _shape(api.client.post(ACCOUNTS, json=account_body(), headers=no_token)) == _shape(
        api.client.post(ROUTED, json=account_body(), headers=no_token)
    )


def test_a_hot_write_writes_what_the_route_writes(api: Api, runtime: Runtime) -> None:
    _warm(api)
    headers = {**api.zuora_headers, "Zuora-Track-Id": "track-2"}
    body = account_body("same", soldToContact={"firstName": "Bob", "lastName": "Byron"})
    hot = api.client.post(ACCOUNTS, json=body, headers=headers)
    routed = api.client.post(ROUTED, json=body, headers=headers)
    assert hot.status_code == routed.status_code == 200, (hot.text, routed.text)
    tenant_id = api.tenant.tenant_id
    rows = []
    for answer in (hot, routed):
        account_id = int(answer.json()["accountId"], 16)
        with runtime.service_context(tenant_id) as ctx:
            account = ctx.session.get(Account, account_id)
            assert account is not None
            contacts = ctx.session.scalars(
                select(Contact).where(Contact.account_id == account_id).order_by(Contact.id)
            ).all()
            event = ctx.session.scalars(select(Event).where(Event.object_id == account_id)).one()
            audit = ctx.session.scalars(
                select(AuditEvent).where(
                    AuditEvent.request_id == answer.headers["zuora-request-id"]
                )
            ).one()
            varying = {"id", "account_number", "bill_to_contact_id", "sold_to_contact_id"}
            varying |= {"created_at", "updated_at"}
            rows.append(
                (
                    {k: v for k, v in vars(account).items() if k not in varying and k[0] != "_"},
                    [
                        {
                            k: v
                            for k, v in vars(c).items()
                            if k not in {"id", "account_id", "created_at", "updated_at"}
                            and k[0] != "_"
                        }
                        for c in contacts
                    ],
                    (event.type, event.object_type, event.fanned_out, event.tenant_id),
                    sorted(event.payload["object"]),
                    (audit.actor, audit.action, audit.method, audit.route, audit.outcome),
                    (audit.track_id, audit.object_ids == [answer.json()["accountId"]]),
                )
            )
            assert [c.id for c in contacts] == sorted(
                {account.bill_to_contact_id, account.sold_to_contact_id}
            )
            assert event.payload["object"]["id"] == account_id
    assert rows[0] == rows[1]
    assert rows[0][-1] == ("track-2", True)


def test_numbers_past_the_reserved_block_and_taken_numbers(api: Api, runtime: Runtime) -> None:
    _warm(api)
    made = [
        api.client.post(ACCOUNTS, json=account_body(f"n{n}"), headers=api.zuora_headers)
        for n in range(numbers.BLOCK + 3)
    ]
    assert all(answer.status_code == 200 for answer in made), [a.text for a in made]
    chosen = {**account_body("chosen"), "accountNumber": "CUST-1"}
    assert api.client.post(ACCOUNTS, json=chosen, headers=api.zuora_headers).status_code == 200
    taken = api.client.post(ACCOUNTS, json=chosen, headers=api.zuora_headers)
    assert taken.status_code == 400
    assert "CUST-1 already exists" in taken.text
    assert _shape(taken) == _shape(api.client.post(ROUTED, json=chosen, headers=api.zuora_headers))
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        accounts = ctx.session.scalar(
            select(func.count()).select_from(Account).where(Account.tenant_id == tenant_id)
        )
        distinct = ctx.session.scalar(
            select(func.count(func.distinct(Account.account_number))).where(
                Account.tenant_id == tenant_id
            )
        )
        outcomes = ctx.session.execute(
            select(AuditEvent.outcome, func.count())
            .where(AuditEvent.tenant_id == tenant_id)
            .group_by(AuditEvent.outcome)
        ).all()
        created = ctx.session.scalar(
            select(func.count()).select_from(Event).where(Event.tenant_id == tenant_id)
        )
    # warm-up + the block and more + the chosen number; each written once, with its event.
    assert accounts == distinct == numbers.BLOCK + 5
    assert created == accounts
    assert dict(outcomes) == {"200": accounts, "400": 2}
    assert len({answer.json()["accountNumber"] for answer in made}) == len(made)
