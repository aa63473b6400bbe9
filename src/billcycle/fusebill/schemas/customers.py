"""Fusebill wire shapes for customers (a Fusebill customer IS a billcycle account), and
the small wire conventions every Fusebill resource here shares.

Field names follow Fusebill's Customer object. What billcycle has no notion of (title,
middle name, suffix, secondary contacts, CRM links, parent customers) is null or its
empty default. ``reference`` ("Customer ID" in Fusebill's UI) is the account number.
Amounts are JSON numbers; timestamps UTC without offset.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel
from starlette.requests import Request

from billcycle.accounts.models import Account, Contact
from billcycle.accounts.service import AccountMetrics
from billcycle.accounts.statuses import AccountStatus
from billcycle.collections.statuses import AccountStanding
from billcycle.fusebill.timestamps import fusebill_timestamp

# A Decimal in Python, a JSON number on the wire (values are already rounded to the
# currency, so the float's shortest repr is the same decimal).
Amount = Annotated[Decimal, PlainSerializer(float, return_type=float)]

CustomerStatus = Literal["Draft", "Active", "Hold", "Suspended", "Cancelled"]

# billcycle's account statuses as Fusebill names them.
_STATUS: dict[str, CustomerStatus] = {
    AccountStatus.DRAFT: "Draft",
    AccountStatus.ACTIVE: "Active",
    AccountStatus.CANCELED: "Cancelled",
}


class FusebillResponse(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


def resource_uri(request: Request, *parts: object) -> str:
    """The resource's own URL under this server's Fusebill base, e.g.
    ``http://host/fusebill/v1/customers/12``."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    path = "/".join([root, "v1", *(str(part) for part in parts)])
    return str(request.url.replace(path=path, query="", fragment=""))


def fusebill_date_timestamp(value: date) -> str:
    """A date shown where Fusebill shows a timestamp: its midnight."""
    return f"{value.isoformat()}T00:00:00"


def timestamp(value: datetime) -> str:
    text = fusebill_timestamp(value)
    assert text is not None
    return text


class CustomerResponse(FusebillResponse):
    first_name: str | None
    middle_name: str | None = None
    last_name: str | None
    company_name: str | None
    suffix: str | None = None
    title: str | None = None
    primary_email: str | None
    primary_phone: str | None
    secondary_email: str | None = None
    secondary_phone: str | None = None
    reference: str | None
    status: CustomerStatus
    customer_account_status: AccountStanding
    account_status: AccountStanding
    currency: str
    monthly_recurring_revenue: Amount
    net_mrr: Annotated[Amount, Field(alias="netMRR")]
    ar_balance: Amount
    parent_id: int | None = None
    is_parent: bool = False
    portal_user_name: str | None = None
    salesforce_id: str | None = None
    netsuite_id: str | None = None
    quick_books_id: int | None = None
    created_timestamp: str
    modified_timestamp: str
    id: int
    uri: str | None


def customer_status(status: str, *, suspended: bool = False) -> CustomerStatus:
    """Fusebill's customer status: collections' suspension shows as ``Suspended`` (a
    cancelled account stays ``Cancelled``)."""
    shown = _STATUS.get(status, "Active")
    if suspended and shown != "Cancelled":
        return "Suspended"
    return shown


def customer_response(
    account: Account,
    bill_to: Contact | None,
    metrics: AccountMetrics,
    *,
    standing: AccountStanding,
    suspended: bool,
    uri: str | None,
) -> CustomerResponse:
    email = None
    if bill_to is not None:
        email = bill_to.work_email or bill_to.personal_email
    return CustomerResponse(
        first_name=bill_to.first_name if bill_to is not None else None,
        last_name=bill_to.last_name if bill_to is not None else None,
        company_name=account.name,
        primary_email=email,
        primary_phone=bill_to.work_phone if bill_to is not None else None,
        reference=account.account_number,
        status=customer_status(account.status, suspended=suspended),
        customer_account_status=standing,
        account_status=standing,
        currency=account.currency,
        monthly_recurring_revenue=metrics.contracted_mrr,
        net_mrr=metrics.contracted_mrr,
        ar_balance=metrics.balance,
        created_timestamp=timestamp(account.created_at),
        modified_timestamp=timestamp(account.updated_at),
        id=account.id,
        uri=uri,
    )
