"""Isolation, walked from the application's own route table: every route of both dialects,
called by another tenant with the victim's ids (in the path, the query and the body),
answers 404 (or 400/403) and changes none of the victim's rows; lists show none of the
victim's objects. A route without a case here fails the suite, so a new route is covered
the day it is added. Also: each dialect's credentials are refused by the other, and a
rotated or deleted OAuth client's tokens stop working at once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from billcycle.cli.main import app as cli
from billcycle.db.session import unit_of_work
from billcycle.ids import to_zuora_id
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from tests.security.helpers import RouteInfo, Seeded, database_checksum, route_table, seed_tenant
from tests.support.api import api_for

# How each route is called with the victim's ids: extra query parameters, and a body
# for writes (None: the generic body below, naming the victim's objects everywhere).
# "list": the route lists the caller's own objects (200, and none of the victim's).
# "async": a Fusebill bulk job, created in the caller's own tenant and validated in the
# background, where each record naming the victim's invoices fails as not found (409:
# the caller's previous job is still open).
# "id": "customer": the body's ``id`` names the victim's customer (Fusebill's customer
# billing settings are keyed by it) instead of the victim's bulk job.
# "import": a Zuora usage file naming the victim's account, imported in the caller's own
# tenant, where it fails (no such account there).
Case = dict[str, Any]
CASES: dict[tuple[str, str], Case] = {
    ("POST", "/zuora/v1/accounts"): {"list": True},
    ("GET", "/zuora/v1/accounts/{account_key}"): {},
    ("PUT", "/zuora/v1/accounts/{account_key}"): {},
    ("DELETE", "/zuora/v1/accounts/{account_key}"): {},
    ("GET", "/zuora/v1/accounts/{account_key}/summary"): {},
    ("POST", "/zuora/v1/bill-runs"): {},
    ("GET", "/zuora/v1/bill-runs"): {"list": True},
    ("GET", "/zuora/v1/bill-runs/{bill_run_id}"): {},
    ("PUT", "/zuora/v1/bill-runs/{bill_run_id}"): {},
    ("PUT", "/zuora/v1/bill-runs/{bill_run_id}/post"): {},
    ("PUT", "/zuora/v1/bill-runs/{bill_run_id}/cancel"): {},
    ("DELETE", "/zuora/v1/bill-runs/{bill_run_id}"): {},
    ("POST", "/zuora/v1/bill-runs/{bill_run_key}/emails"): {},
    ("GET", "/zuora/v1/accounts/{account_key}/payment-methods"): {},
    ("GET", "/zuora/v1/accounts/{account_key}/payment-methods/default"): {},
    ("POST", "/zuora/v1/object/product"): {"list": True},
    ("GET", "/zuora/v1/object/product/{id}"): {},
    ("PUT", "/zuora/v1/object/product/{id}"): {},
    ("DELETE", "/zuora/v1/object/product/{id}"): {},
    ("POST", "/zuora/v1/object/product-rate-plan"): {},
    ("GET", "/zuora/v1/object/product-rate-plan/{id}"): {},
    ("PUT", "/zuora/v1/object/product-rate-plan/{id}"): {},
    ("DELETE", "/zuora/v1/object/product-rate-plan/{id}"): {},
    ("POST", "/zuora/v1/object/product-rate-plan-charge"): {},
    ("GET", "/zuora/v1/object/product-rate-plan-charge/{id}"): {},
    ("PUT", "/zuora/v1/object/product-rate-plan-charge/{id}"): {},
    ("DELETE", "/zuora/v1/object/product-rate-plan-charge/{id}"): {},
    ("GET", "/zuora/v1/catalog/products"): {"list": True},
    ("GET", "/zuora/v1/catalog/product/{product_key}"): {},
    ("GET", "/zuora/v1/rateplan/{product_key}/productRatePlan"): {},
    ("GET", "/zuora/v1/product-rate-plans/{id}"): {},
    ("POST", "/zuora/v1/subscriptions"): {},
    ("GET", "/zuora/v1/subscriptions/accounts/{account_key}"): {},
    ("GET", "/zuora/v1/subscriptions/{subscription_key}"): {},
    ("PUT", "/zuora/v1/subscriptions/{subscription_key}"): {},
    ("PUT", "/zuora/v1/subscriptions/{subscription_key}/cancel"): {},
    ("PUT", "/zuora/v1/subscriptions/{subscription_key}/suspend"): {},
    ("PUT", "/zuora/v1/subscriptions/{subscription_key}/resume"): {},
    ("PUT", "/zuora/v1/subscriptions/{subscription_key}/renew"): {},
    ("GET", "/zuora/v1/invoices/{invoice_key}"): {},
    ("GET", "/zuora/v1/invoices/{invoice_key}/items"): {},
    ("PUT", "/zuora/v1/invoices/{invoice_key}/post"): {},
    ("PUT", "/zuora/v1/invoices/{invoice_key}/cancel"): {},
    ("PUT", "/zuora/v1/invoices/{invoice_key}/write-off"): {},
    ("GET", "/zuora/v1/invoices/{invoice_key}/files"): {},
    ("GET", "/zuora/v1/files/{file_id}"): {},
    ("GET", "/zuora/v1/invoices/invoice-item/{invoice_item_id}/usage-rate-detail"): {},
    ("POST", "/zuora/v1/object/usage"): {},
    ("GET", "/zuora/v1/object/usage/{id}"): {},
    ("PUT", "/zuora/v1/object/usage/{id}"): {},
    ("DELETE", "/zuora/v1/object/usage/{id}"): {},
    ("POST", "/zuora/v1/usage"): {"import": True},
    ("GET", "/zuora/v1/usage/{import_id}/status"): {},
    ("GET", "/zuora/v1/usage/accounts/{account_key}"): {},
    ("GET", "/zuora/v1/billing-documents"): {"query": "account"},
    ("POST", "/zuora/v1/payment-methods"): {},
    ("GET", "/zuora/v1/payment-methods/{payment_method_id}"): {},
    ("PUT", "/zuora/v1/payment-methods/{payment_method_id}"): {},
    ("DELETE", "/zuora/v1/payment-methods/{payment_method_id}"): {},
    ("PUT", "/zuora/v1/payment-methods/{payment_method_id}/scrub"): {},
    ("PUT", "/zuora/v1/payment-methods/{payment_method_id}/verify"): {},
    ("GET", "/zuora/v1/payment-gateways"): {"list": True},
    ("POST", "/zuora/v1/payments"): {},
    ("GET", "/zuora/v1/payments"): {"list": True},
    ("GET", "/zuora/v1/payments/{payment_key}"): {},
    ("PUT", "/zuora/v1/payments/{payment_key}"): {},
    ("DELETE", "/zuora/v1/payments/{payment_key}"): {},
    ("PUT", "/zuora/v1/payments/{payment_key}/apply"): {},
    ("PUT", "/zuora/v1/payments/{payment_key}/unapply"): {},
    ("PUT", "/zuora/v1/payments/{payment_key}/cancel"): {},
    ("PUT", "/zuora/v1/payments/{payment_key}/transfer"): {},
    ("POST", "/zuora/v1/payments/{payment_key}/refunds"): {},
    ("POST", "/zuora/v1/payments/{payment_key}/refunds/unapply"): {},
    ("GET", "/zuora/v1/refunds"): {"list": True},
    ("GET", "/zuora/v1/refunds/{refund_key}"): {},
    ("PUT", "/zuora/v1/refunds/{refund_key}"): {},
    ("PUT", "/zuora/v1/refunds/{refund_key}/cancel"): {},
    ("DELETE", "/zuora/v1/refunds/{refund_key}"): {},
    ("POST", "/zuora/v1/gateway-settlement/payments/{payment_key}/chargeback"): {},
    ("POST", "/zuora/v1/gateway-settlement/payments/{payment_key}/reject"): {},
    ("POST", "/zuora/v1/payment-runs"): {},
    ("GET", "/zuora/v1/payment-runs"): {"list": True},
    ("GET", "/zuora/v1/payment-runs/{payment_run_key}"): {},
    ("GET", "/zuora/v1/payment-runs/{payment_run_key}/summary"): {},
    ("GET", "/zuora/v1/payment-runs/{payment_run_key}/data"): {},
    ("PUT", "/zuora/v1/payment-runs/{payment_run_key}"): {},
    ("DELETE", "/zuora/v1/payment-runs/{payment_run_key}"): {},
    ("GET", "/fusebill/v1/customers/{customer_id}"): {},
    ("GET", "/fusebill/v1/customers/{customer_id}/invoices"): {},
    ("GET", "/fusebill/v1/invoices/{invoice_id}"): {},
    ("GET", "/fusebill/v1/invoices/pdf/{invoice_id}"): {},
    ("GET", "/fusebill/v1/draftinvoices/pdf/{invoice_id}"): {},
    ("POST", "/fusebill/v1/invoices/writeoff"): {},
    ("POST", "/fusebill/v1/bulkapi"): {"async": True},
    ("POST", "/fusebill/v1/bulkwriteoff"): {"async": True},
    ("POST", "/fusebill/v1/bulkpaymentsubmit"): {"async": True},
    ("POST", "/fusebill/v1/bulkapi/upload"): {"csv": True, "async": True},
    ("POST", "/fusebill/v1/bulkpaymentsubmit/upload"): {"csv": True, "async": True},
    ("POST", "/fusebill/v1/bulkapi/process"): {},
    ("POST", "/fusebill/v1/bulkapi/cancel/{job_id}"): {},
    ("GET", "/fusebill/v1/bulkapi"): {"list": True},
    ("GET", "/fusebill/v1/bulkapi/{job_id}"): {},
    ("POST", "/fusebill/v1/payments"): {},
    ("GET", "/fusebill/v1/payments/{payment_id}"): {},
    ("POST", "/fusebill/v1/refunds"): {},
    ("GET", "/fusebill/v1/paymentactivities/getbyaccountid"): {"query": "customer", "list": True},
    ("GET", "/fusebill/v1/paymentactivities/{activity_id}"): {},
    ("GET", "/fusebill/v1/customers/{customer_id}/paymentactivities"): {},
    ("GET", "/fusebill/v1/customerbillingsetting/{customer_id}"): {},
    ("PUT", "/fusebill/v1/customerbillingsetting"): {"id": "customer"},
}

REFUSED = {400, 403, 404}
ORDER = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 2, "DELETE": 3}


def _dialect_routes(app: FastAPI) -> list[RouteInfo]:
    return [
        route
        for route in route_table(app)
        if route.path.startswith(("/zuora/v1/", "/fusebill/v1/")) and route.include_in_schema
    ]


def test_every_route_of_both_dialects_has_a_cross_tenant_case(app: FastAPI) -> None:
    served = {(route.method, route.path) for route in _dialect_routes(app)}
    assert served - CASES.keys() == set(), "routes without a cross-tenant case"
    assert CASES.keys() - served == set(), "cases for routes that no longer exist"


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def victim(runtime: Runtime, client: TestClient, tenant: NewTenant) -> Seeded:
    return seed_tenant(runtime, client, tenant)


@pytest.fixture
def intruder(runtime: Runtime) -> NewTenant:
    with unit_of_work(runtime.session_factory) as session:
        return create_tenant(session, runtime.clock, "intruder", bulk_jobs=True)


def _body(v: Seeded) -> dict[str, Any]:
    """A write body naming the victim's objects in every field a route reads ids from."""
    z = to_zuora_id
    return {
        "accountId": z(v.account_id),
        "accountKey": z(v.account_id),
        "accountNumber": v.account_number,
        "customerId": v.account_id,
        "invoiceId": v.invoice_id,
        "paymentId": v.payment_id,
        "paymentMethodId": z(v.payment_method_id),
        "gatewayId": z(v.gateway_id),
        "ProductId": z(v.product_id),
        "ProductRatePlanId": z(v.rate_plan_id),
        "Name": "intruder",
        "id": v.bulk_job_id,
        "data": [v.invoice_id],
        "accountUploadType": "BulkWriteOff",
        "amount": 1,
        "totalAmount": 1,
        "currency": "USD",
        "type": "External",
        "methodType": "Check",
        "paymentMethod": "Check",
        "targetDate": "2026-02-01",
        "contractEffectiveDate": "2026-01-01",
        "termType": "EVERGREEN",
        "billingDocuments": [
            {"billingDocumentId": z(v.invoice_id), "billingDocumentType": "Invoice"}
        ],
        "invoices": [{"invoiceId": z(v.invoice_id), "amount": 1}],
        "subscribeToRatePlans": [{"productRatePlanId": z(v.rate_plan_id)}],
        "add": [{"productRatePlanId": z(v.rate_plan_id), "contractEffectiveDate": "2026-01-01"}],
        "invoiceAllocations": [{"invoiceId": v.invoice_id, "amount": 1}],
        "Allocations": [{"InvoiceId": v.invoice_id, "Amount": 1}],
        "billToContact": {"firstName": "A", "lastName": "B"},
        "billCycleDay": 1,
    }  # fmt: skip


