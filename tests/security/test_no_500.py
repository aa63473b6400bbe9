# ruff: noqa: E501, UP031  (request bodies written out as the wire carries them)
"""No input ends in a 500: each class of input that once did gets a 4xx in the dialect's
envelope (or a normal answer) and changes nothing. One test per class (issue 13, item 1);
the schemathesis suite (test_fuzzing.py) looks for the ones nobody listed."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from billcycle.db.session import unit_of_work
from billcycle.ids import to_zuora_id
from billcycle.runtime import Runtime
from billcycle.tenancy import management
from billcycle.tenancy.service import NewTenant, create_tenant
from billcycle.zuora.paging import MAX_PAGE_NUMBER
from tests.security.helpers import Seeded, database_checksum, seed_tenant
from tests.support.api import Api, api_for

SRC = Path(__file__).resolve().parents[2] / "src" / "billcycle"
HUGE = ["9223372036854775807", "99999999999999999999999", "-1"]


@pytest.fixture
def client(app: FastAPI) -> Any:
    # The server's own answer to every input (a 500 among them) is what is tested here.
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def seeded(runtime: Runtime, client: TestClient, tenant: NewTenant) -> Seeded:
    return seed_tenant(runtime, client, tenant)


@pytest.fixture
def api(client: TestClient, tenant: NewTenant) -> Api:
    return api_for(client, tenant)


def _json(response: Any) -> Any:
    # Every answer is a JSON document encodable as UTF-8 (no lone surrogate in it).
    return json.loads(response.content.decode("utf-8"))


def _paged_lists(app: FastAPI, seeded: Seeded) -> list[tuple[str, str, dict[str, str]]]:
    """(path, page parameter) of every paged list in both OpenAPI documents."""
    found = []
    for mount, page_names in (("/zuora", {"page"}), ("/fusebill", {"pageNumber", "pageSize"})):
        document = TestClient(app).get(f"{mount}/openapi.json").json()
        for path, operations in document["paths"].items():
            get = operations.get("get")
            if get is None:
                continue
            names = {p["name"] for p in get.get("parameters", []) if p["in"] == "query"}
            concrete = seeded.fill(mount + path)
            extra = {}
            if path.endswith("/billing-documents"):
                extra["accountId"] = to_zuora_id(seeded.account_id)
            found += [(concrete, name, extra) for name in sorted(names & page_names)]
    return found


def test_page_numbers_past_the_database_integer_range_are_refused_on_every_list(
    app: FastAPI, client: TestClient, api: Api, seeded: Seeded
) -> None:
    lists = _paged_lists(app, seeded)
    # Zuora: bill runs, subscriptions, invoice items, billing documents, catalog, payments,
    # refunds, payment runs and their data; Fusebill: invoices, bulk jobs, activities.
    assert len(lists) >= 14, lists
    for path, name, extra in lists:
        headers = api.zuora_headers if path.startswith("/zuora") else api.fusebill_headers
        for value in HUGE:
            response = client.get(path, params={**extra, name: value}, headers=headers)
            assert response.status_code == 400, (path, name, value, response.text)
            _json(response)
        if name in ("page", "pageNumber"):
            last = {**extra, name: str(MAX_PAGE_NUMBER)}
            response = client.get(path, params=last, headers=headers)
            assert response.status_code == 200, (path, response.text)


def test_an_unknown_field_nested_in_a_contact_is_refused_on_update(
    client: TestClient, api: Api, seeded: Seeded, runtime: Runtime
) -> None:
    before = database_checksum(runtime.engine, [seeded.tenant.tenant_id])
    account = to_zuora_id(seeded.account_id)
    for body in (
        {"billToContact": {"nickName": "x"}},
        {"soldToContact": {"firstName": "Ada", "nickName": "x"}},
    ):
        response = client.put(
            f"/zuora/v1/accounts/{account}",
            params={"rejectUnknownFields": "true"},
            json=body,
            headers=api.zuora_headers,
        )
        assert response.status_code == 400, response.text
        reason = _json(response)["reasons"][0]
        assert reason["code"] % 100 == 21
        assert "Contact.nickName" in reason["message"]
    assert database_checksum(runtime.engine, [seeded.tenant.tenant_id]) == before


def test_unknown_fields_in_a_contact_are_ignored_on_update_without_reject(
    client: TestClient, api: Api, seeded: Seeded, runtime: Runtime
) -> None:
    """Without ``rejectUnknownFields`` an unknown key (any text, the empty one too) in a
    nested contact is ignored, as Zuora ignores it, and the known fields are applied."""
    account = to_zuora_id(seeded.account_id)
    response = client.put(
        f"/zuora/v1/accounts/{account}",
        json={"billToContact": {"": "x", "nickName": 1, "firstName": "Grace"}},
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    got = client.get(f"/zuora/v1/accounts/{account}", headers=api.zuora_headers).json()
    assert got["billToContact"]["firstName"] == "Grace"


@pytest.mark.parametrize(
    "query",
    [
        "dueDate:9999-12-31",
        "postedTimestamp:9999-12-31",
        "postedTimestamp:9999-12-31T23:59:59",
        "effectiveTimestamp:9999-12-31",
        "dueDate:9999-12-31T12:00:00|",
        "dueDate:|9999-12-31",
        "postedTimestamp:0001-01-01|9999-12-31",
        "dueDate:0001-01-01",
    ],
)
def test_fusebill_query_dates_at_the_edge_of_the_calendar(
    client: TestClient, api: Api, seeded: Seeded, query: str
) -> None:
    response = client.get(
        f"/fusebill/v1/customers/{seeded.account_id}/invoices",
        params={"query": query},
        headers=api.fusebill_headers,
    )
    assert response.status_code in (200, 400), response.text
    _json(response)


def test_decimal_overflow_is_a_clear_400_wherever_a_number_is_parsed(
    client: TestClient, api: Api, seeded: Seeded, runtime: Runtime
) -> None:
    plan, charge = to_zuora_id(seeded.rate_plan_id), to_zuora_id(seeded.charge_id)
    account = to_zuora_id(seeded.account_id)
    new_charge = (
        '{"ProductRatePlanId": "%s", "Name": "S", "ChargeType": "Recurring",'
        ' "ChargeModel": "Per Unit Pricing", "BillingPeriod": "Month",'
        ' "BillCycleType": "DefaultFromCustomer", "TriggerEvent": "ContractEffective",'
        ' "UOM": "Each", "DefaultQuantity": %s, "ProductRatePlanChargeTierData":'
        ' {"ProductRatePlanChargeTier": [{"Currency": "USD", "Price": %s}]}}'
    )
    z, f = api.zuora_headers, api.fusebill_headers
    cases = [
        ("POST", "/zuora/v1/object/product-rate-plan-charge", new_charge % (plan, 1, "1e999999999"), z),
        ("POST", "/zuora/v1/object/product-rate-plan-charge", new_charge % (plan, "1e999999999", 1), z),
        ("PUT", f"/zuora/v1/object/product-rate-plan-charge/{charge}", '{"ProductRatePlanChargeTierData": {"ProductRatePlanChargeTier": [{"Currency": "USD", "Price": 1e999999999}]}}', z),
        ("POST", "/zuora/v1/payments", '{"accountId": "%s", "amount": 1e999999999, "currency": "USD", "type": "External"}' % account, z),
        ("POST", "/zuora/v1/payments", '{"accountId": "%s", "amount": 1e300, "currency": "USD", "type": "External"}' % account, z),
        ("POST", "/zuora/v1/subscriptions", '{"accountKey": "%s", "contractEffectiveDate": "2026-01-01", "termType": "EVERGREEN", "subscribeToRatePlans": [{"productRatePlanId": "%s", "chargeOverrides": [{"productRatePlanChargeId": "%s", "price": 1e999999999}]}]}' % (account, plan, charge), z),
        ("POST", "/fusebill/v1/payments", '{"customerId": %d, "amount": 1e999999999, "paymentMethod": "Check", "source": "Manual"}' % seeded.account_id, f),
        ("POST", "/fusebill/v1/payments", '{"customerId": %d, "amount": 1e300, "paymentMethod": "Check", "source": "Manual"}' % seeded.account_id, f),
        ("GET", f"/fusebill/v1/customers/{seeded.account_id}/invoices?query=outstandingBalance:1e999999999", None, f),
    ]  # fmt: skip
    before = database_checksum(runtime.engine, [seeded.tenant.tenant_id])
    for method, path, body, headers in cases:
        response = client.request(
            method, path, content=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (path, body, response.text)
        _json(response)
    assert database_checksum(runtime.engine, [seeded.tenant.tenant_id]) == before


def test_lone_surrogates_and_nul_are_refused_in_any_text(
    client: TestClient, api: Api, seeded: Seeded, runtime: Runtime
) -> None:
    account = to_zuora_id(seeded.account_id)
    z, f = api.zuora_headers, api.fusebill_headers
    contact = '"billToContact": {"firstName": "A", "lastName": "B"}'
    cases: list[tuple[str, str, str | None, dict[str, str]]] = []
    for bad in ("\\ud800", "\\udfff", "a\\u0000b"):
        cases += [
            ("POST", "/zuora/v1/accounts", f'{{"name": "{bad}", "currency": "USD", {contact}}}', z),
            ("PUT", f"/zuora/v1/accounts/{account}", f'{{"notes": "{bad}"}}', z),
            ("POST", "/zuora/v1/object/product", f'{{"Name": "{bad}", "EffectiveStartDate": "2020-01-01", "EffectiveEndDate": "2030-01-01"}}', z),
            # The error message would echo the value: it must still be writable.
            ("POST", "/fusebill/v1/bulkwriteoff", f'{{"accountUploadType": "{bad}", "data": [1]}}', f),
            ("POST", "/fusebill/v1/payments", f'{{"customerId": 1, "amount": 1, "paymentMethod": "{bad}"}}', f),
            ("POST", "/zuora/v1/bill-runs", f'{{"batches": ["{bad}"], "targetDate": "2026-02-01"}}', z),
        ]  # fmt: skip
    cases += [
        ("GET", "/zuora/v1/payments?status=%00", None, z),
        ("GET", f"/fusebill/v1/customers/{seeded.account_id}/invoices?query=invoiceNumber:%00", None, f),
    ]  # fmt: skip
    before = database_checksum(runtime.engine, [seeded.tenant.tenant_id])
    for method, path, body, headers in cases:
        response = client.request(
            method, path, content=body, headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 400, (path, body, response.text)
        _json(response)
    # In a path, an id with a NUL names nothing.
    path = client.get(f"/zuora/v1/accounts/A%00{account}", headers=z)
    assert path.status_code == 404, path.text
    form = client.post(
        "/zuora/oauth/token",
        content=b"client_id=a%00b&client_secret=x&grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 400, form.text
    assert database_checksum(runtime.engine, [seeded.tenant.tenant_id]) == before
    # A surrogate pair is a character like any other.
    ok = client.post(
        "/zuora/v1/accounts",
        content=f'{{"name": "Emoji \\ud83d\\ude00", "currency": "USD", "billCycleDay": 1, {contact}}}',
        headers={**z, "Content-Type": "application/json"},
    )
    assert ok.status_code == 200, ok.text


def test_a_validly_signed_token_of_a_deleted_tenant_is_refused(
    client: TestClient, runtime: Runtime
) -> None:
    with unit_of_work(runtime.session_factory) as session:
        doomed = create_tenant(session, runtime.clock, "doomed")
    token = api_for(client, doomed).zuora_headers
    assert client.get("/zuora/v1/payments", headers=token).status_code == 200
    with unit_of_work(runtime.session_factory) as session:
        management.delete_tenant(session, doomed.tenant_id)
    for path in ("/zuora/v1/payments", "/zuora/v1/bill-runs", f"/zuora/v1/accounts/{'0' * 31}1"):
        response = client.get(path, headers=token)
        assert response.status_code == 401, response.text
        assert _json(response)["reasons"][0]["code"] % 100 == 11
    created = client.post(
        "/zuora/v1/accounts",
        json={
            "name": "x",
            "currency": "USD",
            "billCycleDay": 1,
            "billToContact": {"firstName": "A", "lastName": "B"},
        },
        headers=token,
    )
    assert created.status_code == 401, created.text


def test_fullwidth_digits_are_not_integers(client: TestClient, api: Api, seeded: Seeded) -> None:
    fullwidth = "\uff18"  # FULLWIDTH DIGIT EIGHT
    f, z = api.fusebill_headers, api.zuora_headers
    assert client.get(f"/fusebill/v1/invoices/{fullwidth}", headers=f).status_code == 400
    assert client.get(f"/fusebill/v1/payments/{fullwidth}", headers=f).status_code == 400
    for path, params in (
        ("/zuora/v1/payments", {"page": fullwidth}),
        ("/zuora/v1/payments", {"pageSize": fullwidth}),
        ("/zuora/v1/refunds", {"page": fullwidth}),
        ("/zuora/v1/bill-runs", {"page": fullwidth}),
    ):
        response = client.get(path, params=params, headers=z)
        assert response.status_code == 400, (path, response.text)
    response = client.get("/fusebill/v1/bulkapi", params={"pageNumber": fullwidth}, headers=f)
    assert response.status_code == 400, response.text


def test_wire_integers_are_read_from_ascii_digits_only() -> None:
    """The rule behind the fullwidth test: ``str.isdigit`` is only called by
    ``ids.is_ascii_digits``, and every pattern with ``\\d`` is compiled with ``re.ASCII``."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            where = f"{path.relative_to(SRC)}:{node.lineno}"
            if node.func.attr == "isdigit" and path.name != "ids.py":
                offenders.append(f"{where}: isdigit()")
            if node.func.attr in ("compile", "match", "fullmatch", "search") and node.args:
                pattern = node.args[0]
                text = ast.unparse(pattern)
                flags = "".join(ast.unparse(arg) for arg in node.args[1:])
                flags += "".join(ast.unparse(k.value) for k in node.keywords if k.arg == "flags")
                if "\\\\d" in text and "ASCII" not in flags:
                    offenders.append(f"{where}: \\d without re.ASCII")
    assert offenders == []


