"""Multi-org: organizations inside a tenant, accounts in them, clients granted some
(`billcycle org ...`). Zuora-Org-Ids narrows a call to some of the caller's organizations
(one outside them fails the call); account reads keep to them; bill runs' and payment
runs' organizationLabels select accounts by organization."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from zuora_sdk import (
    CancelSubscriptionRequest,
    CreateAccountContact,
    CreateAccountRequest,
    CreatePaymentRequest,
)
from zuora_sdk.rest import ApiException

from billcycle.access import service as access
from billcycle.accounts import service as accounts
from billcycle.db.session import unit_of_work
from billcycle.ids import to_zuora_id
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.billruns.helpers import create_run, customers, get_run
from tests.paymentruns.helpers import customer, default_gateway, records, run_to_end
from tests.protocol.helpers import cli, second_client
from tests.support.api import Api
from tests.support.zuora_sdk import make_sdk_client


def _org(database_url: str, tenant_id: int, name: str) -> str:
    output = cli(database_url, "org", "create", name, "--tenant", str(tenant_id)).output
    return next(word for word in output.split() if len(word) == 32)


def _put(runtime: Runtime, tenant_id: int, account_id: int, org_hex: str | None) -> None:
    with runtime.service_context(tenant_id) as ctx:
        account = accounts.require_account(ctx, account_id)
        accounts.set_organization(ctx, account, int(org_hex, 16) if org_hex else None)


def _new(name: str) -> CreateAccountRequest:
    return CreateAccountRequest(
        name=name,
        currency="USD",
        bill_cycle_day=1,
        bill_to_contact=CreateAccountContact(first_name="Ada", last_name="L", country="US"),
    )


def test_zuora_org_ids_narrow_account_reads(
    live_url: str, runtime: Runtime, tenant: NewTenant, database_url: str
) -> None:
    tid = tenant.tenant_id
    east, west = _org(database_url, tid, "East"), _org(database_url, tid, "West")
    assert json.loads(cli(database_url, "org", "list", "--tenant", str(tid), "--json").output) == [
        {"id": east, "name": "East"},
        {"id": west, "name": "West"},
    ]
    owner = make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)
    api = owner.accounts_api()
    in_east = api.create_account(_new("east"), zuora_org_ids=east)
    in_west = api.create_account(_new("west"), zuora_org_ids=west)
    nowhere = api.create_account(_new("none"))
    with runtime.service_context(tid) as ctx:
        assert accounts.find_account(
            ctx, account_id=int(in_east.account_id, 16), number=""
        ).organization_id == int(east, 16)
    # A client without grants sees every account, and narrows with the header.
    for made in (in_east, in_west, nowhere):
        assert api.get_account(made.account_id).basic_info.id == made.account_id
    assert api.get_account(in_east.account_id, zuora_org_ids=east).basic_info.name == "east"
    with pytest.raises(ApiException) as hidden:
        api.get_account(in_west.account_id, zuora_org_ids=east)
    assert hidden.value.status == 404
    with pytest.raises(ApiException) as unknown:
        api.get_account(in_east.account_id, zuora_org_ids=f"{2**40:032x}")
    assert unknown.value.status == 403
    with pytest.raises(ApiException) as malformed:
        api.get_account(in_east.account_id, zuora_org_ids="east")
    assert malformed.value.status == 400
    with pytest.raises(ApiException) as two:
        api.create_account(_new("both"), zuora_org_ids=f"{east},{west}")
    assert two.value.status == 400

    # A client granted East only: West's and unassigned accounts are not found, and
    # naming West fails the call.
    limited = second_client(runtime, tid)
    cli(database_url, "org", "grant", limited.client_id, "East", "--tenant", str(tid))
    east_only = make_sdk_client(
        f"{live_url}/zuora", limited.client_id, limited.client_secret
    ).accounts_api()
    assert east_only.get_account(in_east.account_id).basic_info.name == "east"
    for unseen in (in_west, nowhere):
        with pytest.raises(ApiException) as gone:
            east_only.get_account(unseen.account_id)
        assert gone.value.status == 404
    with pytest.raises(ApiException) as outside:
        east_only.get_account(in_east.account_id, zuora_org_ids=west)
    assert outside.value.status == 403
    assert json.loads(outside.value.body or "{}")["reasons"][0]["code"] % 100 == 10
    # Its new accounts land in its one organization.
    made = east_only.create_account(_new("east 2"))
    with runtime.service_context(tid) as ctx:
        account = accounts.require_account(ctx, int(made.account_id, 16))
        assert account.organization_id == int(east, 16)
    # Without grants (revoked), its next token sees every account again.
    cli(database_url, "org", "revoke", limited.client_id, east, "--tenant", str(tid))
    again = make_sdk_client(f"{live_url}/zuora", limited.client_id, limited.client_secret)
    assert again.accounts_api().get_account(in_west.account_id).basic_info.name == "west"


def test_bill_run_organization_labels_select_accounts(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tid = api.tenant.tenant_id
    with unit_of_work(runtime.session_factory) as session:
        east = to_zuora_id(access.create_organization(session, runtime.clock, tid, "East").id)
        west = to_zuora_id(access.create_organization(session, runtime.clock, tid, "West").id)
    made = customers(api, runtime, 5)
    for (account_id, _), org in zip(made, [east, east, west, None, None], strict=True):
        _put(runtime, tid, account_id, org)
    only_east = create_run(api, organizationLabels=[{"organizationId": east}])
    jobs.run_until_idle()
    assert get_run(api, only_east["id"])["invoicesCreated"] == 2
    by_name = create_run(
        api, targetDate="2026-03-01", organizationLabels=[{"organizationName": "West"}]
    )
    jobs.run_until_idle()
    assert get_run(api, by_name["id"])["invoicesCreated"] == 1
    not_east = create_run(
        api,
        targetDate="2026-04-01",
        organizationLabels=[{"organizationId": east, "excluded": True}],
    )
    jobs.run_until_idle()
    assert get_run(api, not_east["id"])["invoicesCreated"] == 3
    unknown = create_run(
        api, targetDate="2026-05-01", organizationLabels=[{"organizationName": "Nowhere"}]
    )
    jobs.run_until_idle()
    assert get_run(api, unknown["id"])["invoicesCreated"] == 0


def test_payment_run_organization_labels_select_accounts(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tid = api.tenant.tenant_id
    default_gateway(runtime, tid)
    with unit_of_work(runtime.session_factory) as session:
        east = to_zuora_id(access.create_organization(session, runtime.clock, tid, "East").id)
    first, second = customer(runtime, tid, ["10.00"]), customer(runtime, tid, ["20.00"])
    _put(runtime, tid, first.account_id, east)
    run = run_to_end(
        api, jobs, targetDate="2026-01-10", organizationLabels=[{"organizationId": east}]
    )
    assert run["status"] == "Completed"
    assert [r["documentId"] for r in records(api, run["id"])] == [to_zuora_id(first.invoice_ids[0])]
    rest = run_to_end(api, jobs, targetDate="2026-01-10")
    assert [r["documentId"] for r in records(api, rest["id"])] == [
        to_zuora_id(second.invoice_ids[0])
    ]


def test_zuora_org_ids_narrow_every_account_owned_object(
    live_url: str, runtime: Runtime, tenant: NewTenant, database_url: str
) -> None:
    """Subscriptions, invoices, payment methods and payments of another organization's
    account are "not found" (one mechanism: billcycle.access.scope), lists leave them out,
    and the caller's own stay visible."""
    tid = tenant.tenant_id
    default_gateway(runtime, tid)
    east, west = _org(database_url, tid, "East"), _org(database_url, tid, "West")
    mine, theirs = customer(runtime, tid, ["10.00"]), customer(runtime, tid, ["20.00"])
    _put(runtime, tid, mine.account_id, east)
    _put(runtime, tid, theirs.account_id, west)
    sdk = make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)
    payments = {}
    for made in (mine, theirs):
        created = sdk.payments_api().create_payment(
            CreatePaymentRequest(
                account_id=to_zuora_id(made.account_id),
                amount=5,
                currency="USD",
                type="External",
                effective_date="2025-02-01",
            )
        )
        payments[made.account_id] = created.id
    subscriptions = {
        made.account_id: sdk.subscriptions_api()
        .get_subscriptions_by_account(to_zuora_id(made.account_id))
        .subscriptions[0]
        .subscription_number
        for made in (mine, theirs)
    }

    def reads(made: Any) -> list[Callable[[], Any]]:
        assert made.method_id is not None
        return [
            lambda: sdk.invoices_api().get_invoice(
                to_zuora_id(made.invoice_ids[0]), zuora_org_ids=east
            ),
            lambda: sdk.payment_methods_api().get_payment_method(
                to_zuora_id(made.method_id), zuora_org_ids=east
            ),
            lambda: sdk.subscriptions_api().get_subscription_by_key(
                subscriptions[made.account_id], zuora_org_ids=east
            ),
            lambda: sdk.payments_api().get_payment(payments[made.account_id], zuora_org_ids=east),
        ]

    for read in reads(mine):
        assert read() is not None
    for read in reads(theirs):
        with pytest.raises(ApiException) as hidden:
            read()
        assert hidden.value.status == 404
    listed = sdk.payments_api().get_retrieve_all_payments(zuora_org_ids=east, page_size=40)
    assert [p.id for p in listed.payments or []] == [payments[mine.account_id]]
    everything = sdk.payments_api().get_retrieve_all_payments(page_size=40)
    assert {p.id for p in everything.payments or []} == set(payments.values())
    # Acting on another organization's objects fails as reading them does.
    with pytest.raises(ApiException) as cancel:
        sdk.subscriptions_api().cancel_subscription(
            subscriptions[theirs.account_id],
            CancelSubscriptionRequest(cancellation_policy="EndOfLastInvoicePeriod"),
            zuora_org_ids=east,
        )
    assert cancel.value.status == 404


