# The SDK types nearly every field Optional and leaves its constructors untyped.
# mypy: disable-error-code="union-attr, no-untyped-call, arg-type, index, attr-defined"
"""zuora-sdk, unchanged, against a live billcycle server: payment methods and gateways
through PaymentMethodsApi, AccountsApi and PaymentGatewaysApi, every answer deserialized
into the SDK's models."""

from __future__ import annotations

import pytest
from zuora_sdk.exceptions import ApiException
from zuora_sdk.models.create_account_contact import CreateAccountContact
from zuora_sdk.models.create_account_credit_card import CreateAccountCreditCard
from zuora_sdk.models.create_account_request import CreateAccountRequest
from zuora_sdk.models.create_ach_payment_method import CreateACHPaymentMethod
from zuora_sdk.models.create_cc_reference_transaction_payment_method import (
    CreateCCReferenceTransactionPaymentMethod,
)
from zuora_sdk.models.create_credit_card_payment_method import CreateCreditCardPaymentMethod
from zuora_sdk.models.create_payment_method_bank_transfer_account_holder_info import (
    CreatePaymentMethodBankTransferAccountHolderInfo,
)
from zuora_sdk.models.create_payment_method_cardholder_info import (
    CreatePaymentMethodCardholderInfo,
)
from zuora_sdk.models.create_payment_method_request import CreatePaymentMethodRequest
from zuora_sdk.models.create_sepa_payment_method import CreateSEPAPaymentMethod
from zuora_sdk.models.payment_method_request_tokens import PaymentMethodRequestTokens
from zuora_sdk.models.update_account_request import UpdateAccountRequest
from zuora_sdk.models.update_credit_card_payment_method import UpdateCreditCardPaymentMethod
from zuora_sdk.models.update_payment_method_request import UpdatePaymentMethodRequest
from zuora_sdk.models.verify_payment_method_request import VerifyPaymentMethodRequest
from zuora_sdk.zuora_client import ZuoraClient

from billcycle.ids import to_zuora_id
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.paymentmethods.helpers import configure_gateway
from tests.support.zuora_sdk import make_sdk_client


@pytest.fixture
def sdk(live_url: str, tenant: NewTenant) -> ZuoraClient:
    return make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)


def _account(sdk: ZuoraClient, **extra: object) -> str:
    created = sdk.accounts_api().create_account(
        CreateAccountRequest(
            name="SDK Corp",
            currency="USD",
            bill_cycle_day=1,
            bill_to_contact=CreateAccountContact(first_name="Ada", last_name="Lovelace"),
            **extra,
        )
    )
    return str(created.account_number)