def test_negative_price_overrides_are_refused_as_the_catalog_refuses_them(
    client: TestClient, api: Api, seeded: Seeded, runtime: Runtime
) -> None:
    account, plan = to_zuora_id(seeded.account_id), to_zuora_id(seeded.rate_plan_id)
    charge = to_zuora_id(seeded.charge_id)
    before = database_checksum(runtime.engine, [seeded.tenant.tenant_id])
    response = client.post(
        "/zuora/v1/subscriptions",
        json={
            "accountKey": account,
            "contractEffectiveDate": "2026-01-01",
            "termType": "EVERGREEN",
            "subscribeToRatePlans": [
                {
                    "productRatePlanId": plan,
                    "chargeOverrides": [{"productRatePlanChargeId": charge, "price": -5}],
                }
            ],
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 400, response.text
    assert "negative" in _json(response)["reasons"][0]["message"]
    catalog = client.put(
        f"/zuora/v1/object/product-rate-plan-charge/{charge}",
        json={
            "ProductRatePlanChargeTierData": {
                "ProductRatePlanChargeTier": [{"Currency": "USD", "Price": -5}]
            }
        },
        headers=api.zuora_headers,
    )
    assert catalog.status_code == 400, catalog.text
    assert database_checksum(runtime.engine, [seeded.tenant.tenant_id]) == before


def test_text_values_are_capped_in_every_json_body(
    client: TestClient, api: Api, seeded: Seeded, runtime: Runtime
) -> None:
    account = to_zuora_id(seeded.account_id)
    before = database_checksum(runtime.engine, [seeded.tenant.tenant_id])
    long_text = "a" * 65_537
    cases = [
        ("PUT", f"/zuora/v1/accounts/{account}", {"notes": long_text}, api.zuora_headers),
        ("POST", "/zuora/v1/bill-runs", {"batches": [long_text], "targetDate": "2026-02-01"}, api.zuora_headers),
        ("POST", "/fusebill/v1/bulkwriteoff", {"accountUploadType": long_text, "data": [1]}, api.fusebill_headers),
        ("POST", "/fusebill/v1/payments", {"customerId": 1, "reference": long_text}, api.fusebill_headers),
    ]  # fmt: skip
    for method, path, body, headers in cases:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 400, (path, response.text[:300])
        message = json.dumps(_json(response))
        assert "65536 characters" in message, message
    assert database_checksum(runtime.engine, [seeded.tenant.tenant_id]) == before
    # At the caps: the usual answer.
    notes = client.put(
        f"/zuora/v1/accounts/{account}", json={"notes": "a" * 100}, headers=api.zuora_headers
    )
    assert notes.status_code == 200, notes.text


def test_usage_quantities_and_discount_overrides_out_of_range_are_clear_400s(
    client: TestClient, api: Api, runtime: Runtime, jobs: Any
) -> None:
    """Usage quantities (object API and file import) and discount overrides: a number past
    the range either way (``1e999999999``, ``1e-999999999``) is refused with a short message
    (never printed digit by digit), a negative discount too; a positive discount is taken."""
    from tests.catalog.factories import charge_body, post, product_body
    from tests.usage.helpers import PER_UNIT, add_uoms, add_usage, subscribe

    add_uoms(runtime, api.tenant.tenant_id, "Call")
    customer = subscribe(api, runtime, PER_UNIT)
    product = post(api, "product", product_body(SKU="SKU-DISCOUNTS")).json()["Id"]
    plan = post(api, "product-rate-plan", {"ProductId": product, "Name": "Plan"}).json()["Id"]
    tier = {"Currency": "USD", "DiscountAmount": 1}
    discount = post(
        api,
        "product-rate-plan-charge",
        charge_body(
            plan,
            Name="Loyalty",
            ChargeModel="Discount-Fixed Amount",
            DefaultQuantity=None,
            UOM=None,
            DiscountLevel="subscription",
            ProductRatePlanChargeTierData={"ProductRatePlanChargeTier": [tier]},
        ),
    ).json()["Id"]
    before = database_checksum(runtime.engine, [api.tenant.tenant_id])
    for quantity in ["1e999999999", "-1e999999999", "1e-999999999", "1e300"]:
        response = add_usage(api, customer, "API calls", quantity, "2026-01-05", "Call")
        assert response.status_code == 400, response.text
        assert len(response.text) < 500, response.text
        assert "Quantity" in response.text, response.text
    for amount in ["1e999999999", "1e-999999999", "-5"]:
        response = client.post(
            "/zuora/v1/subscriptions",
            content='{"accountKey": "%s", "contractEffectiveDate": "2026-01-01", "termType": "EVERGREEN", "subscribeToRatePlans": [{"productRatePlanId": "%s", "chargeOverrides": [{"productRatePlanChargeId": "%s", "discountAmount": %s}]}]}'
            % (customer.account_number, plan, discount, amount),
            headers={**api.zuora_headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert len(response.text) < 1000, response.text
    assert database_checksum(runtime.engine, [api.tenant.tenant_id]) == before
    # A file import with a bad row is stored (its status says why) and loads nothing.
    for quantity in ["1e999999999", "-1e999999999", "1e-999999999", "1e300"]:
        csv = f"ACCOUNT_ID,UOM,QTY,STARTDATE,ENDDATE\n{customer.account_number},Call,{quantity},01/06/2026,\n"
        upload = client.post(
            "/zuora/v1/usage",
            files={"file": ("usage.csv", csv.encode(), "text/csv")},
            headers=api.zuora_headers,
        )
        assert upload.status_code == 200, upload.text
        jobs.run_until_idle()
        url = upload.json()["checkImportStatus"]
        status = client.get(
            url if url.startswith("/zuora/") else "/zuora" + url, headers=api.zuora_headers
        )
        assert status.status_code == 200, status.text
        assert status.json()["importStatus"] == "Failed", status.text
        assert len(status.text) < 1000, status.text
        assert status.json()["loadedRecords"] == 0, status.text
    taken = client.post(
        "/zuora/v1/subscriptions",
        json={
            "accountKey": customer.account_number,
            "contractEffectiveDate": "2026-01-01",
            "termType": "EVERGREEN",
            "subscribeToRatePlans": [
                {
                    "productRatePlanId": plan,
                    "chargeOverrides": [{"productRatePlanChargeId": discount, "discountAmount": 5}],
                }
            ],
        },
        headers=api.zuora_headers,
    )
    assert taken.status_code == 200, taken.text
