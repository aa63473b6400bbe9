"""Customer accounts: the rules for creating, changing and deleting them.

Every dialect calls these functions, so an account created through the Zuora API and one
created through Fusebill obey the same rules. Functions take a :class:`ServiceContext`,
flush and never commit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pycountry
from sqlalchemy import Engine
from sqlalchemy import inspect as sa_inspect

from billcycle.accounts import numbers as account_numbers
from billcycle.accounts import repository
from billcycle.accounts.inputs import (
    AccountChanges,
    ContactChanges,
    ContactInput,
    NewAccount,
)
from billcycle.accounts.models import Account, Contact
from billcycle.accounts.payment_terms import DEFAULT_PAYMENT_TERM, normalize_payment_term
from billcycle.accounts.repository import InvoiceRow
from billcycle.accounts.statuses import INITIAL_STATUSES, TRANSITIONS, AccountStatus
from billcycle.context import ServiceContext
from billcycle.db.loop_writes import LoopStatements
from billcycle.errors import DomainError, InvalidValue, MissingField, NotFound, RuleViolation
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.ids import NUMBER_FORMATS
from billcycle.ledger import service as ledger
from billcycle.money import from_minor, normalize_currency
from billcycle.paymentmethods import repository as payment_methods
from billcycle.paymentmethods.inputs import AccountPaymentSetup
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.payments import repository as payments
from billcycle.payments.models import Payment
from billcycle.payments.statuses import SETTLED_STATUSES
from billcycle.runtime import Runtime
from billcycle.subscriptions.models import Subscription, SubscriptionRatePlan
from billcycle.subscriptions.statuses import SubscriptionStatus
from billcycle.tenancy.service import check_generation
from billcycle.unset import UNSET

ACCOUNT = "account"
CONTACT = "contact"

MAX_BATCH = 50
MAX_NOTES = 65_535
# Zuora's summary shows the six most recent subscriptions and invoices.
SUMMARY_LIMIT = 6

# The subscription status that keeps an account's bill cycle day fixed (the words are the
# subscriptions package's own).

_BATCH = re.compile(r"^batch(\d{1,3})$", re.IGNORECASE | re.ASCII)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER_PREFIX = NUMBER_FORMATS["account"][0]
# Client-chosen numbers may not look like generated ones, so the sequence never collides.
_GENERATED_LOOKING = re.compile(rf"^{re.escape(_NUMBER_PREFIX)}\d+$", re.IGNORECASE | re.ASCII)
_EMAIL_FIELDS = ("work_email", "personal_email")
_CONTACT_WIRE_NAMES = {
    "first_name": "firstName",
    "last_name": "lastName",
    "work_email": "workEmail",
    "personal_email": "personalEmail",
    "work_phone": "workPhone",
    "postal_code": "zipCode",
    "tax_region": "taxRegion",
}


# -- batches ---------------------------------------------------------------------------


def parse_batch(name: str) -> int:
    """Zuora's batch name (``Batch1`` .. ``Batch50``) as the stored number."""
    match = _BATCH.match(name.strip())
    number = int(match.group(1)) if match else 0
    if not 1 <= number <= MAX_BATCH:
        raise InvalidValue(
            f"Invalid value for batch: '{name}'. Use Batch1 to Batch{MAX_BATCH}.",
            resource=ACCOUNT,
            field="batch",
        )
    return number


def batch_name(batch: int) -> str:
    return f"Batch{batch}"


# -- reading ---------------------------------------------------------------------------


def find_account(ctx: ServiceContext, *, account_id: int | None, number: str) -> Account:
    """The account by Zuora key (id or number) in this tenant, or NotFound."""
    account = repository.find_account_by_key(
        ctx.session, ctx.tenant_id, account_id=account_id, number=number
    )
    if account is None or not in_scope(ctx, account):
        raise NotFound(f"Account {number} does not exist.", resource=ACCOUNT)
    return account


def require_account(ctx: ServiceContext, account_id: int) -> Account:
    account = repository.get_account(ctx.session, ctx.tenant_id, account_id)
    if account is None or not in_scope(ctx, account):
        raise NotFound(f"Account {account_id} does not exist.", resource=ACCOUNT)
    return account


