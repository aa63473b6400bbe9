"""All SQL for accounts and contacts, and the account-level reads over invoices,
subscriptions and the ledger (balances, summaries).

``get_account`` and ``find_account_by_key`` are used by subscriptions, invoices and the
Fusebill dialect: keep their signatures stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    JSON,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.selectable import ScalarSelect

from billcycle.accounts.models import Account, Contact
from billcycle.audit.repository import riding_audit_event
from billcycle.collections.models import CollectionEvent
from billcycle.events.models import Event
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger.models import LedgerEntry
from billcycle.payments.models import Payment
from billcycle.subscriptions.models import (
    Subscription,
    SubscriptionCharge,
    SubscriptionChargeTier,
    SubscriptionRatePlan,
)
from billcycle.tenancy.repository import client_generation_column

if TYPE_CHECKING:
    from billcycle.events.service import RidingEvent


def get_account(session: Session, tenant_id: int, account_id: int) -> Account | None:
    return session.scalars(
        select(Account).where(Account.tenant_id == tenant_id, Account.id == account_id)
    ).first()


def accounts_by_id(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> dict[int, Account]:
    found: dict[int, Account] = {}
    ordered = sorted(set(account_ids))
    for start in range(0, len(ordered), 500):
        for account in session.scalars(
            select(Account).where(
                Account.tenant_id == tenant_id, Account.id.in_(ordered[start : start + 500])
            )
        ):
            found[account.id] = account
    return found


def find_account_by_key(
    session: Session, tenant_id: int, *, account_id: int | None, number: str
) -> Account | None:
    """Zuora's account-key: the id (already parsed from hex) or the account number."""
    if account_id is not None:
        found = get_account(session, tenant_id, account_id)
        if found is not None:
            return found
    return session.scalars(
        select(Account).where(Account.tenant_id == tenant_id, Account.account_number == number)
    ).first()


