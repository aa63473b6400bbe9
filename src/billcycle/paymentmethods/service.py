"""Payment methods: create (tokenizing a full card number through the gateway), read,
update, make default, delete, scrub, close and verify.

What is never kept: a full card number (it goes to a tokenizing gateway and no further),
a security code, a full bank account number or IBAN (masked on the way in). A method of
another tenant, or of another account than the one named, is "not found".

At most one default per account: the first method an account gets becomes its default;
making another one the default clears the old one first. Two concurrent default changes
on one account are serialised by the partial unique index: the later one is refused
with a Conflict rather than silently undoing the other's choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billcycle import metrics
from billcycle.accounts import repository as accounts_repo
from billcycle.accounts.models import Account
from billcycle.context import ServiceContext
from billcycle.errors import (
    Conflict,
    ErrorCode,
    InvalidValue,
    MissingField,
    NotFound,
    RuleViolation,
)
from billcycle.gateways import service as gateways
from billcycle.gateways.interface import (
    Gateway,
    GatewayResult,
    PaymentMethodRef,
    TokenizingGateway,
    VerifyingGateway,
    declined_message,
)
from billcycle.gateways.statuses import CardBrand
from billcycle.ids import is_ascii_digits
from billcycle.money import normalize_currency
from billcycle.paymentmethods import repository as repo
from billcycle.paymentmethods.inputs import (
    Details,
    NewPaymentMethod,
    PaymentMethodChanges,
    RetryRule,
)
from billcycle.paymentmethods.masking import check_mask, mask_bank_account, mask_iban
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.statuses import (
    USABLE_STATUSES,
    BankAccountType,
    PaymentMethodStatus,
    PaymentMethodType,
)
from billcycle.unset import UNSET

PAYMENT_METHOD = "payment_method"

MAX_FAILURES = 100  # Zuora: 1 to 100 consecutive failures
MAX_RETRY_WINDOW_HOURS = 1000  # Zuora: 1 to 1000 hours
HOLDER_FIELDS = frozenset(
    {
        "holder_name",
        "first_name",
        "last_name",
        "address_line1",
        "address_line2",
        "city",
        "state",
        "zip_code",
        "country",
        "email",
        "phone",
    }
)
MANDATE_FIELDS = frozenset(
    {
        "mandate_id",
        "mandate_reason",
        "mandate_status",
        "mandate_received_status",
        "existing_mandate_status",
        "mandate_creation_date",
        "mandate_update_date",
    }
)
_DETAIL_MAX = 255


# -- reading ---------------------------------------------------------------------------


def get_method(ctx: ServiceContext, method_id: int) -> PaymentMethod:
    method = repo.get_method(ctx.session, ctx.tenant_id, method_id)
    if method is None:
        raise _not_found(method_id)
    return method


def methods_of_account(
    ctx: ServiceContext, account: Account, *, active_only: bool = False, default_only: bool = False
) -> list[PaymentMethod]:
    """The account's methods (the default first). Scrubbed methods are gone, as Zuora's
    scrub soft-deletes them."""
    statuses = (
        [PaymentMethodStatus.ACTIVE]
        if active_only
        else [PaymentMethodStatus.ACTIVE, PaymentMethodStatus.CLOSED]
    )
    return repo.list_methods(
        ctx.session, ctx.tenant_id, account.id, statuses=statuses, default_only=default_only
    )


def default_method(ctx: ServiceContext, account: Account) -> PaymentMethod | None:
    return repo.default_for_account(ctx.session, ctx.tenant_id, account.id)


def require_default_method(ctx: ServiceContext, account: Account) -> PaymentMethod:
    method = default_method(ctx, account)
    if method is None:
        raise NotFound(
            f"Account {account.account_number} has no default payment method.",
            resource=PAYMENT_METHOD,
        )
    return method


# -- creating --------------------------------------------------------------------------


def create_method(ctx: ServiceContext, data: NewPaymentMethod) -> PaymentMethod:
    """Create a method; every check (and, for a full card number, the tokenization)
    happens before anything is written."""
    method_type = _type(data.type)
    account = _account(ctx, data.account_id) if data.account_id is not None else None
    if data.make_default and account is None:
        raise RuleViolation(
            "makeDefault needs accountKey: an orphan payment method is no account's default.",
            resource=PAYMENT_METHOD,
            field="makeDefault",
        )
    gateway_id = _gateway_id(ctx, data.gateway_id) if data.gateway_id is not None else None
    values: dict[str, Any] = {
        "payment_method_number": _text(data.payment_method_number, "paymentMethodNumber", 32),
        "currency_code": (
            normalize_currency(data.currency_code) if data.currency_code is not None else None
        ),
    }
    details: dict[str, Any] = {}
    if data.mandate is not None:
        details["mandate"] = _details(data.mandate, MANDATE_FIELDS, "mandateInfo")
    if method_type is PaymentMethodType.CREDIT_CARD:
        values |= _credit_card(ctx, data, account, gateway_id)
    elif method_type is PaymentMethodType.CREDIT_CARD_REFERENCE_TRANSACTION:
        values |= _reference_transaction(data)
    elif method_type is PaymentMethodType.ACH:
        values |= _ach(data)
    else:  # SEPA, BankTransfer
        values |= _bank_transfer(data)
    if data.holder is not None:
        details["holder"] = _details(data.holder, HOLDER_FIELDS, "holder information")
    if method_type in (PaymentMethodType.SEPA, PaymentMethodType.BANK_TRANSFER) and not (
        details.get("holder", {}).get("holder_name")
    ):
        raise MissingField(
            "Missing required field: accountHolderInfo.accountHolderName.",
            resource=PAYMENT_METHOD,
            field="accountHolderInfo",
        )
    retry = _retry_values(data.retry, None)
    now = ctx.clock.now()
    method = PaymentMethod(
        tenant_id=ctx.tenant_id,
        account_id=account.id if account is not None else None,
        type=method_type.value,
        status=PaymentMethodStatus.ACTIVE.value,
        is_default=False,
        gateway_id=gateway_id,
        details=details,
        num_consecutive_failures=0,
        total_processed_payments=0,
        total_error_payments=0,
        created_at=now,
        updated_at=now,
        **values,
        **retry,
    )
    if account is None:
        return repo.add_method(ctx.session, method)
    if data.make_default:
        repo.add_method(ctx.session, method)
        make_default(ctx, method)
        return method
    if repo.default_for_account(ctx.session, ctx.tenant_id, account.id) is None:
        # An account's first method is its default (unless a concurrent first won).
        method.is_default = True
        return repo.add_method_as_default_if_free(ctx.session, method)
    return repo.add_method(ctx.session, method)


def _credit_card(
    ctx: ServiceContext, data: NewPaymentMethod, account: Account | None, gateway_id: int | None
) -> dict[str, Any]:
    if data.card is not None:
        if data.token is not None:
            raise InvalidValue(
                "Send either cardNumber or tokens, not both.",
                resource=PAYMENT_METHOD,
                field="cardNumber",
            )
        gateway = _open(
            ctx,
            gateway_id,
            account,
            "No payment gateway is configured to take a card number: configure one, or "
            "send tokens with cardMaskNumber.",
        )
        if not isinstance(gateway, TokenizingGateway):
            raise RuleViolation(
                "This payment gateway does not take card numbers: tokenize the card on the "
                "customer's side and send tokens with cardMaskNumber.",
                resource=PAYMENT_METHOD,
                field="cardNumber",
            )
        with metrics.timed_gateway_call(metrics.gateway_label(gateway), "tokenize") as answered:
            token = gateway.tokenize(data.card)
            answered.append("ok")
        if data.card_type is not None and _brand(data.card_type) is not token.brand:
            raise InvalidValue(
                f"cardType {data.card_type} does not match the card number ({token.brand}).",
                resource=PAYMENT_METHOD,
                field="cardType",
            )
        return {
            "token": token.token,
            "card_type": token.brand.value,
            "card_mask": token.mask,
            "expiration_month": token.expiration_month,
            "expiration_year": token.expiration_year,
        }
    if data.token is None:
        raise MissingField(
            "Missing required field: cardNumber (or tokens with cardMaskNumber).",
            resource=PAYMENT_METHOD,
            field="cardNumber",
        )
    if data.card_mask is None:
        raise MissingField(
            "Missing required field: cardMaskNumber (required with tokens).",
            resource=PAYMENT_METHOD,
            field="cardMaskNumber",
        )
    return {
        "token": _text(data.token, "tokens.tokenId", 100, required=True),
        "second_token": _text(data.second_token, "tokens.secondTokenId", 64),
        "card_type": _brand(data.card_type).value if data.card_type is not None else None,
        "card_mask": check_mask(data.card_mask, "cardMaskNumber"),
        **_expiry(data.expiration_month, data.expiration_year),
    }


def _reference_transaction(data: NewPaymentMethod) -> dict[str, Any]:
    if data.token is None:
        raise MissingField(
            "Missing required field: tokenId.", resource=PAYMENT_METHOD, field="tokenId"
        )
    return {
        "token": _text(data.token, "tokenId", 100, required=True),
        "second_token": _text(data.second_token, "secondTokenId", 64),
        "card_type": _brand(data.card_type).value if data.card_type is not None else None,
        "card_mask": (
            check_mask(data.card_mask, "creditCardMaskNumber")
            if data.card_mask is not None
            else None
        ),
        **_expiry(data.expiration_month, data.expiration_year),
    }


def _ach(data: NewPaymentMethod) -> dict[str, Any]:
    aba = _text(data.bank_aba_code, "bankABACode", 9, required=True)
    if not is_ascii_digits(aba) or len(aba) != 9:
        raise InvalidValue(
            "bankABACode is the nine-digit routing number.",
            resource=PAYMENT_METHOD,
            field="bankABACode",
        )
    account_type = _text(data.bank_account_type, "bankAccountType", 30, required=True)
    if account_type not in frozenset(BankAccountType):
        raise InvalidValue(
            f"Invalid value for bankAccountType: {account_type!r}. Use one of "
            f"{', '.join(BankAccountType)}.",
            resource=PAYMENT_METHOD,
            field="bankAccountType",
        )
    if data.bank_account_number is not None:
        if data.mandate_id is not None and data.bank_account_mask is not None:
            raise InvalidValue(
                "Send either bankAccountNumber or mandateId with bankAccountMaskNumber.",
                resource=PAYMENT_METHOD,
                field="bankAccountNumber",
            )
        mask = mask_bank_account(data.bank_account_number)
    elif data.mandate_id is not None or data.token is not None:
        if data.bank_account_mask is None:
            raise MissingField(
                "Missing required field: bankAccountMaskNumber (required with mandateId or "
                "tokens).",
                resource=PAYMENT_METHOD,
                field="bankAccountMaskNumber",
            )
        mask = check_mask(data.bank_account_mask, "bankAccountMaskNumber")
    else:
        raise MissingField(
            "Missing required field: bankAccountNumber (or mandateId with bankAccountMaskNumber).",
            resource=PAYMENT_METHOD,
            field="bankAccountNumber",
        )
    return {
        "bank_aba_code": aba,
        "bank_account_name": _text(data.bank_account_name, "bankAccountName", 70, required=True),
        "bank_account_type": account_type,
        "bank_name": _text(data.bank_name, "bankName", 70, required=True),
        "bank_account_mask": mask,
        "mandate_id": _text(data.mandate_id, "mandateId", 36),
        "token": _text(data.token, "tokens.tokenId", 100),
        "second_token": _text(data.second_token, "tokens.secondTokenId", 64),
    }


def _bank_transfer(data: NewPaymentMethod) -> dict[str, Any]:
    if data.iban is None:
        raise MissingField("Missing required field: IBAN.", resource=PAYMENT_METHOD, field="IBAN")
    bic = _text(data.business_identification_code, "businessIdentificationCode", 11)
    if bic is not None and not (len(bic) in (8, 11) and bic.isalnum()):
        raise InvalidValue(
            "businessIdentificationCode is an 8 or 11 character BIC.",
            resource=PAYMENT_METHOD,
            field="businessIdentificationCode",
        )
    return {
        "iban_mask": mask_iban(data.iban),
        "business_identification_code": bic.upper() if bic is not None else None,
        "mandate_id": _text(data.mandate_id, "mandateId", 36),
        "token": _text(data.token, "tokens.tokenId", 100),
        "second_token": _text(data.second_token, "tokens.secondTokenId", 64),
    }


# -- updating --------------------------------------------------------------------------


def update_method(
    ctx: ServiceContext, method_id: int, changes: PaymentMethodChanges
) -> PaymentMethod:
    method = _lock(ctx, method_id)
    _require_usable(method, "updated")
    values: dict[str, Any] = {}
    if changes.account_id is not UNSET:
        account = _account(ctx, changes.account_id)
        if method.account_id is not None and method.account_id != account.id:
            raise RuleViolation(
                "A payment method that belongs to an account cannot move to another account.",
                resource=PAYMENT_METHOD,
                field="accountKey",
            )
        values["account_id"] = account.id
    if changes.gateway_id is not UNSET:
        values["gateway_id"] = (
            _gateway_id(ctx, changes.gateway_id) if changes.gateway_id is not None else None
        )
    if changes.currency_code is not UNSET:
        values["currency_code"] = (
            normalize_currency(changes.currency_code) if changes.currency_code else None
        )
    if changes.expiration_month is not UNSET or changes.expiration_year is not UNSET:
        if method.type != PaymentMethodType.CREDIT_CARD:
            raise RuleViolation(
                "Only a credit card's expiration date can be changed.",
                resource=PAYMENT_METHOD,
                field="expirationMonth",
            )
        month = (
            changes.expiration_month
            if changes.expiration_month is not UNSET
            else method.expiration_month
        )
        year = (
            changes.expiration_year
            if changes.expiration_year is not UNSET
            else method.expiration_year
        )
        values |= _expiry(month, year)
    details = {key: dict(value) for key, value in (method.details or {}).items()}
    if changes.holder is not UNSET:
        merged = {**details.get("holder", {}), **dict(changes.holder)}
        details["holder"] = _details(merged, HOLDER_FIELDS, "holder information")
    if changes.mandate is not UNSET:
        merged = {**details.get("mandate", {}), **dict(changes.mandate)}
        details["mandate"] = _details(merged, MANDATE_FIELDS, "mandateInfo")
    values |= _retry_values(changes.retry, method)
    if changes.num_consecutive_failures is not UNSET:
        if changes.num_consecutive_failures != 0:
            raise InvalidValue(
                "numConsecutiveFailures can only be reset to 0.",
                resource=PAYMENT_METHOD,
                field="numConsecutiveFailures",
            )
        values["num_consecutive_failures"] = 0
    for key, value in values.items():
        setattr(method, key, value)
    method.details = details
    method.updated_at = ctx.clock.now()
    ctx.session.flush()
    if (
        "account_id" in values
        and repo.default_for_account(ctx.session, ctx.tenant_id, values["account_id"]) is None
    ):
        # An orphan attached to an account without methods becomes its default.
        repo.mark_default(ctx.session, method)
    return method


def make_default(ctx: ServiceContext, method: PaymentMethod) -> PaymentMethod:
    """Make ``method`` its account's default. Of two concurrent calls on one account,
    the one whose change reaches the unique index second is refused (Conflict)."""
    locked = _lock(ctx, method.id)
    if locked.is_default:
        return locked
    if locked.account_id is None:
        raise RuleViolation(
            "An orphan payment method cannot be an account's default: attach it first.",
            resource=PAYMENT_METHOD,
        )
    _require_usable(locked, "made the default")
    repo.clear_default(ctx.session, ctx.tenant_id, locked.account_id)
    if not repo.mark_default(ctx.session, locked):
        raise Conflict(
            "Another request changed this account's default payment method at the same "
            "time; read the account's payment methods and try again.",
            resource=PAYMENT_METHOD,
        )
    locked.updated_at = ctx.clock.now()
    ctx.session.flush()
    return locked


def set_default_for_account(ctx: ServiceContext, account: Account, method_id: int) -> None:
    """Zuora's account ``defaultPaymentMethodId``: the method must be this account's."""
    method = repo.get_method(ctx.session, ctx.tenant_id, method_id)
    if method is None or method.account_id not in (None, account.id):
        raise _not_found(method_id)
    if method.account_id is None:
        update_method(ctx, method.id, PaymentMethodChanges(account_id=account.id))
    make_default(ctx, method)


# -- ending ----------------------------------------------------------------------------


def delete_method(ctx: ServiceContext, method_id: int) -> None:
    """Zuora refuses to delete an account's default method: make another one the
    default first."""
    method = _lock(ctx, method_id)
    if method.is_default:
        raise RuleViolation(
            "Payment method {method} is the account's default payment method and cannot be "
            "deleted: make another payment method the default first.",
            resource=PAYMENT_METHOD,
            ids={"method": method.id},
        )
    repo.delete_method(ctx.session, ctx.tenant_id, method.id)


def close_method(ctx: ServiceContext, method_id: int) -> PaymentMethod:
    """A closed method stays readable (its payments name it) but is never charged."""
    method = _lock(ctx, method_id)
    if method.status == PaymentMethodStatus.CLOSED:
        return method
    _require_usable(method, "closed")
    _check_not_autopay_default(ctx, method, "closed")
    method.status = PaymentMethodStatus.CLOSED.value
    method.is_default = False
    method.updated_at = ctx.clock.now()
    ctx.session.flush()
    return method


def scrub_method(ctx: ServiceContext, method_id: int) -> PaymentMethod:
    """Blank every sensitive field (tokens, masks, bank details, holder and mandate
    information) and soft-delete the method: it leaves the account's lists."""
    method = _lock(ctx, method_id)
    if method.status == PaymentMethodStatus.SCRUBBED:
        return method
    _check_not_autopay_default(ctx, method, "scrubbed")
    for column in (
        "token",
        "second_token",
        "card_mask",
        "expiration_month",
        "expiration_year",
        "bank_aba_code",
        "bank_account_name",
        "bank_name",
        "bank_account_mask",
        "mandate_id",
        "iban_mask",
        "business_identification_code",
        "payment_method_number",
    ):
        setattr(method, column, None)
    method.details = {}
    method.status = PaymentMethodStatus.SCRUBBED.value
    method.is_default = False
    method.updated_at = ctx.clock.now()
    ctx.session.flush()
    return method