def _victim_markers(v: Seeded) -> list[str]:
    z = to_zuora_id
    return [
        z(v.account_id),
        z(v.payment_id),
        z(v.refund_id),
        z(v.bill_run_id),
        z(v.payment_run_id),
        z(v.product_id),
        z(v.payment_method_id),
        z(v.gateway_id),
    ]


def _call(
    client: TestClient, route: RouteInfo, case: Case, v: Seeded, headers: dict[str, str]
) -> Any:
    path = v.fill(route.path)
    params: dict[str, Any] = {}
    if case.get("query") == "account":
        params["accountId"] = to_zuora_id(v.account_id)
    if case.get("query") == "customer":
        params["accountId"] = v.account_id
    if route.method in ("GET", "DELETE"):
        return client.request(route.method, path, params=params, headers=headers)
    if case.get("import"):
        csv = f"ACCOUNT_ID,UOM,QTY,STARTDATE,ENDDATE\n{v.account_number},Call,1,02/06/2026,\n"
        files = {"file": ("usage.csv", csv.encode(), "text/csv")}
        return client.request(route.method, path, files=files, headers=headers)
    if case.get("csv"):
        csv = f"InvoiceId,Amount\n{v.invoice_id},1\n".encode()
        return client.request(
            route.method,
            path,
            params=params,
            files={"file": ("x.csv", csv, "text/csv")},
            data={"accountUploadType": "BulkWriteOff"},
            headers=headers,
        )
    body = _body(v)
    if case.get("id") == "customer":
        body["id"] = v.account_id
    return client.request(route.method, path, params=params, json=body, headers=headers)