def in_scope(ctx: ServiceContext, account: Account) -> bool:
    """Multi-org: a call limited to some organizations (``ctx.org_ids``) sees only their
    accounts; another organization's account is "not found", as another tenant's is."""
    return ctx.org_ids is None or account.organization_id in ctx.org_ids


def set_organization(ctx: ServiceContext, account: Account, organization_id: int | None) -> None:
    """Put the account in an organization (the caller checked it is the tenant's)."""
    account.organization_id = organization_id
    account.updated_at = ctx.clock.now()
    ctx.session.flush()


def _organization_of_new_account(ctx: ServiceContext) -> int | None:
    if ctx.org_ids is None:
        return None
    if len(ctx.org_ids) != 1:
        raise InvalidValue(
            "Zuora-Org-Ids must name exactly one organization to create an account in.",
            resource=ACCOUNT,
        )
    return next(iter(ctx.org_ids))


def accounts_by_id(ctx: ServiceContext, account_ids: Sequence[int]) -> dict[int, Account]:
    """The tenant's accounts among ``account_ids`` (others left out), in one query a chunk."""
    return repository.accounts_by_id(ctx.session, ctx.tenant_id, account_ids)


def contacts_of(ctx: ServiceContext, account: Account) -> tuple[Contact | None, Contact | None]:
    """(bill-to, sold-to); the same object when the account shares one contact."""
    bill_to = repository.get_contact(ctx.session, ctx.tenant_id, account.bill_to_contact_id)
    if account.sold_to_contact_id == account.bill_to_contact_id:
        return bill_to, bill_to
    sold_to = repository.get_contact(ctx.session, ctx.tenant_id, account.sold_to_contact_id)
    return bill_to, sold_to


@dataclass(frozen=True, slots=True)
class AccountMetrics:
    currency: str
    balance: Decimal
    total_invoice_balance: Decimal
    # Money moved to the account's credit balance: always 0, as in Zuora with Invoice
    # Settlement (unapplied money stays on its payment) and billcycle has no credit
    # balance adjustments.
    credit_balance: Decimal
    # The unapplied money of the account's settled payments (Zuora's
    # ``unappliedPaymentAmount``).
    unapplied_payment_amount: Decimal
    # Zero until subscriptions compute monthly recurring revenue.
    contracted_mrr: Decimal


def account_metrics(ctx: ServiceContext, account: Account) -> AccountMetrics:
    """Balances derived from posted invoices less what the ledger applied to them, and
    the unapplied money of settled payments from the ledger."""
    owed = from_minor(
        repository.posted_invoice_balance_minor(ctx.session, ctx.tenant_id, account.id),
        account.currency,
    )
    return AccountMetrics(
        currency=account.currency,
        balance=owed,
        total_invoice_balance=owed,
        credit_balance=from_minor(0, account.currency),
        unapplied_payment_amount=from_minor(
            ledger.account_credit_minor(ctx.session, ctx.tenant_id, account.id),
            account.currency,
        ),
        contracted_mrr=from_minor(0, account.currency),
    )


@dataclass(frozen=True, slots=True)
class SubscriptionSummary:
    subscription: Subscription
    rate_plans: list[SubscriptionRatePlan]


@dataclass(frozen=True, slots=True)
class PaidInvoice:
    invoice_id: int
    invoice_number: str
    applied_minor: int


@dataclass(frozen=True, slots=True)
class PaymentSummary:
    payment: Payment
    paid_invoices: list[PaidInvoice]


@dataclass(frozen=True, slots=True)
class AccountSummary:
    account: Account
    bill_to: Contact | None
    sold_to: Contact | None
    metrics: AccountMetrics
    last_invoice_date: date | None
    subscriptions: list[SubscriptionSummary]
    invoices: list[InvoiceRow]
    default_method: PaymentMethod | None = None
    # The newest payments first; the last payment is the newest one whose money arrived.
    payments: list[PaymentSummary] = field(default_factory=list)
    last_payment: Payment | None = None


