# The SDK types nearly every field Optional and leaves its constructors untyped.
# mypy: disable-error-code="union-attr, no-untyped-call, arg-type, index"
"""Issue 10 audit ("Bad input"): an electronic payment through zuora-sdk naming a
payment method of another account, of another tenant, or a closed one is a clear 4xx in
Zuora's envelope, and the ledger and the gateway are untouched (the services' refusals
are tested in tests/charging/test_charging.py; this is the same through the API)."""

from __future__ import annotations

import json

import pytest
from zuora_sdk.exceptions import ApiException
from zuora_sdk.models.create_payment_request import CreatePaymentRequest
from zuora_sdk.zuora_client import ZuoraClient

from billcycle.ids import to_zuora_id
from billcycle.paymentmethods.statuses import PaymentMethodStatus
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.charging.helpers import add_method, charge_rows
from tests.gateways.helpers import configure_test_gateway
from tests.payments.helpers import posted_invoices
from tests.support.zuora_sdk import make_sdk_client
from tests.zuora_payments.helpers import ledger_state


@pytest.fixture
def client(live_url: str, tenant: NewTenant) -> ZuoraClient:
    return make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)


def test_another_accounts_another_tenants_or_a_closed_method_is_refused(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    configure_test_gateway(runtime, t, make_default=True)
    billed = posted_invoices(runtime, t, ["100"])
    own = add_method(runtime, t, billed.account_id, "tok_visa")
    closed = add_method(
        runtime, t, billed.account_id, default=False, status=PaymentMethodStatus.CLOSED
    )
    neighbour = posted_invoices(runtime, t, ["10"])
    theirs = add_method(runtime, t, neighbour.account_id, "tok_visa")
    elsewhere = posted_invoices(runtime, other_tenant.tenant_id, ["10"])
    configure_test_gateway(runtime, other_tenant.tenant_id, make_default=True)
    foreign = add_method(runtime, other_tenant.tenant_id, elsewhere.account_id, "tok_visa")
    payments = client.payments_api()
    before = ledger_state(runtime, t, billed.account_id, billed.invoice_ids)

    def pay_with(method_id: int) -> CreatePaymentRequest:
        return CreatePaymentRequest(
            account_id=to_zuora_id(billed.account_id),
            amount=10,
            currency="USD",
            type="Electronic",
            effective_date="2026-01-10",
            payment_method_id=to_zuora_id(method_id),
        )

    for method_id, status, words in [
        (theirs, 400, "belong"),
        (foreign, 404, "not found"),
        (closed, 400, "Closed"),
    ]:
        with pytest.raises(ApiException) as refused:
            payments.create_payment(pay_with(method_id))
        assert refused.value.status == status, refused.value.body
        body = json.loads(refused.value.body)
        assert body["success"] is False
        (reason,) = body["reasons"]
        assert str(reason["code"]).startswith("500"), reason  # Zuora's payment object code
        assert words in reason["message"], reason
    assert charge_rows(runtime, t) == []
    assert charge_rows(runtime, other_tenant.tenant_id) == []
    assert ledger_state(runtime, t, billed.account_id, billed.invoice_ids) == before

    # The account's own active method pays: the refusals were the methods', not the call's.
    paid = payments.create_payment(pay_with(own))
    assert paid.status == "Processed"