def test_another_tenant_reaches_none_of_the_victims_objects(
    app: FastAPI,
    client: TestClient,
    runtime: Runtime,
    victim: Seeded,
    intruder: NewTenant,
    jobs: ManualDispatcher,
) -> None:
    api = api_for(client, intruder)
    bulk_jobs: list[int] = []
    tenants = [victim.tenant.tenant_id]
    jobs.run_until_idle()  # the victim's own queued work (its bill run, payment run) first
    before = database_checksum(runtime.engine, tenants, audit_log=True)
    markers = _victim_markers(victim)
    routes = sorted(_dialect_routes(app), key=lambda r: (ORDER[r.method], r.path))
    problems = []
    for route in routes:
        case = CASES[(route.method, route.path)]
        zuora = route.path.startswith("/zuora")
        headers = api.zuora_headers if zuora else api.fusebill_headers
        response = _call(client, route, case, victim, headers)
        text = response.text
        if case.get("list"):
            ok = response.status_code < 500 and not any(m in text for m in markers)
        elif case.get("async"):
            ok = response.status_code in {200, 409, *REFUSED}
            if response.status_code == 200:
                bulk_jobs.append(response.json()["id"])
                jobs.run_until_idle()
                client.post(f"/fusebill/v1/bulkapi/cancel/{bulk_jobs[-1]}", headers=headers)
        elif case.get("import") and response.status_code == 200:
            jobs.run_until_idle()
            url = response.json()["checkImportStatus"]
            url = url if url.startswith("/zuora/") else "/zuora" + url
            status = client.get(url, headers=headers)
            ok = status.status_code == 200 and status.json()["importStatus"] == "Failed"
            text = status.text
        else:
            ok = response.status_code in REFUSED
        if not ok:
            problems.append(f"{route.method} {route.path}: {response.status_code} {text[:300]}")
    assert problems == [], "\n".join(problems)
    jobs.run_until_idle()
    assert bulk_jobs
    for job in bulk_jobs:
        polled = client.get(
            f"/fusebill/v1/bulkapi/{job}", params={"view": "full"}, headers=api.fusebill_headers
        ).json()
        assert polled["successfulRecords"] == 0, polled
        assert polled["failedRecords"] == polled["totalRecords"] >= 1, polled
    assert database_checksum(runtime.engine, tenants, audit_log=True) == before