def account_summary(ctx: ServiceContext, account: Account) -> AccountSummary:
    session, tenant_id = ctx.session, ctx.tenant_id
    subscriptions = repository.recent_subscriptions(session, tenant_id, account.id, SUMMARY_LIMIT)
    plans = repository.current_rate_plans(
        session, tenant_id, [s.id for s in subscriptions], ctx.clock.today()
    )
    bill_to, sold_to = contacts_of(ctx, account)
    newest = sorted(
        payments.account_payments(session, tenant_id, account.id),
        key=lambda p: (p.effective_date, p.id),
        reverse=True,
    )
    recent = newest[:SUMMARY_LIMIT]
    return AccountSummary(
        account=account,
        bill_to=bill_to,
        sold_to=sold_to,
        metrics=account_metrics(ctx, account),
        last_invoice_date=repository.last_posted_invoice_date(session, tenant_id, account.id),
        subscriptions=[
            SubscriptionSummary(s, [p for p in plans if p.subscription_id == s.id])
            for s in subscriptions
        ],
        invoices=repository.recent_invoices(session, tenant_id, account.id, SUMMARY_LIMIT),
        default_method=payment_methods.default_for_account(session, tenant_id, account.id),
        payments=_recent_payments(ctx, recent),
        last_payment=next((p for p in newest if p.status in SETTLED_STATUSES), None),
    )


def _recent_payments(ctx: ServiceContext, recent: list[Payment]) -> list[PaymentSummary]:
    applied = {p.id: ledger.payment_applications(ctx.session, ctx.tenant_id, p.id) for p in recent}
    numbers = repository.invoice_numbers(
        ctx.session, ctx.tenant_id, sorted({a[0] for rows in applied.values() for a in rows})
    )
    summaries = []
    for payment in recent:
        by_invoice: dict[int, int] = {}
        for invoice_id, _item, minor in applied[payment.id]:
            by_invoice[invoice_id] = by_invoice.get(invoice_id, 0) + minor
        summaries.append(
            PaymentSummary(
                payment=payment,
                paid_invoices=[
                    PaidInvoice(invoice_id, numbers.get(invoice_id, ""), minor)
                    for invoice_id, minor in by_invoice.items()
                    if minor
                ],
            )
        )
    return summaries


# -- creating --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewAccountRows:
    """A new account's validated rows, not written yet: the account's column values
    (no number), its contacts' (the bill-to first, the sold-to last) and the number the
    client chose (None: a generated one)."""

    values: dict[str, Any]
    contacts: list[dict[str, Any]]
    number: str | None


def create_account(ctx: ServiceContext, data: NewAccount) -> Account:
    rows = new_account_rows(ctx, data)
    values, contacts, number = rows.values, rows.contacts, rows.number
    # Statements per account: the account with its contacts (one on PostgreSQL; on
    # SQLite the number, the account, each contact and the account's contact ids).
    # On PostgreSQL the account.created event rides on that statement too (the outbox:
    # written exactly when the account is, one round trip for all three).
    riding = repository.writes_riding_events(ctx.session)
    account = (
        _insert_with_number(ctx, values, contacts, number, riding=riding)
        if number is not None
        else _insert_with_generated_number(ctx, values, contacts, riding=riding)
    )
    if not riding:
        events.emit(ctx, EventType.ACCOUNT_CREATED, account)
    return account


