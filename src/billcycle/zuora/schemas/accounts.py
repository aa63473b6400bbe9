"""Zuora wire shapes for ``/v1/accounts`` and their mapping to and from the domain.

Field names and types follow zuora-sdk's models (CreateAccountRequest,
CreateAccountResponse, AccountDetailResponse, UpdateAccountRequest, DeleteAccountResponse,
AccountSummaryResponse), so the SDK deserializes every answer. Requests use strict types:
a string where Zuora expects a number is refused, not guessed at.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool, StrictInt, StrictStr

from billcycle.accounts import service
from billcycle.accounts.inputs import (
    AccountChanges,
    ContactChanges,
    ContactInput,
    NewAccount,
)
from billcycle.accounts.models import Account, Contact
from billcycle.accounts.repository import InvoiceRow
from billcycle.accounts.service import (
    AccountMetrics,
    AccountSummary,
    PaymentSummary,
    SubscriptionSummary,
)
from billcycle.accounts.statuses import AccountStatus
from billcycle.errors import InvalidValue
from billcycle.gateways.interface import CardDetails
from billcycle.ids import is_ascii_digits, parse_zuora_id, to_zuora_id
from billcycle.money import from_minor
from billcycle.paymentmethods.inputs import AccountPaymentSetup, NewPaymentMethod
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.statuses import PaymentMethodType
from billcycle.unset import UNSET
from billcycle.zuora.schemas.base import (
    CamelRequest,
    CamelResponse,
    CommonResponse,
    WireAmount,
    sent_fields,
)
from billcycle.zuora.schemas.payment_methods import (
    CardHolderInfoRequest,
    CreatePaymentMethodRequest,
    to_new_method,
)


def _hex(value: int | None) -> str | None:
    return to_zuora_id(value) if value is not None else None


# -- requests --------------------------------------------------------------------------


class _ContactFields(CamelRequest):
    work_email: StrictStr | None = None
    personal_email: StrictStr | None = None
    work_phone: StrictStr | None = None
    address1: StrictStr | None = None
    address2: StrictStr | None = None
    city: StrictStr | None = None
    state: StrictStr | None = None
    zip_code: StrictStr | None = None
    country: StrictStr | None = None
    county: StrictStr | None = None
    tax_region: StrictStr | None = None
    nickname: StrictStr | None = None


class CreateContactRequest(_ContactFields):
    first_name: StrictStr
    last_name: StrictStr


class UpdateContactRequest(_ContactFields):
    first_name: StrictStr | None = None
    last_name: StrictStr | None = None


def _digits(value: object) -> object:
    """zuora-sdk's CreateAccountCreditCard sends the expiry as strings ("01", "2030")."""
    if isinstance(value, str) and is_ascii_digits(value.strip()):
        return int(value.strip())
    return value


# An expiry month or year: a JSON integer, or a string of digits.
ExpiryNumber = Annotated[StrictInt, BeforeValidator(_digits)]


class CreateAccountCreditCardRequest(CamelRequest):
    """zuora-sdk's CreateAccountCreditCard: tokenized by the gateway, never stored."""

    card_type: StrictStr | None = None
    card_number: StrictStr = Field(repr=False)
    expiration_month: ExpiryNumber
    expiration_year: ExpiryNumber
    security_code: StrictStr | None = Field(default=None, repr=False)
    card_holder_info: CardHolderInfoRequest | None = None


class CreateAccountRequest(CamelRequest):
    """The fields of zuora-sdk's CreateAccountRequest that billcycle acts on.

    ``status`` is a billcycle extension (Zuora creates accounts Active): ``Draft`` creates
    a draft account. Creating a subscription in the same call is not supported.
    """

    name: StrictStr
    currency: StrictStr
    bill_to_contact: CreateContactRequest
    bill_cycle_day: StrictInt | None = None
    sold_to_contact: CreateContactRequest | None = None
    sold_to_same_as_bill_to: StrictBool | None = None
    account_number: StrictStr | None = None
    batch: StrictStr | None = None
    payment_term: StrictStr | None = None
    auto_pay: StrictBool | None = None
    status: StrictStr | None = None
    crm_id: StrictStr | None = None
    notes: StrictStr | None = None
    invoice_delivery_prefs_email: StrictBool | None = None
    # The account's first payment method, its default: a card (creditCard), any
    # payment method (paymentMethod), or an existing (orphan) method's id.
    credit_card: CreateAccountCreditCardRequest | None = None
    payment_method: CreatePaymentMethodRequest | None = None
    hpm_credit_card_payment_method_id: StrictStr | None = None
    payment_gateway: StrictStr | None = None