def test_each_dialects_credentials_are_refused_by_the_other(
    app: FastAPI, client: TestClient, victim: Seeded, runtime: Runtime
) -> None:
    api = api_for(client, victim.tenant)
    token = api.zuora_headers["Authorization"].removeprefix("Bearer ")
    key = victim.tenant.api_key
    before = database_checksum(runtime.engine, [victim.tenant.tenant_id], audit_log=True)
    problems = []
    for route in _dialect_routes(app):
        zuora = route.path.startswith("/zuora")
        wrong = (
            [{"Authorization": f"Basic {key}"}, {"Authorization": f"Bearer {key}"}]
            if zuora
            else [{"Authorization": f"Bearer {token}"}, {"Authorization": f"Basic {token}"}]
        )
        for headers in wrong:
            response = _call(client, route, CASES[(route.method, route.path)], victim, headers)
            if response.status_code != 401:
                problems.append(f"{route.method} {route.path} {headers}: {response.status_code}")
    assert problems == [], "\n".join(problems)
    assert database_checksum(runtime.engine, [victim.tenant.tenant_id], audit_log=True) == before


def _cli(runtime: Runtime, *args: str) -> Any:
    result = CliRunner().invoke(
        cli, [*args, "--database", runtime.settings.database_url], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result


def test_a_rotated_or_deleted_client_stops_working_at_once(
    client: TestClient, runtime: Runtime, tenant: NewTenant
) -> None:
    old = api_for(client, tenant).zuora_headers
    assert client.get("/zuora/v1/payments", headers=old).status_code == 200
    rotated = json.loads(
        _cli(runtime, "tenant", "client", "rotate", tenant.client_id, "--json").output
    )
    assert rotated["clientId"] == tenant.client_id
    refused = client.get("/zuora/v1/payments", headers=old)
    assert refused.status_code == 401, refused.text
    assert re.search(r"deleted or rotated", refused.text)
    # The old secret no longer gets a token; the new one does, and its token works.
    form = {"client_id": tenant.client_id, "grant_type": "client_credentials"}
    stale = client.post("/zuora/oauth/token", data={**form, "client_secret": tenant.client_secret})
    assert stale.status_code == 401
    fresh = client.post(
        "/zuora/oauth/token", data={**form, "client_secret": rotated["clientSecret"]}
    )
    assert fresh.status_code == 200, fresh.text
    new = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert client.get("/zuora/v1/payments", headers=new).status_code == 200
    # The hot path (bill runs are read outside FastAPI's dependency machinery) too.
    assert client.get("/zuora/v1/bill-runs", headers=new).status_code == 200
    _cli(runtime, "tenant", "client", "delete", tenant.client_id)
    for path in ("/zuora/v1/payments", "/zuora/v1/bill-runs"):
        assert client.get(path, headers=new).status_code == 401
    created = client.post("/zuora/v1/bill-runs", json={"targetDate": "2026-02-01"}, headers=new)
    assert created.status_code == 401
