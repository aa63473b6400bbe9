"""Zuora routes: ``/v1/payment-methods`` (create, retrieve, update, delete, scrub,
verify), an account's payment methods and its default, and ``/v1/payment-gateways``.

Keys: a payment method by its 32-hex id; an account by id or number. A method of
another tenant is "not found"; so is one of another account where an account is named.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from billcycle.accounts import service as accounts
from billcycle.accounts.models import Account
from billcycle.context import ServiceContext
from billcycle.errors import NotFound
from billcycle.gateways import service as gateways
from billcycle.ids import parse_zuora_id, to_zuora_id
from billcycle.paymentmethods import account_setup, service
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.payments import card_collection
from billcycle.zuora.deps import Ctx, runtime_of
from billcycle.zuora.schemas import payment_methods as schemas
from billcycle.zuora.schemas.base import CommonResponse

router = APIRouter(prefix="/v1/payment-methods", tags=["Payment Methods"])
account_router = APIRouter(prefix="/v1/accounts", tags=["Payment Methods"])
gateway_router = APIRouter(prefix="/v1/payment-gateways", tags=["Payment Gateways"])


def _account(ctx: ServiceContext, account_key: str) -> Account:
    return accounts.find_account(ctx, account_id=parse_zuora_id(account_key), number=account_key)


def _method(ctx: ServiceContext, method_key: str) -> PaymentMethod:
    method_id = parse_zuora_id(method_key)
    if method_id is None:
        raise NotFound(f"Payment method {method_key} not found.", resource="payment_method")
    return service.get_method(ctx, method_id)


@router.post(
    "",
    response_model=schemas.CreatePaymentMethodResponse,
    summary="Create a payment method",
)
def create_payment_method(
    body: schemas.CreatePaymentMethodRequest, ctx: Ctx
) -> schemas.CreatePaymentMethodResponse:
    """A credit card (a full ``cardNumber`` is tokenized by the gateway when it can,
    else send ``tokens`` with ``cardMaskNumber``), a credit card reference transaction,
    an ACH bank account or a SEPA mandate. Without ``accountKey`` the method is an
    orphan; an account's first method becomes its default."""
    account_id = _account(ctx, body.account_key).id if body.account_key is not None else None
    method = service.create_method(ctx, schemas.to_new_method(body, account_id))
    return schemas.CreatePaymentMethodResponse(id=to_zuora_id(method.id))


@router.get(
    "/{payment_method_id}",
    response_model=schemas.PaymentMethodResponse,
    response_model_exclude_none=True,
    summary="Retrieve a payment method",
)
def get_payment_method(payment_method_id: str, ctx: Ctx) -> schemas.PaymentMethodResponse:
    """The method with its masked numbers, retry rule and counters."""
    return schemas.method_response(_method(ctx, payment_method_id))


@router.put(
    "/{payment_method_id}",
    response_model=schemas.UpdatePaymentMethodResponse,
    summary="Update a payment method",
)
def update_payment_method(
    payment_method_id: str, body: schemas.UpdatePaymentMethodRequest, ctx: Ctx
) -> schemas.UpdatePaymentMethodResponse:
    """Expiry (credit cards), holder and mandate information, gateway, retry rule;
    ``accountKey`` attaches an orphan method; ``numConsecutiveFailures: 0`` resets the
    failure count."""
    method = _method(ctx, payment_method_id)
    account_id = _account(ctx, body.account_key).id if body.account_key is not None else None
    updated = service.update_method(ctx, method.id, schemas.to_changes(body, account_id))
    return schemas.UpdatePaymentMethodResponse(id=to_zuora_id(updated.id))


@router.delete(
    "/{payment_method_id}", response_model=CommonResponse, summary="Delete a payment method"
)
def delete_payment_method(payment_method_id: str, ctx: Ctx) -> CommonResponse:
    """Refused for an account's default method: make another one the default first."""
    service.delete_method(ctx, _method(ctx, payment_method_id).id)
    return CommonResponse()


@router.put(
    "/{payment_method_id}/scrub",
    response_model=CommonResponse,
    summary="Scrub a payment method",
)
def scrub_payment_method(payment_method_id: str, ctx: Ctx) -> CommonResponse:
    """Blank the method's sensitive data and soft-delete it (status Scrubbed)."""
    service.scrub_method(ctx, _method(ctx, payment_method_id).id)
    return CommonResponse()


@router.put(
    "/{payment_method_id}/verify",
    response_model=schemas.VerifyPaymentMethodResponse,
    summary="Verify a payment method",
)
def verify_payment_method(
    payment_method_id: str,
    request: Request,
    ctx: Ctx,
    body: schemas.VerifyPaymentMethodRequest | None = None,
) -> schemas.VerifyPaymentMethodResponse:
    """A zero-amount check through the gateway; a decline answers the gateway's reason."""
    method = _method(ctx, payment_method_id)
    gateway_id = (
        service.find_gateway_by_name(ctx, body.payment_gateway_name, field="paymentGatewayName")
        if body is not None and body.payment_gateway_name is not None
        else None
    )
    # Checked and noted (a Validate payment activity, declined or not) in units of work
    # of its own: this request's has only read.
    card_collection.verify(
        runtime_of(request),
        ctx.tenant_id,
        method.id,
        currency=body.currency_code if body is not None else None,
        gateway_id=gateway_id,
    )
    return schemas.VerifyPaymentMethodResponse(payment_method_id=to_zuora_id(method.id))


@account_router.get("/{account_key}/payment-methods", summary="List payment methods of an account")
def get_account_payment_methods(
    account_key: str,
    ctx: Ctx,
    is_default_only: Annotated[bool, Query(alias="isDefaultOnly")] = False,
    is_active_only: Annotated[bool, Query(alias="isActiveOnly")] = False,
) -> dict[str, Any]:
    """The account's payment methods grouped by type (``creditcard``, ``ach``, ...)."""
    account = _account(ctx, account_key)
    methods = service.methods_of_account(
        ctx, account, active_only=is_active_only, default_only=is_default_only
    )
    default = service.default_method(ctx, account)
    return schemas.account_methods_body(
        methods,
        default.id if default is not None else None,
        account_setup.gateway_name(ctx, account),
    )


@account_router.get(
    "/{account_key}/payment-methods/default",
    summary="Retrieve the default payment method of an account",
)
def get_account_default_payment_method(account_key: str, ctx: Ctx) -> dict[str, Any]:
    """NotFound when the account has no default payment method."""
    account = _account(ctx, account_key)
    return schemas.default_method_body(service.require_default_method(ctx, account))


@gateway_router.get(
    "", response_model=schemas.PaymentGatewaysResponse, summary="List all payment gateways"
)
def list_payment_gateways(ctx: Ctx) -> schemas.PaymentGatewaysResponse:
    """The tenant's configured gateways: their ids are what ``authGateway`` and
    ``gatewayId`` name."""
    return schemas.gateways_response(list(gateways.list_gateways(ctx)))