class UpdateAccountRequest(CamelRequest):
    """zuora-sdk's UpdateAccountRequest, plus ``currency`` and ``status`` (billcycle
    extensions: Zuora changes those through other operations)."""

    name: StrictStr | None = None
    bill_cycle_day: StrictInt | None = None
    batch: StrictStr | None = None
    payment_term: StrictStr | None = None
    auto_pay: StrictBool | None = None
    crm_id: StrictStr | None = None
    notes: StrictStr | None = None
    invoice_delivery_prefs_email: StrictBool | None = None
    bill_to_contact: UpdateContactRequest | None = None
    sold_to_contact: UpdateContactRequest | None = None
    currency: StrictStr | None = None
    status: StrictStr | None = None
    default_payment_method_id: StrictStr | None = None
    payment_gateway: StrictStr | None = None


def _contact_input(body: CreateContactRequest) -> ContactInput:
    return ContactInput(
        first_name=body.first_name,
        last_name=body.last_name,
        work_email=body.work_email,
        personal_email=body.personal_email,
        work_phone=body.work_phone,
        address1=body.address1,
        address2=body.address2,
        city=body.city,
        state=body.state,
        postal_code=body.zip_code,
        country=body.country,
        county=body.county,
        tax_region=body.tax_region,
        nickname=body.nickname,
    )


def to_new_account(body: CreateAccountRequest) -> NewAccount:
    return NewAccount(
        name=body.name,
        currency=body.currency,
        bill_to_contact=_contact_input(body.bill_to_contact),
        bill_cycle_day=body.bill_cycle_day,
        sold_to_contact=(
            _contact_input(body.sold_to_contact) if body.sold_to_contact is not None else None
        ),
        sold_to_same_as_bill_to=bool(body.sold_to_same_as_bill_to),
        account_number=body.account_number,
        batch=service.parse_batch(body.batch) if body.batch is not None else 1,
        payment_term=body.payment_term,
        auto_pay=bool(body.auto_pay),
        status=body.status if body.status is not None else AccountStatus.ACTIVE,
        crm_id=body.crm_id,
        notes=body.notes,
        invoice_delivery_prefs_email=bool(body.invoice_delivery_prefs_email),
    )


def _method_id(value: str, field: str) -> int:
    parsed = parse_zuora_id(value)
    if parsed is None:
        raise InvalidValue(
            f"Invalid value for {field}: a payment method id is 32 hex digits.",
            resource="account",
            field=field,
        )
    return parsed


def to_payment_setup(body: CreateAccountRequest) -> AccountPaymentSetup:
    """The payment side of an account create; at most one first payment method."""
    given = [
        name
        for name in ("credit_card", "payment_method", "hpm_credit_card_payment_method_id")
        if getattr(body, name) is not None
    ]
    if len(given) > 1:
        raise InvalidValue(
            "Give one of creditCard, paymentMethod and hpmCreditCardPaymentMethodId.",
            resource="account",
            field="creditCard",
        )
    new_method: NewPaymentMethod | None = None
    if body.credit_card is not None:
        card = body.credit_card
        holder = card.card_holder_info
        new_method = NewPaymentMethod(
            type=PaymentMethodType.CREDIT_CARD,
            card=CardDetails(
                number=card.card_number,
                expiration_month=card.expiration_month,
                expiration_year=card.expiration_year,
                security_code=card.security_code,
                holder_name=holder.card_holder_name if holder is not None else None,
            ),
            card_type=card.card_type,
            holder=(
                {
                    "holder_name" if key == "card_holder_name" else key: getattr(holder, key)
                    for key in sent_fields(holder)
                }
                if holder is not None
                else None
            ),
        )
    elif body.payment_method is not None:
        new_method = to_new_method(body.payment_method, None)
    return AccountPaymentSetup(
        new_method=new_method,
        default_method_id=(
            _method_id(body.hpm_credit_card_payment_method_id, "hpmCreditCardPaymentMethodId")
            if body.hpm_credit_card_payment_method_id is not None
            else None
        ),
        gateway_name=body.payment_gateway,
    )