def lock_account(session: Session, tenant_id: int, account_id: int) -> Account | None:
    """The account under a row lock (PostgreSQL), so checks and changes see one state."""
    return session.scalars(
        select(Account)
        .where(Account.tenant_id == tenant_id, Account.id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


# Per dialect: INSERT ... ON CONFLICT (tenant_id, account_number) DO NOTHING RETURNING id.
_ACCOUNT_INSERTS: dict[str, Any] = {}


def insert_account(session: Session, values: dict[str, Any]) -> Account | None:
    """Insert an account from its column values (all but the id and the contact ids);
    the object, persistent in the session as if flushed, or None when its number is
    already taken in the tenant.

    One statement instead of a check and an insert: a number taken before, or by a
    concurrent request (PostgreSQL waits for that transaction, SQLite has one writer),
    answers None the same way, and nothing fails that the unit of work must roll back.
    Core, not the ORM's bulk insert (which cost four times the statement): the session
    adopts an object holding exactly the values just stored, without reading it back.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    statement = _ACCOUNT_INSERTS.get(dialect)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = _ACCOUNT_INSERTS[dialect] = (
            insert(Account)
            .on_conflict_do_nothing(index_elements=["tenant_id", "account_number"])
            .returning(Account.id)
        )
    account_id = connection.execute(statement, values).scalar()
    if account_id is None:
        return None
    account = Account(id=account_id, bill_to_contact_id=None, sold_to_contact_id=None, **values)
    make_transient_to_detached(account)  # its attributes now read as stored, unchanged
    session.add(account)
    return account


# Run on the session's connection, as Core statements.
_CONTACT_INSERT = insert(Contact).returning(Contact.id, sort_by_parameter_order=True)
_SET_CONTACTS = (
    update(Account)
    .where(Account.id == bindparam("account"))
    .values(bill_to_contact_id=bindparam("bill_to"), sold_to_contact_id=bindparam("sold_to"))
)


def insert_contacts(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert contacts (column values, the same keys in every row); their ids, in order.

    Core, not the ORM's unit of work (nothing reads these rows back as objects in the
    request): one INSERT on PostgreSQL, one per row on SQLite.

    Tenant: every row carries the caller's ``tenant_id`` value.
    """
    return list(session.connection().execute(_CONTACT_INSERT, rows).scalars())


def set_contacts(session: Session, account: Account, bill_to_id: int, sold_to_id: int) -> None:
    """Point the account at its contacts (one UPDATE); the object shows the new ids as
    already stored, so no flush writes them again.

    Tenant: ``account`` was loaded under the caller's tenant.
    """
    session.connection().execute(
        _SET_CONTACTS, {"account": account.id, "bill_to": bill_to_id, "sold_to": sold_to_id}
    )
    set_committed_value(account, "bill_to_contact_id", bill_to_id)
    set_committed_value(account, "sold_to_contact_id", sold_to_id)


# PostgreSQL: the account and its contacts in one statement, by the sorted keys of the
# account's values and the number of contacts (1 or 2).
_ACCOUNT_WITH_CONTACTS: dict[
    tuple[tuple[str, ...], tuple[str, ...], int, tuple[str, ...] | None, bool], Any
] = {}
_EVENT_KEYS = ("tenant_id", "event_id", "type", "object_type", "occurred_at", "fanned_out")


def _account_with_contacts_statement(
    account_keys: tuple[str, ...],
    contact_keys: tuple[str, ...],
    contacts: int,
    event_columns: tuple[str, ...] | None = None,
    *,
    whole_unit: bool = False,
) -> Any:
    """``WITH ids AS (nextval of the contacts' sequence, once a contact),
    a AS (INSERT INTO accounts ... ON CONFLICT DO NOTHING RETURNING ...),
    c AS (INSERT INTO contacts ... SELECT ... FROM a) SELECT a.id FROM a``.

    The contact ids come from their sequence before either row exists: the account
    holds them at once (no UPDATE afterwards), and the contacts' foreign key to the
    account is checked at the statement's end, when the account exists. A number taken
    inserts nothing (``a`` and so ``c`` are empty) and draws two contact ids for nothing.

    With ``event_columns`` (the account's columns its payload holds, in the order of the
    payload's text: ``events.service.RidingEvent``), ``e AS (INSERT INTO events ...
    SELECT ... FROM a)`` writes its event too, its payload spliced around them.

    ``whole_unit`` (see :func:`account_unit`): the contact ids are drawn only while the
    token's client holds its generation (so nothing is written otherwise), the request's
    audit row is written too, and the one row answered carries the client's generation.
    """
    key = (account_keys, contact_keys, contacts, event_columns, whole_unit)
    statement = _ACCOUNT_WITH_CONTACTS.get(key)
    if statement is not None:
        return statement
    accounts = cast(Table, Account.__table__)
    contact_table = cast(Table, Contact.__table__)
    sequence: ColumnClause[Any] = literal_column(f"'{contact_table.name}_id_seq'::regclass")
    drawn = [func.nextval(sequence).label(f"contact_{n}") for n in range(contacts)]
    generation = client_generation_column()
    ids = (
        select(*drawn).where(generation == bindparam("client_generation")).cte("ids")
        if whole_unit
        else select(*drawn).cte("ids")
    )
    bill_to, sold_to = ids.c.contact_0, ids.c[f"contact_{contacts - 1}"]
    account_binds = [bindparam(f"a_{k}", type_=accounts.c[k].type) for k in account_keys]
    new_account = (
        postgresql.insert(accounts)
        .from_select(
            [*account_keys, "bill_to_contact_id", "sold_to_contact_id"],
            select(*account_binds, bill_to, sold_to),
            include_defaults=False,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "account_number"])
        .returning(accounts.c.id, accounts.c.bill_to_contact_id, accounts.c.sold_to_contact_id)
        .cte("a")
    )
    rows = [
        select(
            new_account.c[column],
            new_account.c.id,
            *[bindparam(f"c{n}_{k}", type_=contact_table.c[k].type) for k in contact_keys],
        )
        for n, column in enumerate(["bill_to_contact_id", "sold_to_contact_id"][:contacts])
    ]
    new_contacts = (
        insert(contact_table)
        .from_select(
            ["id", "account_id", *contact_keys],
            union_all(*rows) if len(rows) > 1 else rows[0],
            include_defaults=False,
        )
        .cte("c")
    )
    statement = select(
        new_account.c.id, new_account.c.bill_to_contact_id, new_account.c.sold_to_contact_id
    ).add_cte(new_contacts)
    if whole_unit:
        # One row whatever happened: the client's generation, and the account's ids
        # (NULL when nothing was written: a stale token or a number taken).
        statement = select(
            generation.label("generation"),
            *[
                select(new_account.c[column]).scalar_subquery().label(column)
                for column in ("id", "bill_to_contact_id", "sold_to_contact_id")
            ],
        ).add_cte(new_contacts)
        # The request's audit row, about the account's id as the answer shows it
        # (ids.to_zuora_id: 32 lowercase hex digits).
        shown_id = func.lpad(func.to_hex(new_account.c.id), 32, "0")
        statement = statement.add_cte(riding_audit_event(new_account, shown_id))
    if event_columns is not None:
        statement = statement.add_cte(_riding_event(new_account, event_columns))
    _ACCOUNT_WITH_CONTACTS[key] = statement
    return statement


def account_unit(
    values: dict[str, Any],
    contacts: list[dict[str, Any]],
    event: RidingEvent,
    audit: dict[str, Any],
    client: tuple[int, str, int],
) -> tuple[Any, dict[str, Any]]:
    """PostgreSQL: a whole account create as ONE statement and its parameters, for a
    connection in autocommit (no BEGIN, no COMMIT: one round trip in all). The statement
    writes the account, its contacts, its event (see :func:`insert_account_with_contacts`)
    and the request's audit row (``audit``: ``audit.repository.riding_audit_event``'s
    values, about the new account's id) only if the token's ``client`` (its tenant, client
    id, generation) still holds, and answers one row: the client's current generation
    (None: it is gone) and the account's id, bill-to and sold-to contact ids (None when
    nothing was written: a stale token, or the number is taken).

    Tenant: ``values``, every contact row, ``event`` and ``audit`` carry the caller's
    ``tenant_id``; the client's own tenant is ``client[0]``."""
    statement = _account_with_contacts_statement(
        tuple(sorted(values)),
        tuple(sorted(contacts[0])),
        len(contacts),
        event.columns,
        whole_unit=True,
    )
    params = {f"a_{k}": v for k, v in values.items()}
    for n, row in enumerate(contacts):
        params.update({f"c{n}_{k}": v for k, v in row.items()})
    params.update({f"e_{k}": event.values[k] for k in _EVENT_KEYS})
    params.update({f"e_p{n}": part for n, part in enumerate(event.parts)})
    params.update({f"au_{k}": v for k, v in audit.items()})
    params.update(
        {"client_tenant_id": client[0], "client_id": client[1], "client_generation": client[2]}
    )
    return statement, params


def _riding_event(new_account: Any, columns: tuple[str, ...]) -> Any:
    """``INSERT INTO events ... SELECT ... FROM a``: the event bound as ``e_<column>``,
    its payload ``e_p0 || a.<columns[0]> || e_p1 || ...`` as JSON, about ``a.id``."""
    events = cast(Table, Event.__table__)
    payload: Any = bindparam("e_p0", type_=Text)
    for n, column in enumerate(columns, start=1):
        payload = payload.concat(cast_(new_account.c[column], Text)).concat(
            bindparam(f"e_p{n}", type_=Text)
        )
    return (
        insert(events)
        .from_select(
            [*_EVENT_KEYS, "object_id", "payload"],
            select(
                *[bindparam(f"e_{k}", type_=events.c[k].type) for k in _EVENT_KEYS],
                new_account.c.id,
                cast_(payload, JSON),
            ),
            include_defaults=False,
        )
        .cte("e")
    )


def insert_account_with_contacts(
    session: Session,
    values: dict[str, Any],
    contacts: list[dict[str, Any]],
    event: RidingEvent | None = None,
) -> Account | None:
    """:func:`insert_account`, :func:`insert_contacts` and :func:`set_contacts`: on
    PostgreSQL in ONE statement (one round trip instead of three; SQLite, in process,
    runs the three). The contacts' rows carry neither ``account_id`` nor ``id``.
    The account, persistent in the session as if flushed, pointing at its contacts
    (the first is its bill-to, the last its sold-to), or None when its number is taken.
    On PostgreSQL ``event`` (the account's, from ``events.service.riding_event``) is
    written by the same statement, exactly when the account is; on SQLite it is left to
    the caller (see :func:`writes_riding_events`).

    Tenant: ``values``, every contact row and ``event`` carry the caller's ``tenant_id``.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        account = insert_account(session, values)
        if account is not None:
            rows = [{**row, "account_id": account.id} for row in contacts]
            ids = insert_contacts(session, rows)
            set_contacts(session, account, ids[0], ids[-1])
        return account
    account_keys = tuple(sorted(values))
    contact_keys = tuple(sorted(contacts[0]))
    statement = _account_with_contacts_statement(
        account_keys, contact_keys, len(contacts), event.columns if event is not None else None
    )
    params = {f"a_{k}": v for k, v in values.items()}
    for n, row in enumerate(contacts):
        params.update({f"c{n}_{k}": v for k, v in row.items()})
    if event is not None:
        params.update({f"e_{k}": event.values[k] for k in _EVENT_KEYS})
        params.update({f"e_p{n}": part for n, part in enumerate(event.parts)})
    found = connection.execute(statement, params).first()
    if found is None:
        return None
    account = Account(
        id=found[0], bill_to_contact_id=found[1], sold_to_contact_id=found[2], **values
    )
    make_transient_to_detached(account)  # its attributes now read as stored, unchanged
    session.add(account)
    return account


def writes_riding_events(session: Session) -> bool:
    """Whether :func:`insert_account_with_contacts` writes the account's event itself
    (PostgreSQL: one statement; on SQLite, in process, the caller emits it)."""
    return session.get_bind().dialect.name == "postgresql"


def get_contact(session: Session, tenant_id: int, contact_id: int | None) -> Contact | None:
    if contact_id is None:
        return None
    return session.scalars(
        select(Contact).where(Contact.tenant_id == tenant_id, Contact.id == contact_id)
    ).first()


def has_invoices(session: Session, tenant_id: int, account_id: int) -> bool:
    return bool(
        session.scalar(
            select(exists().where(Invoice.tenant_id == tenant_id, Invoice.account_id == account_id))
        )
    )


def has_posted_invoices(session: Session, tenant_id: int, account_id: int) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    Invoice.tenant_id == tenant_id,
                    Invoice.account_id == account_id,
                    Invoice.status == InvoiceStatus.POSTED,
                )
            )
        )
    )


def has_ledger_entries(session: Session, tenant_id: int, account_id: int) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    LedgerEntry.tenant_id == tenant_id, LedgerEntry.account_id == account_id
                )
            )
        )
    )


def has_subscriptions(
    session: Session, tenant_id: int, account_id: int, *, status: str | None = None
) -> bool:
    conditions = [Subscription.tenant_id == tenant_id, Subscription.account_id == account_id]
    if status is not None:
        conditions.append(Subscription.status == status)
    return bool(session.scalar(select(exists().where(*conditions))))


def _applied_to_invoice_minor(tenant_id: int) -> ScalarSelect[Any]:
    """Correlated sum of what the ledger applied to the outer query's invoice."""
    return (
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.invoice_id == Invoice.id)
        .correlate(Invoice)
        .scalar_subquery()
    )