def new_account_rows(ctx: ServiceContext, data: NewAccount) -> NewAccountRows:
    """Every rule of :func:`create_account` that needs no database: the rows it writes.
    Reads nothing through ``ctx.session`` (the tenant's clock aside: see
    ``Runtime.remembered_context``)."""
    now = ctx.clock.now()
    name = _required_text(data.name, "name", Account, "name")
    currency = _currency(data.currency)
    if data.bill_cycle_day is None:
        raise MissingField("Missing required field: billCycleDay.", resource=ACCOUNT)
    bill_cycle_day = _bill_cycle_day(ctx, data.bill_cycle_day)
    batch = _batch(data.batch)
    payment_term = normalize_payment_term(data.payment_term or DEFAULT_PAYMENT_TERM)
    if data.status not in INITIAL_STATUSES:
        raise InvalidValue(
            f"Invalid value for status: '{data.status}'. A new account is Draft or Active.",
            resource=ACCOUNT,
            field="status",
        )
    crm_id = _optional_text(data.crm_id, "crmId", Account, "crm_id")
    notes = _notes(data.notes)
    bill_to_values = _contact_values(_contact_dict(data.bill_to_contact))
    sold_to_values = (
        _contact_values(_contact_dict(data.sold_to_contact))
        if data.sold_to_contact is not None
        else None
    )
    number = _chosen_number(data.account_number)
    values: dict[str, Any] = {
        "tenant_id": ctx.tenant_id,
        "name": name,
        "currency": currency,
        "bill_cycle_day": bill_cycle_day,
        "batch": batch,
        "payment_term": payment_term,
        "auto_pay": data.auto_pay,
        "status": data.status,
        "crm_id": crm_id,
        "notes": notes,
        "invoice_delivery_prefs_email": data.invoice_delivery_prefs_email,
        "created_at": now,
        "updated_at": now,
    }
    organization_id = _organization_of_new_account(ctx)
    if organization_id is not None:
        values["organization_id"] = organization_id
    # Zuora copies the bill-to contact into a sold-to contact of its own unless told
    # they are the same.
    contacts = [
        {**bill_to_values, "tenant_id": ctx.tenant_id, "created_at": now, "updated_at": now}
    ]
    if sold_to_values is not None or not data.sold_to_same_as_bill_to:
        copied = sold_to_values if sold_to_values is not None else bill_to_values
        contacts.append(
            {**copied, "tenant_id": ctx.tenant_id, "created_at": now, "updated_at": now}
        )
    for contact in contacts:
        contact.setdefault("sequence", 0)
    return NewAccountRows(values, contacts, number)


# What a new account's payload holds, in its column order (as events.payloads.snapshot
# reads the stored row): the values given, and the ids its statement draws.
_ACCOUNT_COLUMNS = tuple(attr.key for attr in sa_inspect(Account).column_attrs)
_DRAWN = ("id", "bill_to_contact_id", "sold_to_contact_id")


def _created_event(ctx: ServiceContext, values: dict[str, Any]) -> events.RidingEvent:
    row = {key: values.get(key, 0) for key in _ACCOUNT_COLUMNS if key in values or key in _DRAWN}
    return events.riding_event(ctx, EventType.ACCOUNT_CREATED, row, _DRAWN)


def _insert(
    ctx: ServiceContext, values: dict[str, Any], contacts: list[dict[str, Any]], riding: bool
) -> Account | None:
    return repository.insert_account_with_contacts(
        ctx.session, values, contacts, _created_event(ctx, values) if riding else None
    )


def _insert_with_number(
    ctx: ServiceContext,
    values: dict[str, Any],
    contacts: list[dict[str, Any]],
    number: str,
    *,
    riding: bool,
) -> Account:
    account = _insert(ctx, {**values, "account_number": number}, contacts, riding)
    if account is None:
        raise InvalidValue(
            f"An account with number {number} already exists.",
            resource=ACCOUNT,
            field="accountNumber",
        )
    return account


def _insert_with_generated_number(
    ctx: ServiceContext, values: dict[str, Any], contacts: list[dict[str, Any]], *, riding: bool
) -> Account:
    # Numbers imported before the reserved-prefix rule could occupy a generated value:
    # such a number is skipped (the insert answers None) and the next one tried.
    for _ in range(1000):
        # On PostgreSQL the number comes from a block this process reserved in a
        # transaction of its own (accounts.numbers), so concurrent creations do not
        # queue on the tenant's number row until each other's commit.
        number = account_numbers.next_number(ctx)
        account = _insert(ctx, {**values, "account_number": number}, contacts, riding)
        if account is not None:
            return account
    raise RuleViolation("Could not allocate an account number.", resource=ACCOUNT)


@dataclass(frozen=True, slots=True)
class OneStatementCreate:
    """An account create that :func:`create_in_one_statement` can write: the context
    its rules ran in (the tenant's remembered clock; nothing read) and its rows."""

    ctx: ServiceContext
    rows: NewAccountRows