def to_update_payment_setup(body: UpdateAccountRequest) -> AccountPaymentSetup:
    sent = body.model_fields_set
    return AccountPaymentSetup(
        default_method_id=(
            _method_id(body.default_payment_method_id, "defaultPaymentMethodId")
            if body.default_payment_method_id is not None
            else None
        ),
        gateway_name=body.payment_gateway if "payment_gateway" in sent else UNSET,
    )


# Wire name -> ContactChanges field, where they differ.
_CONTACT_RENAMES = {"zip_code": "postal_code"}


def _contact_changes(body: UpdateContactRequest) -> ContactChanges:
    given: dict[str, Any] = {
        _CONTACT_RENAMES.get(name, name): getattr(body, name) for name in sent_fields(body)
    }
    return ContactChanges(**given)


def to_account_changes(body: UpdateAccountRequest) -> AccountChanges:
    """A patch of what the client sent; null leaves a required field alone and clears an
    optional one (crmId, notes)."""
    sent = body.model_fields_set

    def keep(name: str) -> Any:
        value = getattr(body, name)
        return value if name in sent and value is not None else UNSET

    return AccountChanges(
        name=keep("name"),
        currency=keep("currency"),
        bill_cycle_day=keep("bill_cycle_day"),
        batch=service.parse_batch(body.batch) if body.batch is not None else UNSET,
        payment_term=keep("payment_term"),
        auto_pay=keep("auto_pay"),
        status=keep("status"),
        crm_id=body.crm_id if "crm_id" in sent else UNSET,
        notes=body.notes if "notes" in sent else UNSET,
        invoice_delivery_prefs_email=keep("invoice_delivery_prefs_email"),
        bill_to_contact=(
            _contact_changes(body.bill_to_contact) if body.bill_to_contact is not None else UNSET
        ),
        sold_to_contact=(
            _contact_changes(body.sold_to_contact) if body.sold_to_contact is not None else UNSET
        ),
    )


# -- responses -------------------------------------------------------------------------


class CreateAccountResponse(CommonResponse):
    account_id: str
    account_number: str
    bill_to_contact_id: str | None
    sold_to_contact_id: str | None


class CreateAccountWithMethodResponse(CreateAccountResponse):
    """The answer when the create made the account's first payment method."""

    payment_method_id: str


class ContactResponse(CamelResponse):
    id: str
    account_id: str
    account_number: str
    first_name: str
    last_name: str
    work_email: str | None
    personal_email: str | None
    work_phone: str | None
    address1: str | None
    address2: str | None
    city: str | None
    state: str | None
    zip_code: str | None
    country: str | None
    county: str | None
    tax_region: str | None
    nickname: str | None


class AccountBasicInfo(CamelResponse):
    id: str
    name: str
    account_number: str
    notes: str | None
    status: str
    crm_id: str | None
    batch: str
    invoice_template_id: str | None = None
    communication_profile_id: str | None = None
    parent_id: str | None = None
    sales_rep: str | None = None


class AccountBillingAndPayment(CamelResponse):
    bill_cycle_day: int
    currency: str
    payment_term: str
    auto_pay: bool
    invoice_delivery_prefs_email: bool
    invoice_delivery_prefs_print: bool = False
    additional_email_addresses: list[str] = []
    default_payment_method_id: str | None = None
    payment_gateway: str | None = None
    # Unknown until the account records whether its day was auto-set.
    bcd_setting_option: str | None = None


class AccountMetricsResponse(CamelResponse):
    balance: WireAmount
    currency: str
    total_invoice_balance: WireAmount
    credit_balance: WireAmount
    unapplied_payment_amount: WireAmount
    contracted_mrr: WireAmount


class GetAccountResponse(CommonResponse):
    basic_info: AccountBasicInfo
    billing_and_payment: AccountBillingAndPayment
    metrics: AccountMetricsResponse
    bill_to_contact: ContactResponse | None
    sold_to_contact: ContactResponse | None


class DeleteAccountResponse(CommonResponse):
    id: str
    # Zuora deletes in a background job; billcycle deletes at once, so it is Completed.
    job_status: str = "Completed"


class SummaryDefaultPaymentMethod(CamelResponse):
    """zuora-sdk's AccountSummaryDefaultPaymentMethod (card fields for cards only)."""

    id: str
    payment_method_type: str
    credit_card_number: str | None = None
    credit_card_type: str | None = None
    credit_card_expiration_month: str | None = None
    credit_card_expiration_year: str | None = None