def posted_invoice_balance_minor(session: Session, tenant_id: int, account_id: int) -> int:
    """Sum over the account's posted invoices of amount less ledger applications."""
    invoiced = (
        select(func.coalesce(func.sum(Invoice.amount_minor), 0))
        .where(
            Invoice.tenant_id == tenant_id,
            Invoice.account_id == account_id,
            Invoice.status == InvoiceStatus.POSTED,
        )
        .scalar_subquery()
    )
    applied = (
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .join(Invoice, Invoice.id == LedgerEntry.invoice_id)
        .where(
            LedgerEntry.tenant_id == tenant_id,
            Invoice.tenant_id == tenant_id,
            Invoice.account_id == account_id,
            Invoice.status == InvoiceStatus.POSTED,
        )
        .scalar_subquery()
    )
    return int(session.scalar(select(invoiced - applied)) or 0)


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    id: int
    invoice_number: str
    status: str
    invoice_date: date
    due_date: date
    currency: str
    amount_minor: int
    balance_minor: int


def recent_invoices(
    session: Session, tenant_id: int, account_id: int, limit: int
) -> list[InvoiceRow]:
    """The account's latest non-draft invoices with their balances, newest first.

    A cancelled invoice owes nothing, so its balance is zero whatever the ledger says.
    """
    applied = _applied_to_invoice_minor(tenant_id)
    rows = session.execute(
        select(
            Invoice.id,
            Invoice.invoice_number,
            Invoice.status,
            Invoice.invoice_date,
            Invoice.due_date,
            Invoice.currency,
            Invoice.amount_minor,
            applied,
        )
        .where(
            Invoice.tenant_id == tenant_id,
            Invoice.account_id == account_id,
            Invoice.status != InvoiceStatus.DRAFT,
        )
        .order_by(Invoice.invoice_date.desc(), Invoice.id.desc())
        .limit(limit)
    ).all()
    return [
        InvoiceRow(
            id=row[0],
            invoice_number=row[1],
            status=row[2],
            invoice_date=row[3],
            due_date=row[4],
            currency=row[5],
            amount_minor=row[6],
            balance_minor=row[6] - int(row[7]) if row[2] == InvoiceStatus.POSTED else 0,
        )
        for row in rows
    ]


