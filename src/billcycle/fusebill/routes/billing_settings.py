"""Fusebill routes: ``GET /v1/customerbillingsetting/{id}`` and ``PUT /v1/customerbillingsetting``.

A customer's billing settings are, in billcycle, fields of two domains: the account
(payment term, auto-pay) and its collections overrides (dunning exemption, grace period).
The PUT changes them through those domains' services in the request's one unit of work,
after every value has been checked, so a refused request changes nothing. Statuses:

- 400: malformed body, a term billcycle has no equivalent for, a grace period out of
  range, or a value for a setting billcycle does not keep (see
  ``fusebill.schemas.billing_settings``);
- 404: an unknown customer or another tenant's;
- 409: ``autoCollect`` true for a customer without a default payment method (Fusebill:
  auto collect "can only be explicitly set to True if the customer has a Payment Method").
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request

from billcycle.accounts import service as accounts
from billcycle.accounts.inputs import AccountChanges
from billcycle.accounts.models import Account
from billcycle.collections import policy
from billcycle.collections import service as collections
from billcycle.collections.inputs import AccountOverrides
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.fusebill.deps import Ctx
from billcycle.fusebill.routes.customers import customer_of
from billcycle.fusebill.schemas.billing_settings import (
    PAYMENT_TERM_BY_TERM,
    TERM_BY_PAYMENT_TERM,
    UNSUPPORTED_DEFAULTS,
    BillingSettingsRequest,
    BillingSettingsResponse,
    billing_settings_response,
)
from billcycle.paymentmethods import service as payment_methods
from billcycle.unset import UNSET

router = APIRouter(tags=["Customers"])

RESOURCE = "customer_billing_setting"


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _parse(raw: bytes) -> BillingSettingsRequest:
    try:
        return BillingSettingsRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


def _settings(ctx: ServiceContext, account: Account) -> BillingSettingsResponse:
    state = collections.account_collections(ctx, account.id)
    return billing_settings_response(
        customer_id=account.id,
        payment_term=account.payment_term,
        auto_pay=account.auto_pay,
        dunning_exempt=state.policy.dunning_exempt,
        grace_days=state.grace_days,
        has_payment_method=payment_methods.default_method(ctx, account) is not None,
    )


@router.get(
    "/v1/customerbillingsetting/{customer_id}",
    response_model=BillingSettingsResponse,
    summary="Read a customer's billing settings",
)
def get_billing_settings(customer_id: str, ctx: Ctx) -> BillingSettingsResponse:
    """The customer's payment term, auto collect, dunning exemption and grace period."""
    return _settings(ctx, customer_of(ctx, customer_id))


def _unsupported(body: BillingSettingsRequest) -> None:
    for name, shown in UNSUPPORTED_DEFAULTS.items():
        value: Any = getattr(body, name)
        if value is None or value == shown:
            continue
        field = BillingSettingsRequest.model_fields[name].alias or name
        raise InvalidValue(
            f"{field} is not supported: billcycle keeps no such setting (send "
            f"{'null' if shown is None else repr(shown)} or leave it out).",
            resource=RESOURCE,
            field=field,
        )


def _account_changes(
    ctx: ServiceContext, account: Account, body: BillingSettingsRequest
) -> AccountChanges:
    payment_term: Any = UNSET
    if body.term is not None:
        term = PAYMENT_TERM_BY_TERM.get(body.term.casefold())
        if term is None:
            raise InvalidValue(
                f"term '{body.term}' is not supported; use one of "
                f"{', '.join(TERM_BY_PAYMENT_TERM.values())}.",
                resource=RESOURCE,
                field="term",
            )
        payment_term = term.value
    auto_pay: Any = UNSET
    if body.auto_collect is not None:
        if (
            body.auto_collect
            and not account.auto_pay
            and payment_methods.default_method(ctx, account) is None
        ):
            raise RuleViolation(
                "autoCollect can only be true for a customer with a payment method on file.",
                resource=RESOURCE,
                field="autoCollect",
            )
        auto_pay = body.auto_collect
    return AccountChanges(payment_term=payment_term, auto_pay=auto_pay)


def _overrides(body: BillingSettingsRequest) -> AccountOverrides:
    grace: Any = UNSET
    if body.given("customer_grace_period"):
        grace = body.customer_grace_period
        if grace is not None and not 0 <= grace <= policy.MAX_DAYS:
            raise InvalidValue(
                f"customerGracePeriod must be a whole number from 0 to {policy.MAX_DAYS}.",
                resource=RESOURCE,
                field="customerGracePeriod",
            )
    exempt: Any = UNSET if body.dunning_exempt is None else body.dunning_exempt
    return AccountOverrides(grace_days=grace, dunning_exempt=exempt)


@router.put(
    "/v1/customerbillingsetting",
    response_model=BillingSettingsResponse,
    summary="Update a customer's billing settings",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": BillingSettingsRequest.model_json_schema()}},
        }
    },
)
def put_billing_settings(
    ctx: Ctx, raw: Annotated[bytes, Depends(_raw_body)]
) -> BillingSettingsResponse:
    """Override the customer's billing settings (``id`` names the customer); the answer is
    the settings as they now are. Every value is checked before anything changes."""
    body = _parse(raw)
    try:
        account = accounts.require_account(ctx, body.id)
    except NotFound:
        raise NotFound(f"Customer {body.id} not found.", resource="account") from None
    _unsupported(body)
    changes = _account_changes(ctx, account, body)
    overrides = _overrides(body)
    if changes.payment_term is not UNSET or changes.auto_pay is not UNSET:
        account = accounts.update_account(ctx, account, changes)
    if overrides.grace_days is not UNSET or overrides.dunning_exempt is not UNSET:
        policy.set_account_overrides(ctx, account.id, overrides)
    return _settings(ctx, account)