def one_statement_create(
    runtime: Runtime,
    tenant_id: int,
    org_ids: frozenset[int] | None,
    data: NewAccount,
    payment: AccountPaymentSetup,
) -> OneStatementCreate | None:
    """Whether an account create can be written as ONE statement
    (:func:`create_in_one_statement`), and if so its context and rows; None when it
    cannot, and the caller runs the ordinary unit of work. Only on PostgreSQL (the
    statement is PostgreSQL's), only for an account without a payment method, default
    method, gateway or autopay (those read and write other domains' rows, and a card may
    be tokenized at a gateway), only while the tenant's clock is remembered
    (``Runtime.remembered_context``: the rules then read nothing), and only when every
    rule holds: a create that breaks one goes the ordinary way, which answers the error
    after checking the caller's token. (Whether a reserved number is left is known only
    when writing: :func:`create_in_one_statement` answers None then.)"""
    if (
        runtime.engine.dialect.name != "postgresql"
        or payment.new_method is not None
        or payment.default_method_id is not None
        or payment.gateway_name not in (None, UNSET)
        or data.auto_pay
    ):
        return None
    ctx = runtime.remembered_context(tenant_id, org_ids)
    if ctx is None:
        return None
    try:
        rows = new_account_rows(ctx, data)
    except DomainError:
        return None
    return OneStatementCreate(ctx, rows)


async def create_in_one_statement(
    ctx: ServiceContext,
    rows: NewAccountRows,
    statements: LoopStatements,
    audit: dict[str, Any],
    client: tuple[int, str, int],
) -> Account | None:
    """PostgreSQL: :func:`create_account` of ``rows`` (:func:`new_account_rows`) as ONE
    statement in autocommit, sent by the event loop (``db.loop_writes``): the account,
    its contacts, its event and the request's audit row (``audit``:
    ``audit.service.riding_values``), written only while the token's ``client`` (its
    tenant, client id, generation) holds (a stale token raises ``NotAuthenticated`` and
    nothing is written). The account as written (not in any session), or None when this
    process has no reserved account number left: the caller then creates it the ordinary
    way (:func:`create_account`, which reserves the next block)."""
    engine = ctx.session.get_bind()
    if not isinstance(engine, Engine):
        return None
    for _ in range(1000):
        number = rows.number or account_numbers.reserved_number(engine, ctx.tenant_id)
        if number is None:
            return None
        values = {**rows.values, "account_number": number}
        statement, params = repository.account_unit(
            values, rows.contacts, _created_event(ctx, values), audit, client
        )
        found = await statements.first(statement, params)
        check_generation(found[0], client[2])
        if found[1] is not None:
            return Account(
                id=found[1], bill_to_contact_id=found[2], sold_to_contact_id=found[3], **values
            )
        if rows.number is not None:
            raise InvalidValue(
                f"An account with number {number} already exists.",
                resource=ACCOUNT,
                field="accountNumber",
            )
    raise RuleViolation("Could not allocate an account number.", resource=ACCOUNT)


def _chosen_number(number: str | None) -> str | None:
    if number is None:
        return None
    number = _required_text(number, "accountNumber", Account, "account_number")
    if "/" in number or not number.isprintable():
        raise InvalidValue(
            "Invalid value for accountNumber: it may not contain '/' or control characters.",
            resource=ACCOUNT,
            field="accountNumber",
        )
    if _GENERATED_LOOKING.match(number):
        raise InvalidValue(
            f"Invalid value for accountNumber: '{number}' uses the prefix '{_NUMBER_PREFIX}' "
            "followed by digits, which is reserved for generated account numbers.",
            resource=ACCOUNT,
            field="accountNumber",
        )
    return number


def _new_contact(ctx: ServiceContext, account: Account, values: dict[str, Any]) -> Contact:
    now = ctx.clock.now()
    contact = Contact(
        tenant_id=ctx.tenant_id, account_id=account.id, created_at=now, updated_at=now, **values
    )
    ctx.session.add(contact)
    ctx.session.flush()
    return contact


# -- updating --------------------------------------------------------------------------