# -- verifying -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verification:
    method: PaymentMethod
    result: GatewayResult
    currency: str = ""  # the currency the check was made in


def declined_error(result: GatewayResult) -> RuleViolation:
    """How a declined verification is refused: the gateway's reason."""
    return RuleViolation(
        declined_message(result.code, result.message),
        resource=PAYMENT_METHOD,
        code=ErrorCode.GATEWAY_DECLINED,
    )


def verify_method(
    ctx: ServiceContext,
    method_id: int,
    *,
    currency: str | None = None,
    gateway_id: int | None = None,
    refuse_decline: bool = True,
) -> Verification:
    """Zuora's verify: a zero-amount check through the method's gateway (the account's,
    else the tenant's default). A decline is refused with the gateway's reason (unless
    ``refuse_decline`` is False: the caller gets the answer); nothing is stored either
    way (``payments.card_collection.verify`` notes a payment activity)."""
    method = get_method(ctx, method_id)
    _require_usable(method, "verified")
    if method.account_id is None:
        raise RuleViolation(
            "An orphan payment method cannot be verified: attach it to an account first.",
            resource=PAYMENT_METHOD,
        )
    if method.token is None:
        raise RuleViolation(
            "Payment method {method} has no gateway token to verify.",
            resource=PAYMENT_METHOD,
            ids={"method": method.id},
        )
    account = _account(ctx, method.account_id)
    gateway = _open(
        ctx,
        gateway_id or gateway_for(ctx, method),
        account,
        "No payment gateway is configured to verify this payment method.",
    )
    if not isinstance(gateway, VerifyingGateway):
        raise RuleViolation(
            "This payment gateway cannot verify payment methods.", resource=PAYMENT_METHOD
        )
    code = normalize_currency(currency or method.currency_code or account.currency)
    with metrics.timed_gateway_call(metrics.gateway_label(gateway), "verify") as answered:
        result = gateway.verify(
            PaymentMethodRef(token=method.token, second_token=method.second_token), code
        )
        answered.append(result.outcome.value.lower())
    if refuse_decline and not result.approved:
        raise declined_error(result)
    return Verification(method=method, result=result, currency=code)


