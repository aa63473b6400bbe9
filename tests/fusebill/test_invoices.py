"""``GET /fusebill/v1/invoices/{id}``: posted invoices in Fusebill's Invoice shape."""

from __future__ import annotations

from datetime import date

import pytest

from billcycle.invoicing import service as invoicing
from billcycle.invoicing.generator import GenerationOptions, generate_invoices
from billcycle.runtime import Runtime
from tests.fusebill.helpers import Customer, assert_error, create_account, fget
from tests.subscriptions.factories import add_rate_plan, flat
from tests.support.api import Api


def test_invoice_shape(api: Api, customer: Customer) -> None:
    response = fget(api, f"/v1/invoices/{customer.partial}")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "invoiceNumber": customer.numbers[customer.partial],
        "customerId": customer.id,
        "currency": "USD",
        "status": "PartiallyPaid",
        "terms": "Net30",
        "poNumber": None,
        "effectiveTimestamp": "2026-01-01T00:00:00",
        "postedTimestamp": "2026-01-10T09:02:00",
        "createdTimestamp": "2026-01-10T09:00:00",
        "modifiedTimestamp": "2026-01-10T09:02:00",
        "dueDate": "2026-01-31",
        "subtotal": 30.0,
        "invoiceAmount": 30.0,
        "totalPayments": 10.0,
        "sumOfCreditNotes": 0.0,
        "totalWriteoffs": 0.0,
        "outstandingBalance": 20.0,
        "unsettled": False,
        "id": customer.partial,
        "uri": f"http://testserver/fusebill/v1/invoices/{customer.partial}",
    }


def test_statuses_and_balances(api: Api, customer: Customer) -> None:
    seen = {
        invoice_id: fget(api, f"/v1/invoices/{invoice_id}").json() for invoice_id in customer.posted
    }
    summary = {
        invoice_id: (body["status"], body["invoiceAmount"], body["outstandingBalance"])
        for invoice_id, body in seen.items()
    }
    assert summary == {
        customer.overdue: ("Overdue", 60.0, 60.0),
        customer.paid: ("Paid", 30.0, 0.0),
        customer.partial: ("PartiallyPaid", 30.0, 20.0),
        customer.unpaid: ("Unpaid", 30.0, 30.0),
    }
    for body in seen.values():
        settled = body["totalPayments"] + body["sumOfCreditNotes"] + body["totalWriteoffs"]
        assert settled + body["outstandingBalance"] == body["invoiceAmount"]


def test_due_upon_receipt_is_net0(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    account_id, number = create_account(api, paymentTerm="Due Upon Receipt")
    with runtime.service_context(tenant_id) as ctx:
        plan = add_rate_plan(ctx.session, tenant_id, flat("30"))
    body = {
        "accountKey": number,
        "contractEffectiveDate": "2026-01-01",
        "termType": "EVERGREEN",
        "subscribeToRatePlans": [{"productRatePlanId": plan.rate_plan_key}],
    }
    response = api.client.post("/zuora/v1/subscriptions", json=body, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    with runtime.service_context(tenant_id) as ctx:
        day = date(2026, 1, 1)
        ids = generate_invoices(
            ctx, [account_id], GenerationOptions(target_date=day, invoice_date=day)
        ).invoice_ids
        invoicing.post_invoices(ctx, ids)
    invoice = fget(api, f"/v1/invoices/{ids[0]}").json()
    # Due on 2026-01-01, owed on 2026-01-10: overdue.
    assert (invoice["terms"], invoice["dueDate"], invoice["status"]) == (
        "Net0",
        "2026-01-01",
        "Overdue",
    )


def test_a_draft_is_not_a_fusebill_invoice(api: Api, customer: Customer) -> None:
    assert_error(fget(api, f"/v1/invoices/{customer.draft}"), 404, f"{customer.draft} not found")
    # ... while Zuora shows it.
    zuora = api.client.get(
        f"/zuora/v1/invoices/{customer.draft:032x}", headers=api.zuora_headers
    ).json()
    assert zuora["status"] == "Draft"


def test_unknown_and_foreign_invoices_are_not_found(
    api: Api, other_api: Api, customer: Customer
) -> None:
    assert_error(fget(api, "/v1/invoices/987654"), 404, "Invoice 987654 not found.")
    assert_error(fget(other_api, f"/v1/invoices/{customer.overdue}"), 404, "not found")
    assert_error(fget(api, "/v1/invoices/9223372036854775808"), 404, "not found")


@pytest.mark.parametrize("key", ["abc", "1.0", "1e3", "%20"])
def test_non_integer_invoice_ids_are_bad_requests(api: Api, key: str) -> None:
    assert_error(fget(api, f"/v1/invoices/{key}"), 400, "ids are integers")
