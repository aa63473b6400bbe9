"""Zuora wire shapes for payment methods and payment gateways, and their mapping to and
from the domain.

Field names follow zuora-sdk's models: the create shapes (CreateCreditCardPaymentMethod,
CreateCCReferenceTransactionPaymentMethod, CreateACHPaymentMethod,
CreateSEPAPaymentMethod; one request model here, chosen by ``type``), the update shapes,
VerifyPaymentMethodRequest, PaymentMethodResponse, GetAccountPaymentMethodResponse,
AccountSummaryDefaultPaymentMethod and PaymentGatewaysResponse. A full card number,
bank account number or IBAN is read from the request and handed to the domain, which
tokenizes or masks it: no answer ever carries one.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool, StrictInt, StrictStr

from billcycle.errors import InvalidValue
from billcycle.gateways.interface import CardDetails
from billcycle.gateways.models import PaymentGateway
from billcycle.ids import parse_zuora_id, to_zuora_id
from billcycle.paymentmethods.inputs import (
    NewPaymentMethod,
    PaymentMethodChanges,
    RetryRule,
)
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.statuses import PaymentMethodType
from billcycle.unset import UNSET
from billcycle.zuora.schemas.base import (
    CamelRequest,
    CamelResponse,
    CommonResponse,
    zuora_datetime,
)

# -- requests --------------------------------------------------------------------------


class TokensRequest(CamelRequest):
    gateway_type: StrictStr | None = None
    token_id: StrictStr | None = None
    second_token_id: StrictStr | None = None
    third_token_id: StrictStr | None = None


class CardHolderInfoRequest(CamelRequest):
    card_holder_name: StrictStr | None = None
    address_line1: StrictStr | None = None
    address_line2: StrictStr | None = None
    city: StrictStr | None = None
    state: StrictStr | None = None
    zip_code: StrictStr | None = None
    country: StrictStr | None = None
    email: StrictStr | None = None
    phone: StrictStr | None = None


class AccountHolderInfoRequest(CamelRequest):
    account_holder_name: StrictStr | None = None
    first_name: StrictStr | None = None
    last_name: StrictStr | None = None
    address_line1: StrictStr | None = None
    address_line2: StrictStr | None = None
    city: StrictStr | None = None
    state: StrictStr | None = None
    zip_code: StrictStr | None = None
    country: StrictStr | None = None
    email: StrictStr | None = None
    phone: StrictStr | None = None


class MandateInfoRequest(CamelRequest):
    mandate_id: StrictStr | None = None
    mandate_reason: StrictStr | None = None
    mandate_status: StrictStr | None = None


class _RetryFields(CamelRequest):
    use_default_retry_rule: StrictBool | None = None
    max_consecutive_payment_failures: StrictInt | None = None
    payment_retry_window: StrictInt | None = None


class CreatePaymentMethodRequest(_RetryFields):
    """Every create shape of zuora-sdk's CreatePaymentMethodRequest that billcycle takes
    (``CreditCard``, ``CreditCardReferenceTransaction``, ``ACH``, ``SEPA``; billcycle
    also takes ``BankTransfer`` with SEPA's fields), as one model chosen by ``type``."""

    type: StrictStr
    account_key: StrictStr | None = None
    payment_method_number: StrictStr | None = None
    auth_gateway: StrictStr | None = None
    make_default: StrictBool | None = None
    skip_validation: StrictBool | None = None
    currency_code: StrictStr | None = None
    tokenize: StrictBool | None = None
    tokens: TokensRequest | None = None
    mandate_info: MandateInfoRequest | None = None
    # CreditCard
    card_holder_info: CardHolderInfoRequest | None = None
    card_number: StrictStr | None = Field(default=None, repr=False)
    card_mask_number: StrictStr | None = None
    card_type: StrictStr | None = None
    expiration_month: StrictInt | None = None
    expiration_year: StrictInt | None = None
    security_code: StrictStr | None = Field(default=None, repr=False)
    # CreditCardReferenceTransaction
    token_id: StrictStr | None = None
    second_token_id: StrictStr | None = None
    credit_card_mask_number: StrictStr | None = None
    # ACH
    bank_aba_code: StrictStr | None = Field(default=None, alias="bankABACode")
    bank_account_name: StrictStr | None = None
    bank_account_number: StrictStr | None = Field(default=None, repr=False)
    bank_account_mask_number: StrictStr | None = None
    bank_account_type: StrictStr | None = None
    bank_name: StrictStr | None = None
    mandate_id: StrictStr | None = None
    address_line1: StrictStr | None = None
    address_line2: StrictStr | None = None
    city: StrictStr | None = None
    state: StrictStr | None = None
    zip_code: StrictStr | None = None
    country: StrictStr | None = None
    phone: StrictStr | None = None
    email: StrictStr | None = None
    # SEPA
    iban: StrictStr | None = Field(default=None, alias="IBAN", repr=False)
    business_identification_code: StrictStr | None = None
    account_holder_info: AccountHolderInfoRequest | None = None


class UpdatePaymentMethodRequest(_RetryFields):
    """zuora-sdk's update shapes (credit card, reference transaction, ACH, bank
    transfer) as one model; ``numConsecutiveFailures`` (0 only) is billcycle's way to
    reset the failure count."""

    account_key: StrictStr | None = None
    auth_gateway: StrictStr | None = None
    currency_code: StrictStr | None = None
    expiration_month: StrictInt | None = None
    expiration_year: StrictInt | None = None
    security_code: StrictStr | None = Field(default=None, repr=False)
    account_holder_info: AccountHolderInfoRequest | None = None
    card_holder_info: CardHolderInfoRequest | None = None
    mandate_info: MandateInfoRequest | None = None
    num_consecutive_failures: StrictInt | None = None


class VerifyPaymentMethodRequest(CamelRequest):
    currency_code: StrictStr | None = None
    payment_gateway_name: StrictStr | None = None
    security_code: StrictStr | None = Field(default=None, repr=False)


# Wire holder keys -> the domain's.
_CARD_HOLDER = {
    "card_holder_name": "holder_name",
    "address_line1": "address_line1",
    "address_line2": "address_line2",
    "city": "city",
    "state": "state",
    "zip_code": "zip_code",
    "country": "country",
    "email": "email",
    "phone": "phone",
}
_ACCOUNT_HOLDER = {**_CARD_HOLDER, "account_holder_name": "holder_name"}
_ACCOUNT_HOLDER.pop("card_holder_name")
_ACCOUNT_HOLDER |= {"first_name": "first_name", "last_name": "last_name"}
_MANDATE = {
    "mandate_id": "mandate_id",
    "mandate_reason": "mandate_reason",
    "mandate_status": "mandate_status",
}


def _given(model: CamelRequest | None, names: dict[str, str]) -> dict[str, str | None] | None:
    if model is None:
        return None
    return {names[key]: getattr(model, key) for key in model.model_fields_set if key in names}


def gateway_id_of(value: str | None, field: str = "authGateway") -> int | None:
    if value is None:
        return None
    parsed = parse_zuora_id(value)
    if parsed is None:
        raise InvalidValue(
            f"Invalid value for {field}: a payment gateway id is 32 hex digits.",
            resource="payment_method",
            field=field,
        )
    return parsed


def to_new_method(body: CreatePaymentMethodRequest, account_id: int | None) -> NewPaymentMethod:
    """``account_id``: the route resolved ``accountKey`` (id or number) already."""
    method_type = body.type
    tokens = body.tokens
    card: CardDetails | None = None
    if body.card_number is not None:
        if body.expiration_month is None or body.expiration_year is None:
            raise InvalidValue(
                "expirationMonth and expirationYear are required with cardNumber.",
                resource="payment_method",
                field="expirationMonth",
            )
        card_holder = body.card_holder_info
        card = CardDetails(
            number=body.card_number,
            expiration_month=body.expiration_month,
            expiration_year=body.expiration_year,
            security_code=body.security_code,
            holder_name=card_holder.card_holder_name if card_holder is not None else None,
        )
    is_reference = method_type == PaymentMethodType.CREDIT_CARD_REFERENCE_TRANSACTION
    token = body.token_id if is_reference else None
    second = body.second_token_id if is_reference else None
    if tokens is not None:
        token = token or tokens.token_id
        second = second or tokens.second_token_id
    holder: dict[str, str | None] | None
    if method_type == PaymentMethodType.ACH:
        ach_address = {
            key: getattr(body, key)
            for key in (
                "address_line1",
                "address_line2",
                "city",
                "state",
                "zip_code",
                "country",
                "phone",
                "email",
            )
            if getattr(body, key) is not None
        }
        holder = ach_address or None
    elif body.account_holder_info is not None:
        holder = _given(body.account_holder_info, _ACCOUNT_HOLDER)
    else:
        holder = _given(body.card_holder_info, _CARD_HOLDER)
    mandate = _given(body.mandate_info, _MANDATE)
    mandate_id = body.mandate_id or (body.mandate_info.mandate_id if body.mandate_info else None)
    return NewPaymentMethod(
        type=method_type,
        account_id=account_id,
        make_default=bool(body.make_default),
        gateway_id=gateway_id_of(body.auth_gateway),
        currency_code=body.currency_code,
        payment_method_number=body.payment_method_number,
        token=token,
        second_token=second,
        card=card,
        card_type=body.card_type,
        card_mask=body.credit_card_mask_number if is_reference else body.card_mask_number,
        expiration_month=body.expiration_month if card is None else None,
        expiration_year=body.expiration_year if card is None else None,
        bank_aba_code=body.bank_aba_code,
        bank_account_name=body.bank_account_name,
        bank_account_type=body.bank_account_type,
        bank_name=body.bank_name,
        bank_account_number=body.bank_account_number,
        bank_account_mask=body.bank_account_mask_number,
        mandate_id=mandate_id if method_type == PaymentMethodType.ACH else None,
        iban=body.iban,
        business_identification_code=body.business_identification_code,
        holder=holder,
        mandate=mandate,
        retry=_retry(body),
    )


def _retry(body: _RetryFields) -> RetryRule:
    sent = body.model_fields_set

    def given(name: str) -> Any:
        return getattr(body, name) if name in sent else UNSET

    use_default = given("use_default_retry_rule")
    return RetryRule(
        use_default_retry_rule=UNSET if use_default is None else use_default,
        max_consecutive_payment_failures=given("max_consecutive_payment_failures"),
        payment_retry_window_hours=given("payment_retry_window"),
    )


def to_changes(body: UpdatePaymentMethodRequest, account_id: int | None) -> PaymentMethodChanges:
    sent = body.model_fields_set

    def keep(name: str) -> Any:
        value = getattr(body, name)
        return value if name in sent and value is not None else UNSET

    holder = _given(body.account_holder_info, _ACCOUNT_HOLDER) or _given(
        body.card_holder_info, _CARD_HOLDER
    )
    mandate = _given(body.mandate_info, _MANDATE)
    return PaymentMethodChanges(
        account_id=account_id if account_id is not None else UNSET,
        gateway_id=gateway_id_of(body.auth_gateway) if "auth_gateway" in sent else UNSET,
        currency_code=body.currency_code if "currency_code" in sent else UNSET,
        expiration_month=keep("expiration_month"),
        expiration_year=keep("expiration_year"),
        holder=holder if holder is not None else UNSET,
        mandate=mandate if mandate is not None else UNSET,
        retry=_retry(body),
        num_consecutive_failures=keep("num_consecutive_failures"),
    )


# -- responses -------------------------------------------------------------------------


class CreatePaymentMethodResponse(CommonResponse):
    id: str


class UpdatePaymentMethodResponse(CommonResponse):
    id: str


class VerifyPaymentMethodResponse(CommonResponse):
    payment_method_id: str


class AccountHolderInfoResponse(CamelResponse):
    account_holder_name: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    country: str | None = None
    email: str | None = None
    phone: str | None = None


class MandateInfoResponse(CamelResponse):
    mandate_id: str | None = None
    mandate_reason: str | None = None
    mandate_status: str | None = None


class PaymentMethodResponse(CommonResponse):
    """zuora-sdk's PaymentMethodResponse (and GetPaymentMethodForAccountResponse), plus
    ``accountId`` (null for an orphan method)."""

    id: str
    account_id: str | None
    type: str
    status: str
    is_default: bool
    # CreditCard, CreditCardReferenceTransaction
    card_number: str | None = None
    credit_card_mask_number: str | None = None
    credit_card_type: str | None = None
    expiration_month: int | None = None
    expiration_year: int | None = None
    token_id: str | None = None
    second_token_id: str | None = None
    # ACH
    bank_aba_code: str | None = Field(default=None, alias="bankABACode")
    bank_account_name: str | None = None
    bank_account_number: str | None = None
    bank_account_mask_number: str | None = None
    bank_account_type: str | None = None
    bank_name: str | None = None
    # SEPA (a BankTransfer method)
    iban: str | None = Field(default=None, alias="IBAN")
    business_identification_code: str | None = None
    bank_transfer_type: str | None = None
    account_holder_info: AccountHolderInfoResponse | None = None
    mandate_info: MandateInfoResponse | None = None
    # Retry rule and counters
    use_default_retry_rule: bool
    max_consecutive_payment_failures: int | None = None
    payment_retry_window: int | None = None
    num_consecutive_failures: int
    last_transaction: str | None = None
    last_transaction_date_time: str | None = None
    last_failed_sale_transaction_date: str | None = None
    total_number_of_processed_payments: int
    total_number_of_error_payments: int
    created_date: str | None = None
    updated_date: str | None = None


# Zuora shows a SEPA method as a BankTransfer method of bankTransferType SEPA.
_WIRE_TYPE = {PaymentMethodType.SEPA: PaymentMethodType.BANK_TRANSFER}


def wire_type(method: PaymentMethod) -> str:
    method_type = PaymentMethodType(method.type)
    return _WIRE_TYPE.get(method_type, method_type).value


def method_response(method: PaymentMethod) -> PaymentMethodResponse:
    method_type = PaymentMethodType(method.type)
    details = method.details or {}
    holder = details.get("holder") or {}
    mandate = dict(details.get("mandate") or {})
    if method.mandate_id and "mandate_id" not in mandate:
        mandate["mandate_id"] = method.mandate_id
    is_card = method_type in (
        PaymentMethodType.CREDIT_CARD,
        PaymentMethodType.CREDIT_CARD_REFERENCE_TRANSACTION,
    )
    is_reference = method_type is PaymentMethodType.CREDIT_CARD_REFERENCE_TRANSACTION
    is_ach = method_type is PaymentMethodType.ACH
    is_bank_transfer = method_type in (PaymentMethodType.SEPA, PaymentMethodType.BANK_TRANSFER)
    return PaymentMethodResponse(
        id=to_zuora_id(method.id),
        account_id=to_zuora_id(method.account_id) if method.account_id is not None else None,
        type=wire_type(method),
        status=method.status,
        is_default=method.is_default,
        card_number=method.card_mask if method_type is PaymentMethodType.CREDIT_CARD else None,
        credit_card_mask_number=method.card_mask if is_card else None,
        credit_card_type=method.card_type if is_card else None,
        expiration_month=method.expiration_month if is_card else None,
        expiration_year=method.expiration_year if is_card else None,
        token_id=method.token if is_reference else None,
        second_token_id=method.second_token if is_reference else None,
        bank_aba_code=method.bank_aba_code if is_ach else None,
        bank_account_name=method.bank_account_name if is_ach else None,
        bank_account_number=method.bank_account_mask if is_ach else None,
        bank_account_mask_number=method.bank_account_mask if is_ach else None,
        bank_account_type=method.bank_account_type if is_ach else None,
        bank_name=method.bank_name if is_ach else None,
        iban=method.iban_mask if is_bank_transfer else None,
        business_identification_code=(
            method.business_identification_code if is_bank_transfer else None
        ),
        bank_transfer_type=PaymentMethodType.SEPA.value if is_bank_transfer else None,
        account_holder_info=(
            AccountHolderInfoResponse(
                account_holder_name=holder.get("holder_name"),
                address_line1=holder.get("address_line1"),
                address_line2=holder.get("address_line2"),
                city=holder.get("city"),
                state=holder.get("state"),
                zip_code=holder.get("zip_code"),
                country=holder.get("country"),
                email=holder.get("email"),
                phone=holder.get("phone"),
            )
            if holder
            else None
        ),
        mandate_info=(
            MandateInfoResponse(
                mandate_id=mandate.get("mandate_id"),
                mandate_reason=mandate.get("mandate_reason"),
                mandate_status=mandate.get("mandate_status"),
            )
            if mandate
            else None
        ),
        use_default_retry_rule=method.use_default_retry_rule,
        max_consecutive_payment_failures=method.max_consecutive_payment_failures,
        payment_retry_window=method.payment_retry_window_hours,
        num_consecutive_failures=method.num_consecutive_failures,
        last_transaction=method.last_transaction,
        last_transaction_date_time=zuora_datetime(method.last_transaction_at),
        last_failed_sale_transaction_date=zuora_datetime(method.last_failed_sale_at),
        total_number_of_processed_payments=method.total_processed_payments,
        total_number_of_error_payments=method.total_error_payments,
        created_date=zuora_datetime(method.created_at),
        updated_date=zuora_datetime(method.updated_at),
    )


def _dump(model: CamelResponse) -> dict[str, Any]:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def account_methods_body(
    methods: list[PaymentMethod], default_id: int | None, gateway_name: str | None
) -> dict[str, Any]:
    """zuora-sdk's GetAccountPaymentMethodResponse as Zuora answers it: one array per
    payment method type, keyed by the type in lower case (``creditcard``, ``ach``,
    ``banktransfer``, ...), and the same methods in ``returnedPaymentMethodType``."""
    body: dict[str, Any] = {
        "success": True,
        "defaultPaymentMethodId": to_zuora_id(default_id) if default_id is not None else None,
        "paymentGateway": gateway_name,
    }
    shown: list[dict[str, Any]] = []
    for method in methods:
        item = _dump(method_response(method))
        item.pop("success", None)
        shown.append(item)
        body.setdefault(wire_type(method).lower(), []).append(item)
    body["returnedPaymentMethodType"] = shown
    return body


def default_method_body(method: PaymentMethod) -> dict[str, Any]:
    return _dump(method_response(method))


# -- payment gateways ------------------------------------------------------------------


class PaymentGatewayResponse(CamelResponse):
    id: str
    name: str
    type: str
    is_active: bool
    is_default: bool


class PaymentGatewaysResponse(CommonResponse):
    # Zuora's key is all lower case.
    paymentgateways: list[PaymentGatewayResponse]


def gateways_response(gateways: list[PaymentGateway]) -> PaymentGatewaysResponse:
    return PaymentGatewaysResponse(
        paymentgateways=[
            PaymentGatewayResponse(
                id=to_zuora_id(g.id),
                name=g.name,
                type=g.type,
                is_active=g.is_active,
                is_default=g.is_default,
            )
            for g in gateways
        ]
    )