class SummaryPaidInvoice(CamelResponse):
    invoice_id: str
    invoice_number: str
    applied_payment_amount: str


class SummaryPayment(CamelResponse):
    id: str
    payment_number: str
    payment_type: str
    status: str
    effective_date: date
    paid_invoices: list[SummaryPaidInvoice]


class SummaryBasicInfo(CamelResponse):
    id: str
    name: str
    account_number: str
    status: str
    currency: str
    balance: str
    bill_cycle_day: int
    batch: str
    auto_pay: bool
    invoice_delivery_prefs_email: bool
    invoice_delivery_prefs_print: bool = False
    additional_email_addresses: list[str] = []
    last_invoice_date: date | None
    last_payment_amount: str | None = None
    last_payment_date: date | None = None
    default_payment_method: SummaryDefaultPaymentMethod | None = None


class SummaryRatePlan(CamelResponse):
    product_id: str
    product_name: str
    product_rate_plan_id: str
    product_sku: str
    rate_plan_name: str


class SummarySubscription(CamelResponse):
    id: str
    subscription_number: str
    status: str
    term_type: str
    auto_renew: bool
    initial_term: str | None
    renewal_term: str | None
    subscription_start_date: date
    term_start_date: date
    term_end_date: date | None
    rate_plans: list[SummaryRatePlan]


class SummaryInvoice(CamelResponse):
    id: str
    invoice_number: str
    invoice_date: date
    due_date: date
    amount: WireAmount
    balance: WireAmount
    status: str


class AccountSummaryResponse(CommonResponse):
    basic_info: SummaryBasicInfo
    bill_to_contact: ContactResponse | None
    sold_to_contact: ContactResponse | None
    subscriptions: list[SummarySubscription]
    invoices: list[SummaryInvoice]
    payments: list[SummaryPayment] = []
    # Empty until usage exists.
    usage: list[dict[str, Any]] = []


def created(account: Account, method: PaymentMethod | None = None) -> CreateAccountResponse:
    if method is not None:
        return CreateAccountWithMethodResponse(
            account_id=to_zuora_id(account.id),
            account_number=account.account_number,
            bill_to_contact_id=_hex(account.bill_to_contact_id),
            sold_to_contact_id=_hex(account.sold_to_contact_id),
            payment_method_id=to_zuora_id(method.id),
        )
    return CreateAccountResponse(
        account_id=to_zuora_id(account.id),
        account_number=account.account_number,
        bill_to_contact_id=_hex(account.bill_to_contact_id),
        sold_to_contact_id=_hex(account.sold_to_contact_id),
    )


def contact_response(account: Account, contact: Contact | None) -> ContactResponse | None:
    if contact is None:
        return None
    return ContactResponse(
        id=to_zuora_id(contact.id),
        account_id=to_zuora_id(account.id),
        account_number=account.account_number,
        first_name=contact.first_name,
        last_name=contact.last_name,
        work_email=contact.work_email,
        personal_email=contact.personal_email,
        work_phone=contact.work_phone,
        address1=contact.address1,
        address2=contact.address2,
        city=contact.city,
        state=contact.state,
        zip_code=contact.postal_code,
        country=contact.country,
        county=contact.county,
        tax_region=contact.tax_region,
        nickname=contact.nickname,
    )


def account_detail(
    account: Account,
    bill_to: Contact | None,
    sold_to: Contact | None,
    metrics: AccountMetrics,
    default_method_id: int | None = None,
    gateway_name: str | None = None,
) -> GetAccountResponse:
    return GetAccountResponse(
        basic_info=AccountBasicInfo(
            id=to_zuora_id(account.id),
            name=account.name,
            account_number=account.account_number,
            notes=account.notes,
            status=account.status,
            crm_id=account.crm_id,
            batch=service.batch_name(account.batch),
        ),
        billing_and_payment=AccountBillingAndPayment(
            bill_cycle_day=account.bill_cycle_day,
            currency=account.currency,
            payment_term=account.payment_term,
            auto_pay=account.auto_pay,
            invoice_delivery_prefs_email=account.invoice_delivery_prefs_email,
            default_payment_method_id=(
                to_zuora_id(default_method_id) if default_method_id is not None else None
            ),
            payment_gateway=gateway_name,
        ),
        metrics=AccountMetricsResponse(
            balance=metrics.balance,
            currency=metrics.currency,
            total_invoice_balance=metrics.total_invoice_balance,
            credit_balance=metrics.credit_balance,
            unapplied_payment_amount=metrics.unapplied_payment_amount,
            contracted_mrr=metrics.contracted_mrr,
        ),
        bill_to_contact=contact_response(account, bill_to),
        sold_to_contact=contact_response(account, sold_to),
    )