def test_a_limited_call_runs_only_its_organizations(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """Bill runs and payment runs created under Zuora-Org-Ids select only those
    organizations' accounts; labels naming another organization fail the call."""
    tid = api.tenant.tenant_id
    default_gateway(runtime, tid)
    with unit_of_work(runtime.session_factory) as session:
        east = to_zuora_id(access.create_organization(session, runtime.clock, tid, "East").id)
        west = to_zuora_id(access.create_organization(session, runtime.clock, tid, "West").id)
    made = customers(api, runtime, 3)
    for (account_id, _), org in zip(made, [east, west, None], strict=True):
        _put(runtime, tid, account_id, org)
    headers = {**api.zuora_headers, "Zuora-Org-Ids": east}
    body = {"batches": ["AllBatches"], "targetDate": "2026-02-01"}
    answer = api.client.post("/zuora/v1/bill-runs", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    jobs.run_until_idle()
    assert get_run(api, answer.json()["id"])["invoicesCreated"] == 1
    refused = api.client.post(
        "/zuora/v1/bill-runs",
        json={**body, "organizationLabels": [{"organizationId": west}]},
        headers=headers,
    )
    assert refused.status_code == 403, refused.text

    first, second = customer(runtime, tid, ["10.00"]), customer(runtime, tid, ["20.00"])
    _put(runtime, tid, first.account_id, east)
    _put(runtime, tid, second.account_id, west)
    run = api.client.post(
        "/zuora/v1/payment-runs", json={"targetDate": "2026-01-10"}, headers=headers
    )
    assert run.status_code == 200, run.text
    jobs.run_until_idle()
    # The limited caller reads its run (a run without an account filter is no account's).
    seen = api.client.get(f"/zuora/v1/payment-runs/{run.json()['id']}", headers=headers)
    assert seen.status_code == 200, seen.text
    assert [r["documentId"] for r in records(api, run.json()["id"])] == [
        to_zuora_id(first.invoice_ids[0])
    ]
    refused = api.client.post(
        "/zuora/v1/payment-runs",
        json={"targetDate": "2026-01-10", "organizationLabels": [{"organizationName": "West"}]},
        headers=headers,
    )
    assert refused.status_code == 403, refused.text