def update_account(ctx: ServiceContext, account: Account, changes: AccountChanges) -> Account:
    """Apply a patch; every check runs before anything changes."""
    locked = repository.lock_account(ctx.session, ctx.tenant_id, account.id)
    if locked is None:
        raise NotFound(f"Account {account.account_number} does not exist.", resource=ACCOUNT)
    account = locked
    values: dict[str, Any] = {}
    if changes.name is not UNSET:
        values["name"] = _required_text(changes.name, "name", Account, "name")
    if changes.currency is not UNSET:
        currency = _currency(changes.currency)
        if currency != account.currency and _has_billing_history(ctx, account):
            raise RuleViolation(
                "The currency of an account cannot change once it has invoices or subscriptions.",
                resource=ACCOUNT,
                field="currency",
            )
        values["currency"] = currency
    if changes.bill_cycle_day is not UNSET:
        if changes.bill_cycle_day == 0 and repository.has_subscriptions(
            ctx.session, ctx.tenant_id, account.id, status=SubscriptionStatus.ACTIVE
        ):
            raise RuleViolation(
                "billCycleDay 0 (auto-set) is only allowed while the account has no active "
                "subscriptions.",
                resource=ACCOUNT,
                field="billCycleDay",
            )
        values["bill_cycle_day"] = _bill_cycle_day(ctx, changes.bill_cycle_day)
    if changes.batch is not UNSET:
        values["batch"] = _batch(changes.batch)
    if changes.payment_term is not UNSET:
        values["payment_term"] = normalize_payment_term(changes.payment_term)
    if changes.auto_pay is not UNSET:
        values["auto_pay"] = changes.auto_pay
    if changes.status is not UNSET and changes.status != account.status:
        _check_transition(account.status, changes.status)
        values["status"] = changes.status
    if changes.crm_id is not UNSET:
        values["crm_id"] = _optional_text(changes.crm_id, "crmId", Account, "crm_id")
    if changes.notes is not UNSET:
        values["notes"] = _notes(changes.notes)
    if changes.invoice_delivery_prefs_email is not UNSET:
        values["invoice_delivery_prefs_email"] = changes.invoice_delivery_prefs_email
    bill_to, sold_to = contacts_of(ctx, account)
    bill_to_values = (
        _contact_patch(bill_to, changes.bill_to_contact)
        if changes.bill_to_contact is not UNSET
        else None
    )
    sold_to_values = (
        _contact_patch(sold_to, changes.sold_to_contact)
        if changes.sold_to_contact is not UNSET
        else None
    )

    now = ctx.clock.now()
    for key, value in values.items():
        setattr(account, key, value)
    if bill_to_values is not None:
        bill_to = _write_contact(ctx, account, bill_to, bill_to_values)
        account.bill_to_contact_id = bill_to.id
    if sold_to_values is not None:
        shared = sold_to is not None and sold_to is bill_to
        # A shared contact is split off: changing the sold-to leaves the bill-to alone.
        sold_to = _write_contact(ctx, account, None if shared else sold_to, sold_to_values)
        account.sold_to_contact_id = sold_to.id
    account.updated_at = now
    ctx.session.flush()
    events.emit(ctx, EventType.ACCOUNT_UPDATED, account)
    return account


def _has_billing_history(ctx: ServiceContext, account: Account) -> bool:
    return repository.has_invoices(
        ctx.session, ctx.tenant_id, account.id
    ) or repository.has_subscriptions(ctx.session, ctx.tenant_id, account.id)


def _check_transition(current: str, requested: str) -> None:
    if requested not in frozenset(AccountStatus):
        raise InvalidValue(
            f"Invalid value for status: '{requested}'. Use one of {', '.join(AccountStatus)}.",
            resource=ACCOUNT,
            field="status",
        )
    if (current, requested) not in TRANSITIONS:
        raise RuleViolation(
            f"An account cannot go from {current} to {requested}.",
            resource=ACCOUNT,
            field="status",
        )


def _contact_patch(existing: Contact | None, changes: ContactChanges) -> dict[str, Any]:
    """The contact's full validated values once ``changes`` are applied."""
    merged = _contact_dict(existing) if existing is not None else {}
    merged.update(changes.given())
    return _contact_values(merged)


def _write_contact(
    ctx: ServiceContext, account: Account, contact: Contact | None, values: dict[str, Any]
) -> Contact:
    if contact is None:
        return _new_contact(ctx, account, values)
    for key, value in values.items():
        setattr(contact, key, value)
    contact.updated_at = ctx.clock.now()
    return contact


# -- deleting --------------------------------------------------------------------------