# -- account-level helpers -------------------------------------------------------------


def gateway_for(ctx: ServiceContext, method: PaymentMethod) -> int | None:
    """The gateway that charges ``method``: its own (``authGateway``), else its account's
    (``paymentGateway``); None means the tenant's default. What charging should use."""
    if method.gateway_id is not None:
        return method.gateway_id
    if method.account_id is None:
        return None
    return _account(ctx, method.account_id).payment_gateway_id


def find_gateway_by_name(ctx: ServiceContext, name: str, *, field: str = "paymentGateway") -> int:
    """Zuora's ``paymentGateway`` (a gateway's name) as its id in this tenant."""
    for gateway in gateways.list_gateways(ctx):
        if gateway.name == name:
            return gateway.id
    raise InvalidValue(
        f"Invalid value for {field}: no payment gateway is named {name!r}.",
        resource="account",
        field=field,
    )


# -- helpers ---------------------------------------------------------------------------


def _not_found(method_id: int) -> NotFound:
    return NotFound(
        "Payment method {method} not found.", resource=PAYMENT_METHOD, ids={"method": method_id}
    )


def _lock(ctx: ServiceContext, method_id: int) -> PaymentMethod:
    method = repo.lock_method(ctx.session, ctx.tenant_id, method_id)
    if method is None:
        raise _not_found(method_id)
    return method


