"""Zuora routes: ``/v1/accounts`` (create, retrieve, update, delete, summary)."""

from __future__ import annotations

from fastapi import APIRouter

from billcycle.accounts import service
from billcycle.accounts.models import Account
from billcycle.context import ServiceContext
from billcycle.ids import parse_zuora_id, to_zuora_id
from billcycle.zuora.deps import Ctx
from billcycle.zuora.schemas import accounts as schemas
from billcycle.zuora.schemas.base import CommonResponse

router = APIRouter(prefix="/v1/accounts", tags=["Accounts"])


def _account(ctx: ServiceContext, account_key: str) -> Account:
    """Zuora's account-key: the 32-hex id or the account number."""
    return service.find_account(ctx, account_id=parse_zuora_id(account_key), number=account_key)


@router.post("", response_model=schemas.CreateAccountResponse, summary="Create an account")
def create_account(body: schemas.CreateAccountRequest, ctx: Ctx) -> schemas.CreateAccountResponse:
    """Create a customer account with its bill-to and sold-to contacts."""
    account = service.create_account(ctx, schemas.to_new_account(body))
    return schemas.created(account)


@router.get(
    "/{account_key}", response_model=schemas.GetAccountResponse, summary="Retrieve an account"
)
def get_account(account_key: str, ctx: Ctx) -> schemas.GetAccountResponse:
    """Basic information, billing settings, balances and contacts of an account."""
    account = _account(ctx, account_key)
    bill_to, sold_to = service.contacts_of(ctx, account)
    return schemas.account_detail(account, bill_to, sold_to, service.account_metrics(ctx, account))


@router.put("/{account_key}", response_model=CommonResponse, summary="Update an account")
def update_account(
    account_key: str, body: schemas.UpdateAccountRequest, ctx: Ctx
) -> CommonResponse:
    """Change the fields given; fields left out keep their values."""
    account = _account(ctx, account_key)
    service.update_account(ctx, account, schemas.to_account_changes(body))
    return CommonResponse()


@router.delete(
    "/{account_key}", response_model=schemas.DeleteAccountResponse, summary="Delete an account"
)
def delete_account(account_key: str, ctx: Ctx) -> schemas.DeleteAccountResponse:
    """Delete an account without posted invoices, with its drafts and subscriptions."""
    account = _account(ctx, account_key)
    account_id = account.id
    service.delete_account(ctx, account)
    return schemas.DeleteAccountResponse(id=to_zuora_id(account_id))


@router.get(
    "/{account_key}/summary",
    response_model=schemas.AccountSummaryResponse,
    summary="Retrieve an account summary",
)
def get_account_summary(account_key: str, ctx: Ctx) -> schemas.AccountSummaryResponse:
    """The account with its latest subscriptions and invoices."""
    account = _account(ctx, account_key)
    return schemas.account_summary(service.account_summary(ctx, account))