def _term(length: int | None) -> str | None:
    return str(length) if length is not None else None


def _summary_subscription(item: SubscriptionSummary) -> SummarySubscription:
    sub = item.subscription
    return SummarySubscription(
        id=to_zuora_id(sub.id),
        subscription_number=sub.subscription_number,
        status=sub.status,
        term_type=sub.term_type,
        auto_renew=sub.auto_renew,
        initial_term=_term(sub.initial_term),
        renewal_term=_term(sub.renewal_term),
        subscription_start_date=sub.subscription_start_date,
        term_start_date=sub.term_start_date,
        term_end_date=sub.term_end_date,
        rate_plans=[
            SummaryRatePlan(
                product_id=to_zuora_id(plan.product_id),
                product_name=plan.product_name,
                product_rate_plan_id=to_zuora_id(plan.product_rate_plan_id),
                product_sku=plan.product_sku,
                rate_plan_name=plan.name,
            )
            for plan in item.rate_plans
        ],
    )


def _summary_invoice(row: InvoiceRow) -> SummaryInvoice:
    return SummaryInvoice(
        id=to_zuora_id(row.id),
        invoice_number=row.invoice_number,
        invoice_date=row.invoice_date,
        due_date=row.due_date,
        amount=from_minor(row.amount_minor, row.currency),
        balance=from_minor(row.balance_minor, row.currency),
        status=row.status,
    )


def account_summary(summary: AccountSummary) -> AccountSummaryResponse:
    account = summary.account
    last = summary.last_payment
    return AccountSummaryResponse(
        basic_info=SummaryBasicInfo(
            id=to_zuora_id(account.id),
            name=account.name,
            account_number=account.account_number,
            status=account.status,
            currency=account.currency,
            balance=str(summary.metrics.balance),
            bill_cycle_day=account.bill_cycle_day,
            batch=service.batch_name(account.batch),
            auto_pay=account.auto_pay,
            invoice_delivery_prefs_email=account.invoice_delivery_prefs_email,
            last_invoice_date=summary.last_invoice_date,
            last_payment_amount=(
                str(from_minor(last.amount_minor, last.currency)) if last is not None else None
            ),
            last_payment_date=last.effective_date if last is not None else None,
            default_payment_method=_summary_method(summary.default_method),
        ),
        bill_to_contact=contact_response(account, summary.bill_to),
        sold_to_contact=contact_response(account, summary.sold_to),
        subscriptions=[_summary_subscription(item) for item in summary.subscriptions],
        invoices=[_summary_invoice(row) for row in summary.invoices],
        payments=[_summary_payment(item) for item in summary.payments],
    )


def _summary_method(method: PaymentMethod | None) -> SummaryDefaultPaymentMethod | None:
    if method is None:
        return None
    is_card = method.type in (
        PaymentMethodType.CREDIT_CARD,
        PaymentMethodType.CREDIT_CARD_REFERENCE_TRANSACTION,
    )
    month, year = method.expiration_month, method.expiration_year
    return SummaryDefaultPaymentMethod(
        id=to_zuora_id(method.id),
        payment_method_type=method.type,
        credit_card_number=method.card_mask if is_card else None,
        credit_card_type=method.card_type if is_card else None,
        credit_card_expiration_month=f"{month:02d}" if is_card and month is not None else None,
        credit_card_expiration_year=str(year) if is_card and year is not None else None,
    )


def _summary_payment(item: PaymentSummary) -> SummaryPayment:
    payment = item.payment
    return SummaryPayment(
        id=to_zuora_id(payment.id),
        payment_number=payment.number,
        payment_type=payment.payment_type,
        status=payment.status,
        effective_date=payment.effective_date,
        paid_invoices=[
            SummaryPaidInvoice(
                invoice_id=to_zuora_id(paid.invoice_id),
                invoice_number=paid.invoice_number,
                applied_payment_amount=str(from_minor(paid.applied_minor, payment.currency)),
            )
            for paid in item.paid_invoices
        ],
    )
