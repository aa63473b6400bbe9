# The SDK types nearly every field Optional and leaves its constructors untyped.
# mypy: disable-error-code="union-attr, no-untyped-call, arg-type, index"
"""zuora-sdk, unchanged, against a live billcycle server: every accounts answer must
deserialize into the SDK's models."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from zuora_sdk.api.accounts_api import AccountsApi
from zuora_sdk.api_client import ApiClient
from zuora_sdk.configuration import Configuration
from zuora_sdk.exceptions import ApiException
from zuora_sdk.models.create_account_contact import CreateAccountContact
from zuora_sdk.models.create_account_request import CreateAccountRequest
from zuora_sdk.models.update_account_contact import UpdateAccountContact
from zuora_sdk.models.update_account_request import UpdateAccountRequest
from zuora_sdk.zuora_client import ZuoraClient

from billcycle.accounts import service
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.accounts.factories import add_invoice, apply_to_invoice

SHARED_HELPER = "tests.support.zuora_sdk"


def make_sdk_client(base_url: str, client_id: str, client_secret: str) -> Any:
    """The shared ``make_sdk_client`` when it exists; until then, the SDK's own client."""
    try:
        helper = importlib.import_module(SHARED_HELPER)
    except ModuleNotFoundError as exc:
        if exc.name != SHARED_HELPER:
            raise
        client = ZuoraClient(client_id, client_secret, None, Configuration(host=base_url))
        client.initialize()
        return client
    return helper.make_sdk_client(base_url, client_id, client_secret)


def _accounts_api(client: Any) -> AccountsApi:
    if isinstance(client, AccountsApi):
        return client
    if isinstance(client, ApiClient):
        return AccountsApi(client)
    api: AccountsApi = client.accounts_api()
    return api


@pytest.fixture
def accounts(live_url: str, tenant: NewTenant) -> AccountsApi:
    client = make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)
    return _accounts_api(client)


def test_create_read_update_delete_through_the_sdk(
    accounts: AccountsApi, runtime: Runtime, tenant: NewTenant
) -> None:
    created = accounts.create_account(
        CreateAccountRequest(
            name="SDK Corp",
            currency="EUR",
            bill_cycle_day=5,
            batch="Batch3",
            payment_term="Net 30",
            bill_to_contact=CreateAccountContact(
                first_name="Ada", last_name="Lovelace", country="DE", work_email="a@b.de"
            ),
        )
    )
    assert created.success is True
    assert created.account_number == "A00000001"
    assert created.account_id is not None
    assert len(created.account_id) == 32

    with runtime.service_context(tenant.tenant_id) as ctx:
        account = service.find_account(ctx, account_id=None, number="A00000001")
        invoice = add_invoice(ctx, account, amount_minor=2_050)
        apply_to_invoice(ctx, invoice, 50)

    detail = accounts.get_account(created.account_id)
    assert detail.success is True
    assert detail.basic_info.id == created.account_id
    assert detail.basic_info.name == "SDK Corp"
    assert detail.basic_info.batch == "Batch3"
    assert detail.basic_info.status == "Active"
    assert detail.billing_and_payment.bill_cycle_day == 5
    assert detail.billing_and_payment.currency == "EUR"
    assert detail.billing_and_payment.payment_term == "Net 30"
    assert detail.metrics.balance == 20.0
    assert detail.metrics.total_invoice_balance == 20.0
    assert detail.bill_to_contact.first_name == "Ada"
    assert detail.bill_to_contact.country == "Germany"
    assert detail.sold_to_contact.last_name == "Lovelace"

    summary = accounts.get_account_summary("A00000001")
    assert summary.success is True
    assert summary.basic_info.account_number == "A00000001"
    assert summary.basic_info.balance == "20.00"
    assert summary.bill_to_contact.work_email == "a@b.de"
    assert [i.invoice_number for i in summary.invoices] == [invoice.invoice_number]
    assert summary.invoices[0].balance == 20.0
    assert summary.subscriptions == []
    assert summary.payments == []
    assert summary.usage == []

    updated = accounts.update_account(
        "A00000001",
        UpdateAccountRequest(
            name="SDK Corp II",
            bill_to_contact=UpdateAccountContact(first_name="Ada", last_name="King"),
        ),
    )
    assert updated.success is True
    assert accounts.get_account("A00000001").bill_to_contact.last_name == "King"

    with pytest.raises(ApiException) as refused:
        accounts.delete_account("A00000001")
    assert refused.value.status == 400


def test_delete_and_not_found_through_the_sdk(accounts: AccountsApi) -> None:
    created = accounts.create_account(
        CreateAccountRequest(
            name="Short-lived",
            currency="USD",
            bill_cycle_day=1,
            bill_to_contact=CreateAccountContact(first_name="A", last_name="B"),
        )
    )
    deleted = accounts.delete_account(created.account_id)
    assert deleted.success is True
    assert deleted.id == created.account_id
    with pytest.raises(ApiException) as missing:
        accounts.get_account(created.account_id)
    assert missing.value.status == 404