def last_posted_invoice_date(session: Session, tenant_id: int, account_id: int) -> date | None:
    return session.scalar(
        select(func.max(Invoice.invoice_date)).where(
            Invoice.tenant_id == tenant_id,
            Invoice.account_id == account_id,
            Invoice.status == InvoiceStatus.POSTED,
        )
    )


def recent_subscriptions(
    session: Session, tenant_id: int, account_id: int, limit: int
) -> list[Subscription]:
    """The account's most recently updated subscriptions (Zuora's summary shows six)."""
    return list(
        session.scalars(
            select(Subscription)
            .where(Subscription.tenant_id == tenant_id, Subscription.account_id == account_id)
            .order_by(Subscription.updated_at.desc(), Subscription.id.desc())
            .limit(limit)
        )
    )


def current_rate_plans(
    session: Session, tenant_id: int, subscription_ids: list[int], today: date
) -> list[SubscriptionRatePlan]:
    """Rate plans not removed as of ``today``, for several subscriptions in one query."""
    if not subscription_ids:
        return []
    return list(
        session.scalars(
            select(SubscriptionRatePlan)
            .where(
                SubscriptionRatePlan.tenant_id == tenant_id,
                SubscriptionRatePlan.subscription_id.in_(subscription_ids),
                or_(
                    SubscriptionRatePlan.removed_date.is_(None),
                    SubscriptionRatePlan.removed_date > today,
                ),
            )
            .order_by(SubscriptionRatePlan.id)
        )
    )