def _account(ctx: ServiceContext, account_id: int) -> Account:
    account = accounts_repo.get_account(ctx.session, ctx.tenant_id, account_id)
    if account is None:
        raise NotFound(
            "Account {account} not found.", resource="account", ids={"account": account_id}
        )
    return account


def _gateway_id(ctx: ServiceContext, gateway_id: int) -> int:
    try:
        return gateways.get_gateway(ctx, gateway_id).id
    except NotFound as exc:
        raise InvalidValue(
            "Invalid value for authGateway: no payment gateway {gateway}.",
            resource=PAYMENT_METHOD,
            field="authGateway",
            ids={"gateway": gateway_id},
        ) from exc


def _open(
    ctx: ServiceContext, gateway_id: int | None, account: Account | None, missing: str
) -> Gateway:
    """The method's gateway, else the account's, else the tenant's default."""
    chosen = gateway_id if gateway_id is not None else None
    if chosen is None and account is not None:
        chosen = account.payment_gateway_id
    try:
        return gateways.open_gateway(ctx, chosen)
    except NotFound as exc:
        raise RuleViolation(missing, resource=PAYMENT_METHOD) from exc


def _require_usable(method: PaymentMethod, action: str) -> None:
    if method.status not in USABLE_STATUSES:
        raise RuleViolation(
            f"Payment method {{method}} is {method.status} and cannot be {action}.",
            resource=PAYMENT_METHOD,
            ids={"method": method.id},
        )


