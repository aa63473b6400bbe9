"""``GET /fusebill/v1/customers/{id}``: a billcycle account in Fusebill's Customer shape."""

from __future__ import annotations

import re

import pytest

from billcycle.accounts import service as accounts
from billcycle.accounts.inputs import AccountChanges
from billcycle.runtime import Runtime
from tests.fusebill.helpers import Customer, assert_error, create_account, fget
from tests.subscriptions.factories import setup
from tests.support.api import Api

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?$")


def test_customer_shape(api: Api, customer: Customer) -> None:
    response = fget(api, f"/v1/customers/{customer.id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert TIMESTAMP.match(body.pop("createdTimestamp"))
    assert TIMESTAMP.match(body.pop("modifiedTimestamp"))
    assert body == {
        "firstName": "Ada",
        "middleName": None,
        "lastName": "Lovelace",
        "companyName": "Acme Corp",
        "suffix": None,
        "title": None,
        "primaryEmail": "ada@example.com",
        "primaryPhone": "+1 555 0100",
        "secondaryEmail": None,
        "secondaryPhone": None,
        "reference": customer.account_number,
        "status": "Active",
        # The 2025-11-01 invoice is past due (2025-12-01) and owed.
        "customerAccountStatus": "PoorStanding",
        "accountStatus": "PoorStanding",
        "currency": "USD",
        "monthlyRecurringRevenue": 0.0,
        "netMRR": 0.0,
        # 60 + 0 + 20 + 30 posted and owed; the draft is not a receivable.
        "arBalance": 110.0,
        "parentId": None,
        "isParent": False,
        "portalUserName": None,
        "salesforceId": None,
        "netsuiteId": None,
        "quickBooksId": None,
        "id": customer.id,
        "uri": f"http://testserver/fusebill/v1/customers/{customer.id}",
    }


def test_customer_in_good_standing_owes_nothing_overdue(api: Api) -> None:
    account_id, _ = create_account(api)
    body = fget(api, f"/v1/customers/{account_id}").json()
    assert (body["customerAccountStatus"], body["accountStatus"]) == ("Good", "Good")
    assert body["arBalance"] == 0.0


def test_writing_off_the_overdue_invoice_restores_good_standing(
    api: Api, customer: Customer
) -> None:
    response = api.client.post(
        "/fusebill/v1/invoices/writeoff",
        json={"invoiceId": customer.overdue, "amount": 60},
        headers=api.fusebill_headers,
    )
    assert response.status_code == 200, response.text
    body = fget(api, f"/v1/customers/{customer.id}").json()
    assert body["customerAccountStatus"] == "Good"
    assert body["arBalance"] == 50.0


@pytest.mark.parametrize(
    ("zuora_status", "fusebill_status"), [("Draft", "Draft"), ("Canceled", "Cancelled")]
)
def test_statuses_use_fusebill_names(
    api: Api, runtime: Runtime, zuora_status: str, fusebill_status: str
) -> None:
    account_id, _ = create_account(api, status="Draft")
    if zuora_status != "Draft":
        with runtime.service_context(api.tenant.tenant_id) as ctx:
            account = accounts.require_account(ctx, account_id)
            accounts.update_account(ctx, account, AccountChanges(status=zuora_status))
    assert fget(api, f"/v1/customers/{account_id}").json()["status"] == fusebill_status


def test_customer_without_contact(api: Api, runtime: Runtime) -> None:
    data = setup(runtime, api.tenant.tenant_id)
    body = fget(api, f"/v1/customers/{data.account_id}").json()
    assert (body["firstName"], body["lastName"], body["primaryEmail"]) == (None, None, None)
    assert body["reference"] == data.account_number


def test_unknown_and_foreign_customers_are_not_found(
    api: Api, other_api: Api, customer: Customer
) -> None:
    assert_error(fget(api, "/v1/customers/999999"), 404, "Customer 999999 not found.")
    assert_error(fget(other_api, f"/v1/customers/{customer.id}"), 404, "not found")
    assert_error(fget(other_api, f"/v1/customers/{customer.id}/invoices"), 404, "not found")


@pytest.mark.parametrize("key", ["0", "-3", "99999999999999999999999"])
def test_ids_that_cannot_exist_are_not_found(api: Api, key: str) -> None:
    assert_error(fget(api, f"/v1/customers/{key}"), 404, "not found")


@pytest.mark.parametrize("key", ["abc", "1.5", "0x1f", "A00000001"])
def test_non_integer_ids_are_bad_requests(api: Api, key: str) -> None:
    message = assert_error(fget(api, f"/v1/customers/{key}"), 400)
    # The path is folded to lower case before routing.
    assert message == f"Invalid customer id '{key.lower()}': ids are integers."