def delete_account(ctx: ServiceContext, account: Account) -> None:
    """Delete an account with its drafts, subscriptions and contacts.

    Refused once money has been billed or recorded: posted invoices and ledger entries are
    the books and must stay.
    """
    locked = repository.lock_account(ctx.session, ctx.tenant_id, account.id)
    if locked is None:
        raise NotFound(f"Account {account.account_number} does not exist.", resource=ACCOUNT)
    if repository.has_posted_invoices(ctx.session, ctx.tenant_id, locked.id):
        raise RuleViolation(
            f"Account {locked.account_number} has posted invoices and cannot be deleted.",
            resource=ACCOUNT,
        )
    if repository.has_ledger_entries(ctx.session, ctx.tenant_id, locked.id):
        raise RuleViolation(
            f"Account {locked.account_number} has payments, credits or write-offs and cannot "
            "be deleted.",
            resource=ACCOUNT,
        )
    repository.delete_account_cascade(ctx.session, ctx.tenant_id, locked.id)


# -- validation helpers ----------------------------------------------------------------


def _column_length(model: type[Any], column: str) -> int | None:
    length = getattr(model.__table__.c[column].type, "length", None)
    return length if isinstance(length, int) else None


def _optional_text(value: str | None, field: str, model: type[Any], column: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    limit = _column_length(model, column)
    if limit is not None and len(value) > limit:
        raise InvalidValue(
            f"Invalid value for {field}: at most {limit} characters are allowed.",
            resource=CONTACT if model is Contact else ACCOUNT,
            field=field,
        )
    return value


def _required_text(value: str | None, field: str, model: type[Any], column: str) -> str:
    text = _optional_text(value, field, model, column)
    if text is None:
        raise MissingField(
            f"Missing required field: {field}.",
            resource=CONTACT if model is Contact else ACCOUNT,
            field=field,
        )
    return text


def _currency(code: str) -> str:
    try:
        return normalize_currency(code)
    except DomainError as exc:
        raise InvalidValue(exc.message, resource=ACCOUNT, field="currency") from exc


def _bill_cycle_day(ctx: ServiceContext, day: int) -> int:
    """1-31 as given; 0 is Zuora's auto-set, stored as today's day of the month."""
    if day == 0:
        return ctx.clock.today().day
    if not 1 <= day <= 31:
        raise InvalidValue(
            f"Invalid value for billCycleDay: {day}. Use 1 to 31, or 0 for auto-set.",
            resource=ACCOUNT,
            field="billCycleDay",
        )
    return day


def _batch(batch: int) -> int:
    if not 1 <= batch <= MAX_BATCH:
        raise InvalidValue(
            f"Invalid value for batch: Batch{batch}. Use Batch1 to Batch{MAX_BATCH}.",
            resource=ACCOUNT,
            field="batch",
        )
    return batch


def _notes(notes: str | None) -> str | None:
    if notes is None:
        return None
    if len(notes) > MAX_NOTES:
        raise InvalidValue(
            f"Invalid value for notes: at most {MAX_NOTES} characters are allowed.",
            resource=ACCOUNT,
            field="notes",
        )
    return notes or None


def _contact_dict(contact: ContactInput | Contact) -> dict[str, Any]:
    return {name: getattr(contact, name) for name in ContactInput.__dataclass_fields__}


def _contact_values(raw: dict[str, Any]) -> dict[str, Any]:
    """Validated column values for a contact, from a full set of ContactInput fields."""
    values: dict[str, Any] = {}
    for name in ContactInput.__dataclass_fields__:
        wire = _CONTACT_WIRE_NAMES.get(name, name)
        if name in ("first_name", "last_name"):
            values[name] = _required_text(raw.get(name), wire, Contact, name)
        else:
            values[name] = _optional_text(raw.get(name), wire, Contact, name)
    for name in _EMAIL_FIELDS:
        email = values[name]
        if email is not None and not _EMAIL.match(email):
            raise InvalidValue(
                f"Invalid value for {_CONTACT_WIRE_NAMES[name]}: '{email}' is not an email "
                "address.",
                resource=CONTACT,
                field=_CONTACT_WIRE_NAMES[name],
            )
    if values["country"] is not None:
        values["country"] = _country(values["country"])
    return values


def _country(value: str) -> str:
    """Zuora accepts a country's name or ISO code and stores the name."""
    try:
        country = pycountry.countries.lookup(value)
    except LookupError as exc:
        raise InvalidValue(
            f"Invalid value for country: '{value}' is not a country name or ISO code.",
            resource=CONTACT,
            field="country",
        ) from exc
    name: str = country.name
    return name
