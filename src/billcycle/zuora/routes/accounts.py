"""Zuora routes: ``/v1/accounts`` (create, retrieve, update, delete, summary).

Async routes over :class:`~billcycle.web.units.Units`: reads run inline, each write as
one unit of work in one worker-thread call, and each answer is serialised once.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from billcycle.accounts import service
from billcycle.accounts.models import Account
from billcycle.context import ServiceContext
from billcycle.db.loop_writes import loop_statements
from billcycle.errors import DomainError
from billcycle.ids import parse_zuora_id, to_zuora_id
from billcycle.paymentmethods import account_setup
from billcycle.paymentmethods import service as payment_methods
from billcycle.web.audit import riding_audit, riding_audit_recorded
from billcycle.web.responses import json_response
from billcycle.web.units import Units
from billcycle.zuora.deps import Work
from billcycle.zuora.schemas import accounts as schemas
from billcycle.zuora.schemas.base import CommonResponse

router = APIRouter(prefix="/v1/accounts", tags=["Accounts"])


def _account(ctx: ServiceContext, account_key: str) -> Account:
    """Zuora's account-key: the 32-hex id or the account number."""
    return service.find_account(ctx, account_id=parse_zuora_id(account_key), number=account_key)


@router.post("", response_model=schemas.CreateAccountResponse, summary="Create an account")
async def create_account(
    body: schemas.CreateAccountRequest, work: Work, request: Request
) -> Response:
    """Create a customer account with its bill-to and sold-to contacts and, given
    ``creditCard``, ``paymentMethod`` or ``hpmCreditCardPaymentMethodId``, its default
    payment method (required with ``autoPay: true``). ``paymentGateway`` names the
    gateway its payments go through."""
    return json_response(await created_account(request, body, work))


async def created_account(
    request: Request, body: schemas.CreateAccountRequest, work: Units
) -> schemas.CreateAccountResponse:
    """:func:`create_account`'s answer (also given by ``zuora.hot_writes``)."""
    answer = await create_in_one_statement(request, body, work)
    if answer is not None:
        return answer

    def create(ctx: ServiceContext) -> schemas.CreateAccountResponse:
        account, method = account_setup.create_account(
            ctx, schemas.to_new_account(body), schemas.to_payment_setup(body)
        )
        return schemas.created(account, method)

    # Without a payment method (a card may be tokenized at a gateway) the creation
    # changes nothing outside its unit of work.
    no_method = (
        body.credit_card is None
        and body.payment_method is None
        and body.hpm_credit_card_payment_method_id is None
    )
    return await work.write(create, self_contained=no_method)


async def create_in_one_statement(
    request: Request, body: schemas.CreateAccountRequest, work: Units
) -> schemas.CreateAccountResponse | None:
    """The account create written by ONE statement in autocommit on the event loop, the
    request's audit event included, when ``accounts.service.one_statement_create`` says
    it can be (its rules say when). None otherwise, or when the request has no token
    client or riding audit row to write with it, or no reserved number is left: the
    caller then runs :func:`create_account`'s unit of work (which also answers a broken
    rule's error, the token checked first)."""
    client = work.client
    audit = riding_audit(request)
    if client is None or audit is None:
        return None
    try:
        data, payment = schemas.to_new_account(body), schemas.to_payment_setup(body)
    except DomainError:
        return None
    plan = service.one_statement_create(work.runtime, work.tenant_id, work.org_ids, data, payment)
    if plan is None:
        return None
    account = await service.create_in_one_statement(
        plan.ctx, plan.rows, loop_statements(work.runtime.engine), audit, client
    )
    if account is None:
        return None
    riding_audit_recorded(request)
    return schemas.created(account)


@router.get(
    "/{account_key}", response_model=schemas.GetAccountResponse, summary="Retrieve an account"
)
async def get_account(account_key: str, work: Work) -> Response:
    """Basic information, billing settings, balances and contacts of an account."""

    def read(ctx: ServiceContext) -> schemas.GetAccountResponse:
        account = _account(ctx, account_key)
        bill_to, sold_to = service.contacts_of(ctx, account)
        metrics = service.account_metrics(ctx, account)
        default = payment_methods.default_method(ctx, account)
        return schemas.account_detail(
            account,
            bill_to,
            sold_to,
            metrics,
            default.id if default is not None else None,
            account_setup.gateway_name(ctx, account),
        )

    return json_response(work.read(read))


@router.put("/{account_key}", response_model=CommonResponse, summary="Update an account")
async def update_account(
    account_key: str, body: schemas.UpdateAccountRequest, work: Work
) -> Response:
    """Change the fields given; fields left out keep their values.
    ``defaultPaymentMethodId`` (one of this account's methods) becomes its default."""

    def update(ctx: ServiceContext) -> CommonResponse:
        account = _account(ctx, account_key)
        account_setup.update_account(
            ctx,
            account,
            schemas.to_account_changes(body),
            schemas.to_update_payment_setup(body),
        )
        return CommonResponse()

    return json_response(await work.write(update))


@router.delete(
    "/{account_key}", response_model=schemas.DeleteAccountResponse, summary="Delete an account"
)
async def delete_account(account_key: str, work: Work) -> Response:
    """Delete an account without posted invoices, with its drafts and subscriptions."""

    def delete(ctx: ServiceContext) -> schemas.DeleteAccountResponse:
        account = _account(ctx, account_key)
        account_id = account.id
        service.delete_account(ctx, account)
        return schemas.DeleteAccountResponse(id=to_zuora_id(account_id))

    return json_response(await work.write(delete))


@router.get(
    "/{account_key}/summary",
    response_model=schemas.AccountSummaryResponse,
    summary="Retrieve an account summary",
)
async def get_account_summary(account_key: str, work: Work) -> Response:
    """The account with its latest subscriptions, invoices and payments, its last
    payment and its default payment method."""

    def read(ctx: ServiceContext) -> schemas.AccountSummaryResponse:
        return schemas.account_summary(service.account_summary(ctx, _account(ctx, account_key)))

    return json_response(work.read(read))