def delete_account_cascade(session: Session, tenant_id: int, account_id: int) -> None:
    """Delete the account and everything hanging off it, children first.

    Spelled out rather than left to ON DELETE CASCADE because some links (invoice items to
    subscription charges, charges to the account) have no cascade, and tables added later
    should not silently change what a delete removes. Payments and collections events
    have no foreign key to the account at all (a payment run writes one of each a
    payment and the check cost as much as the insert: migration 0044_pgfk_fewer_fk_checks),
    so only this delete keeps them from outliving it; a payment's own children (pending
    applications, refunds) still go with it by their cascade.
    """
    account_invoices = select(Invoice.id).where(
        Invoice.tenant_id == tenant_id, Invoice.account_id == account_id
    )
    account_subscriptions = select(Subscription.id).where(
        Subscription.tenant_id == tenant_id, Subscription.account_id == account_id
    )
    account_charges = select(SubscriptionCharge.id).where(
        SubscriptionCharge.tenant_id == tenant_id,
        or_(
            SubscriptionCharge.account_id == account_id,
            SubscriptionCharge.subscription_id.in_(account_subscriptions),
        ),
    )
    statements = [
        delete(InvoiceItem).where(
            InvoiceItem.tenant_id == tenant_id,
            or_(
                InvoiceItem.invoice_id.in_(account_invoices),
                InvoiceItem.subscription_id.in_(account_subscriptions),
            ),
        ),
        delete(LedgerEntry).where(
            LedgerEntry.tenant_id == tenant_id, LedgerEntry.account_id == account_id
        ),
        delete(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.account_id == account_id),
        delete(SubscriptionChargeTier).where(
            SubscriptionChargeTier.tenant_id == tenant_id,
            SubscriptionChargeTier.subscription_charge_id.in_(account_charges),
        ),
        delete(SubscriptionCharge).where(SubscriptionCharge.id.in_(account_charges)),
        delete(SubscriptionRatePlan).where(
            SubscriptionRatePlan.tenant_id == tenant_id,
            SubscriptionRatePlan.subscription_id.in_(account_subscriptions),
        ),
        delete(Subscription).where(
            Subscription.tenant_id == tenant_id, Subscription.account_id == account_id
        ),
        delete(Contact).where(Contact.tenant_id == tenant_id, Contact.account_id == account_id),
        delete(Payment).where(Payment.tenant_id == tenant_id, Payment.account_id == account_id),
        delete(CollectionEvent).where(
            CollectionEvent.tenant_id == tenant_id, CollectionEvent.account_id == account_id
        ),
        delete(Account).where(and_(Account.tenant_id == tenant_id, Account.id == account_id)),
    ]
    for statement in statements:
        session.execute(statement)


def invoice_numbers(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> dict[int, str]:
    """Invoice id -> number, for the invoices a summary's payments were applied to."""
    if not invoice_ids:
        return {}
    rows = session.execute(
        select(Invoice.id, Invoice.invoice_number).where(
            Invoice.tenant_id == tenant_id, Invoice.id.in_(list(invoice_ids))
        )
    ).all()
    return {row[0]: row[1] for row in rows}