def _check_not_autopay_default(ctx: ServiceContext, method: PaymentMethod, action: str) -> None:
    if not method.is_default or method.account_id is None:
        return
    account = _account(ctx, method.account_id)
    if account.auto_pay:
        raise RuleViolation(
            f"Payment method {{method}} is the default of an autopay account and cannot be "
            f"{action}: make another payment method the default or turn autoPay off first.",
            resource=PAYMENT_METHOD,
            ids={"method": method.id},
        )


def _type(value: str) -> PaymentMethodType:
    try:
        return PaymentMethodType(value)
    except ValueError:
        raise InvalidValue(
            f"Invalid value for type: {value!r}. Use one of {', '.join(PaymentMethodType)}.",
            resource=PAYMENT_METHOD,
            field="type",
        ) from None


def _brand(value: str) -> CardBrand:
    try:
        return CardBrand(value)
    except ValueError:
        raise InvalidValue(
            f"Invalid value for cardType: {value!r}. Use one of {', '.join(CardBrand)}.",
            resource=PAYMENT_METHOD,
            field="cardType",
        ) from None


def _expiry(month: int | None, year: int | None) -> dict[str, Any]:
    if month is not None and not 1 <= month <= 12:
        raise InvalidValue(
            "expirationMonth is 1 to 12.", resource=PAYMENT_METHOD, field="expirationMonth"
        )
    if year is not None and not 1000 <= year <= 9999:
        raise InvalidValue(
            "expirationYear has four digits.", resource=PAYMENT_METHOD, field="expirationYear"
        )
    return {"expiration_month": month, "expiration_year": year}