def test_card_reference_ach_and_sepa_methods_through_the_sdk(
    sdk: ZuoraClient, runtime: Runtime, tenant: NewTenant
) -> None:
    gateway_id = configure_gateway(runtime, tenant.tenant_id)
    account = _account(sdk)
    methods = sdk.payment_methods_api()
    card = methods.create_payment_method(
        CreatePaymentMethodRequest(
            CreateCreditCardPaymentMethod(
                type="CreditCard",
                account_key=account,
                card_type="Visa",
                card_number="4242424242424242",
                expiration_month=3,
                expiration_year=2031,
                security_code="737",
                card_holder_info=CreatePaymentMethodCardholderInfo(
                    card_holder_name="Ada Lovelace", city="London"
                ),
                auth_gateway=to_zuora_id(gateway_id),
            )
        )
    )
    assert card.success is True
    got = methods.get_payment_method(card.id)
    assert got.type == "CreditCard"
    assert got.card_number == "************4242"
    assert got.credit_card_type == "Visa"
    assert (got.expiration_month, got.expiration_year) == (3, 2031)
    assert got.is_default is True
    assert got.status == "Active"
    assert got.account_holder_info.account_holder_name == "Ada Lovelace"
    assert got.num_consecutive_failures == 0
    assert got.use_default_retry_rule is True
    assert got.total_number_of_processed_payments == 0
    assert got.total_number_of_error_payments == 0

    ccrt = methods.create_payment_method(
        CreatePaymentMethodRequest(
            CreateCCReferenceTransactionPaymentMethod(
                type="CreditCardReferenceTransaction",
                account_key=account,
                token_id="cus_123",
                second_token_id="card_456",
                credit_card_mask_number="************1111",
            )
        )
    )
    got = methods.get_payment_method(ccrt.id)
    assert (got.token_id, got.second_token_id, got.credit_card_mask_number) == (
        "cus_123",
        "card_456",
        "************1111",
    )
    assert got.is_default is False

    ach = methods.create_payment_method(
        CreatePaymentMethodRequest(
            CreateACHPaymentMethod(
                type="ACH",
                account_key=account,
                bank_aba_code="011000015",
                bank_account_name="Ada Lovelace",
                bank_account_type="Checking",
                bank_name="First Bank",
                mandate_id="MD-1",
                bank_account_mask_number="****6789",
            )
        )
    )
    got = methods.get_payment_method(ach.id)
    assert (got.bank_aba_code, got.bank_account_type, got.bank_account_mask_number) == (
        "011000015",
        "Checking",
        "****6789",
    )
    assert got.mandate_info.mandate_id == "MD-1"

    sepa = methods.create_payment_method(
        CreatePaymentMethodRequest(
            CreateSEPAPaymentMethod(
                type="SEPA",
                account_key=account,
                iban="DE89370400440532013000",
                business_identification_code="COBADEFFXXX",
                account_holder_info=CreatePaymentMethodBankTransferAccountHolderInfo(
                    account_holder_name="Ada Lovelace"
                ),
            )
        )
    )
    got = methods.get_payment_method(sepa.id)
    assert got.type == "BankTransfer"
    assert got.bank_transfer_type == "SEPA"
    assert got.iban == "DE****************3000"

    listed = sdk.accounts_api().get_account_payment_methods(account)
    assert listed.default_payment_method_id == card.id
    assert [m["id"] for m in listed.additional_properties["creditcard"]] == [card.id]
    assert [m["id"] for m in listed.additional_properties["ach"]] == [ach.id]
    assert [m["id"] for m in listed.additional_properties["banktransfer"]] == [sepa.id]
    assert {m.id for m in listed.returned_payment_method_type} == {
        card.id,
        ccrt.id,
        ach.id,
        sepa.id,
    }
    default = sdk.accounts_api().get_account_default_payment_method(account)
    assert default.id == card.id

    verified = methods.verify_payment_method(card.id, VerifyPaymentMethodRequest())
    assert verified.payment_method_id == card.id

    updated = methods.update_payment_method(
        card.id,
        UpdatePaymentMethodRequest(
            UpdateCreditCardPaymentMethod(
                expiration_month=9,
                expiration_year=2033,
                use_default_retry_rule=False,
                max_consecutive_payment_failures=4,
                payment_retry_window=48,
            )
        ),
    )
    assert updated.id == card.id
    got = methods.get_payment_method(card.id)
    assert (got.expiration_month, got.expiration_year) == (9, 2033)
    assert (got.use_default_retry_rule, got.max_consecutive_payment_failures) == (False, 4)
    assert got.payment_retry_window == 48

    sdk.accounts_api().update_account(
        account, UpdateAccountRequest(default_payment_method_id=ach.id)
    )
    assert (
        sdk.accounts_api().get_account(account).billing_and_payment.default_payment_method_id
        == ach.id
    )
    methods.delete_payment_method(card.id)
    with pytest.raises(ApiException) as gone:
        methods.get_payment_method(card.id)
    assert gone.value.status == 404
    methods.scrub_payment_method(ccrt.id)
    assert methods.get_payment_method(ccrt.id).status == "Scrubbed"

    summary = sdk.accounts_api().get_account_summary(account)
    assert summary.basic_info.default_payment_method.id == ach.id
    assert summary.basic_info.default_payment_method.payment_method_type == "ACH"


def test_an_autopay_account_with_an_inline_card_and_the_gateway_list(
    sdk: ZuoraClient, runtime: Runtime, tenant: NewTenant
) -> None:
    first = configure_gateway(runtime, tenant.tenant_id, "first")
    second = configure_gateway(runtime, tenant.tenant_id, "second")
    gateways = sdk.payment_gateways_api().get_payment_gateways()
    assert [
        (g.id, g.name, g.type, g.is_default, g.is_active) for g in gateways.paymentgateways
    ] == [
        (to_zuora_id(first), "first", "Test", True, True),
        (to_zuora_id(second), "second", "Test", False, True),
    ]
    account = _account(
        sdk,
        auto_pay=True,
        payment_gateway="second",
        credit_card=CreateAccountCreditCard(
            card_type="MasterCard",
            card_number="5555555555554444",
            expiration_month="01",
            expiration_year="2030",
        ),
    )
    detail = sdk.accounts_api().get_account(account)
    assert detail.billing_and_payment.auto_pay is True
    assert detail.billing_and_payment.payment_gateway == "second"
    method_id = detail.billing_and_payment.default_payment_method_id
    method = sdk.payment_methods_api().get_payment_method(method_id)
    assert (method.card_number, method.credit_card_type) == ("************4444", "MasterCard")
    summary = sdk.accounts_api().get_account_summary(account)
    shown = summary.basic_info.default_payment_method
    assert (shown.id, shown.credit_card_number, shown.credit_card_type) == (
        method_id,
        "************4444",
        "MasterCard",
    )
    assert (shown.credit_card_expiration_month, shown.credit_card_expiration_year) == (
        "01",
        "2030",
    )

    with pytest.raises(ApiException) as refused:
        _account(sdk, auto_pay=True)
    assert refused.value.status == 400


def test_tokens_with_a_mask_need_no_gateway(sdk: ZuoraClient) -> None:
    account = _account(sdk)
    created = sdk.payment_methods_api().create_payment_method(
        CreatePaymentMethodRequest(
            CreateCreditCardPaymentMethod(
                type="CreditCard",
                account_key=account,
                card_type="Visa",
                tokens=PaymentMethodRequestTokens(token_id="tok_visa", gateway_type="Test"),
                card_mask_number="************4242",
                expiration_month=12,
                expiration_year=2030,
            )
        )
    )
    got = sdk.payment_methods_api().get_payment_method(created.id)
    assert got.card_number == "************4242"