def _text(value: str | None, field: str, limit: int, *, required: bool = False) -> Any:
    text = value.strip() if isinstance(value, str) else None
    if not text:
        if required:
            raise MissingField(
                f"Missing required field: {field}.", resource=PAYMENT_METHOD, field=field
            )
        return None
    if len(text) > limit:
        raise InvalidValue(
            f"Invalid value for {field}: at most {limit} characters are allowed.",
            resource=PAYMENT_METHOD,
            field=field,
        )
    return text


def _details(values: Details, allowed: frozenset[str], what: str) -> dict[str, str]:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise InvalidValue(
            f"Unknown {what} field {unknown[0]!r}.", resource=PAYMENT_METHOD, field=unknown[0]
        )
    kept: dict[str, str] = {}
    for key, value in values.items():
        text = _text(value, key, _DETAIL_MAX)
        if text is not None:
            kept[key] = text
    return kept


def _retry_values(rule: RetryRule, method: PaymentMethod | None) -> dict[str, Any]:
    """The retry columns once ``rule`` is applied; a method's own rule (use default
    false) needs both its numbers."""
    use_default = (
        rule.use_default_retry_rule
        if rule.use_default_retry_rule is not UNSET
        else (method.use_default_retry_rule if method is not None else True)
    )
    failures = (
        rule.max_consecutive_payment_failures
        if rule.max_consecutive_payment_failures is not UNSET
        else (method.max_consecutive_payment_failures if method is not None else None)
    )
    window = (
        rule.payment_retry_window_hours
        if rule.payment_retry_window_hours is not UNSET
        else (method.payment_retry_window_hours if method is not None else None)
    )
    if failures is not None and not 1 <= failures <= MAX_FAILURES:
        raise InvalidValue(
            f"maxConsecutivePaymentFailures is 1 to {MAX_FAILURES}.",
            resource=PAYMENT_METHOD,
            field="maxConsecutivePaymentFailures",
        )
    if window is not None and not 1 <= window <= MAX_RETRY_WINDOW_HOURS:
        raise InvalidValue(
            f"paymentRetryWindow is 1 to {MAX_RETRY_WINDOW_HOURS} hours.",
            resource=PAYMENT_METHOD,
            field="paymentRetryWindow",
        )
    if not use_default and (failures is None or window is None):
        missing = "maxConsecutivePaymentFailures" if failures is None else "paymentRetryWindow"
        raise MissingField(
            f"Missing required field: {missing} (required when useDefaultRetryRule is false).",
            resource=PAYMENT_METHOD,
            field=missing,
        )
    return {
        "use_default_retry_rule": bool(use_default),
        "max_consecutive_payment_failures": failures,
        "payment_retry_window_hours": window,
    }
