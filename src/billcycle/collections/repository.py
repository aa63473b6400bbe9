"""All SQL of collections: the policy rows, the accounts' dunning rows, the events, and
the set-based reads the daily evaluation makes (overdue invoices per tenant)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    String,
    Table,
    Text,
    TextClause,
    and_,
    bindparam,
    case,
    column,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
    type_coerce,
    union,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from billcycle.accounts.models import Account, Contact
from billcycle.collections.models import CollectionAccount, CollectionEvent, CollectionPolicyRow
from billcycle.collections.statuses import AccountStanding, CollectionEventType
from billcycle.db.bulk import (
    PG_JSON_ROWS_NUMBERED,
    is_postgres,
    json_text,
    sqlite_storage_value,
)
from billcycle.db.types import UtcDateTime
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import repository as ledger_repo
from billcycle.ledger.models import LedgerEntry
from billcycle.ledger.open_balances_repository import ALL as OPEN_IN_ALL_BUCKETS
from billcycle.ledger.open_balances_repository import OpenAccountBalance
from billcycle.payments.models import Payment
from billcycle.payments.statuses import PaymentStatus
from billcycle.subscriptions.models import Subscription
from billcycle.subscriptions.statuses import SubscriptionStatus
from billcycle.tenancy.repository import sandbox_tenant_ids

# -- id lists ------------------------------------------------------------------------------


def _id_list(postgres: bool, name: str = "account_ids") -> Any:
    """Ids as ONE JSON parameter (``name``, see :func:`_ids_json`): an expanding list of
    a thousand ids cost SQLAlchemy ~2 ms a statement to render and process, a JSON
    string nothing, and the statement's compiled form is cached."""
    if postgres:
        return text(
            "SELECT CAST(value AS bigint) AS value "  # noqa: S608 (a parameter's name, ours)
            f"FROM jsonb_array_elements_text(CAST(:{name} AS jsonb))"
        ).columns(column("value", BigInteger))
    return text(f"SELECT value FROM json_each(:{name})").columns(  # noqa: S608 (ours)
        column("value", BigInteger)
    )


def _ids_json(ids: Sequence[int]) -> str:
    return json_text([int(i) for i in ids])


def _by_dialect(build: Any) -> Any:
    """``build(postgres)`` once per dialect, on first use."""
    built: dict[bool, Any] = {}

    def statement(session: Session) -> Any:
        postgres = is_postgres(session)
        found = built.get(postgres)
        if found is None:
            found = built[postgres] = build(postgres)
        return found

    return statement


# -- the policy ---------------------------------------------------------------------------


# Built once (a payment run's finish reads the policy every slice): the same statement.
_POLICY = select(CollectionPolicyRow).where(CollectionPolicyRow.tenant_id == bindparam("t"))


def get_policy(session: Session, tenant_id: int) -> CollectionPolicyRow | None:
    return session.scalars(_POLICY, {"t": tenant_id}).first()


def lock_policy(session: Session, tenant_id: int) -> CollectionPolicyRow | None:
    return session.scalars(
        select(CollectionPolicyRow)
        .where(CollectionPolicyRow.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _insert_ignoring_conflicts(session: Session, model: Any, index: list[str]) -> Any:
    dialect = session.connection().dialect.name
    builder = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return builder(model).on_conflict_do_nothing(index_elements=index)


def ensure_policy(
    session: Session, tenant_id: int, values: dict[str, Any], now: datetime
) -> CollectionPolicyRow:
    """The tenant's row, inserted with ``values`` unless it exists (a concurrent insert
    is not an error: one statement, ON CONFLICT DO NOTHING)."""
    statement = _insert_ignoring_conflicts(session, CollectionPolicyRow, ["tenant_id"])
    session.execute(statement.values(tenant_id=tenant_id, created_at=now, updated_at=now, **values))
    row = get_policy(session, tenant_id)
    assert row is not None
    return row


def evaluation_marks(session: Session) -> list[tuple[int, date | None]]:
    """The last evaluated business day of each production tenant that has dunning turned
    on (a sandbox tenant's days are evaluated when its test clock is advanced).

    Tenant: the scheduler serves every tenant of the installation.
    """
    return [
        (int(tenant_id), evaluated_on)
        for tenant_id, evaluated_on in session.execute(
            select(CollectionPolicyRow.tenant_id, CollectionPolicyRow.evaluated_on).where(
                CollectionPolicyRow.dunning_enabled.is_(True),
                CollectionPolicyRow.tenant_id.not_in(sandbox_tenant_ids()),
            )
        )
    ]


def claim_day(session: Session, tenant_id: int, day: date) -> bool:
    """Mark ``day`` evaluated for the tenant unless it (or a later day) already was: a
    conditional UPDATE, so two workers given the same day cannot both evaluate it."""
    result = session.execute(
        update(CollectionPolicyRow)
        .where(
            CollectionPolicyRow.tenant_id == tenant_id,
            or_(CollectionPolicyRow.evaluated_on.is_(None), CollectionPolicyRow.evaluated_on < day),
        )
        .values(evaluated_on=day)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def due_dates_from(session: Session, tenant_id: int, first: date, limit: int) -> list[date]:
    """The distinct due dates of the tenant's posted invoices on or after ``first``,
    earliest first, at most ``limit`` (one range scan of ``ix_invoices_tenant_due``)."""
    return list(
        session.scalars(
            select(Invoice.due_date)
            .where(
                Invoice.tenant_id == tenant_id,
                Invoice.status == InvoiceStatus.POSTED.value,
                Invoice.due_date >= first,
            )
            .group_by(Invoice.due_date)
            .order_by(Invoice.due_date)
            .limit(limit)
        )
    )


def override_attempt_days(session: Session, tenant_id: int) -> set[int]:
    """Every attempt day an account of the tenant overrides the policy with."""
    found: set[int] = set()
    for days in session.scalars(
        select(CollectionAccount.attempt_days).where(
            CollectionAccount.tenant_id == tenant_id, CollectionAccount.attempt_days.is_not(None)
        )
    ):
        found.update(int(day) for day in days or ())
    return found


def any_suspended(session: Session, tenant_id: int) -> bool:
    """Whether collections holds an account of the tenant suspended (not cancelled)."""
    return (
        session.scalar(
            select(CollectionAccount.id)
            .where(
                CollectionAccount.tenant_id == tenant_id,
                CollectionAccount.suspended_on.is_not(None),
                CollectionAccount.cancelled_on.is_(None),
            )
            .limit(1)
        )
        is not None
    )


# -- the accounts' rows ---------------------------------------------------------------------


def get_account_row(session: Session, tenant_id: int, account_id: int) -> CollectionAccount | None:
    return session.scalars(
        select(CollectionAccount).where(
            CollectionAccount.tenant_id == tenant_id, CollectionAccount.account_id == account_id
        )
    ).first()


def account_rows(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> dict[int, CollectionAccount]:
    found: dict[int, CollectionAccount] = {}
    unique = sorted(set(account_ids))
    for start in range(0, len(unique), 1000):
        for row in session.scalars(
            select(CollectionAccount).where(
                CollectionAccount.tenant_id == tenant_id,
                CollectionAccount.account_id.in_(unique[start : start + 1000]),
            )
        ):
            found[row.account_id] = row
    return found


@dataclass(slots=True)
class AccountRow:
    """An account's collections row as plain values, for the passes that look at
    thousands a day (the standing pass, the day's attempts, a payment run's chunk): an
    ORM object cost ~60 us to load and ~20 us to flush, a plain row a few. Changed in
    place like the ORM row; :func:`write_account_rows` writes those that changed."""

    id: int
    account_id: int
    attempt_days: list[int] | None
    grace_days: int | None
    dunning_exempt: bool
    in_collection: bool
    standing: str
    poor_standing_since: date | None
    suspended_on: date | None
    suspended_subscriptions: list[int]
    cancelled_on: date | None
    updated_at: datetime
    # The state as read or last written, to tell a changed row.
    written: tuple[Any, ...] = ()

    def state(self) -> tuple[Any, ...]:
        return (
            self.standing,
            self.poor_standing_since,
            self.suspended_on,
            list(self.suspended_subscriptions or []),
            self.cancelled_on,
            self.updated_at,
        )


# The two JSON columns are read as their text and parsed here (``_json_list``): the JSON
# type's result processor parsed each, ~10 us a value, and nearly every row holds no
# override and an empty list.
_ROW_COLUMNS = (
    CollectionAccount.id,
    CollectionAccount.account_id,
    sql_cast(CollectionAccount.attempt_days, Text),
    CollectionAccount.grace_days,
    CollectionAccount.dunning_exempt,
    CollectionAccount.in_collection,
    CollectionAccount.standing,
    CollectionAccount.poor_standing_since,
    CollectionAccount.suspended_on,
    sql_cast(CollectionAccount.suspended_subscriptions, Text),
    CollectionAccount.cancelled_on,
    CollectionAccount.updated_at,
)


def _json_list(value: str | None) -> list[int] | None:
    """A JSON list column's text as the JSON type would have parsed it."""
    if value is None or value == "null":
        return None
    if value == "[]":
        return []
    return cast(list[int], json.loads(value))


def _plain(row: Any) -> AccountRow:
    plain = AccountRow(
        row[0],
        row[1],
        _json_list(row[2]),
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        _json_list(row[9]) or [],
        row[10],
        row[11],
    )
    plain.written = plain.state()
    return plain


def plain_account_rows(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> dict[int, AccountRow]:
    """``account_rows`` as plain rows (no ORM object), a thousand accounts a statement."""
    found: dict[int, AccountRow] = {}
    unique = sorted(set(account_ids))
    for start in range(0, len(unique), 1000):
        for row in session.execute(
            _ROWS_OF_ACCOUNTS(session),
            {"tenant_id": tenant_id, "ids": _ids_json(unique[start : start + 1000])},
        ):
            found[row[1]] = _plain(row)
    return found


# Built once per dialect, the ids one JSON parameter (``_id_list``).
_ROWS_OF_ACCOUNTS = _by_dialect(
    lambda postgres: select(*_ROW_COLUMNS).where(
        CollectionAccount.tenant_id == bindparam("tenant_id"),
        CollectionAccount.account_id.in_(_id_list(postgres, "ids")),
    )
)


_accounts_table = cast(Table, CollectionAccount.__table__)
_WRITE_ROWS = (
    update(_accounts_table)
    .where(_accounts_table.c.id == bindparam("row_id"))
    .values(
        standing=bindparam("standing"),
        poor_standing_since=bindparam("poor_standing_since"),
        suspended_on=bindparam("suspended_on"),
        suspended_subscriptions=bindparam("suspended_subscriptions"),
        cancelled_on=bindparam("cancelled_on"),
        updated_at=bindparam("updated_at"),
    )
)


def write_account_rows(session: Session, rows: Sequence[AccountRow]) -> int:
    """Write the state of those of ``rows`` that changed since read (on SQLite one
    ``UPDATE ... FROM`` a JSON parameter, on PostgreSQL one executemany by primary key,
    in the rows' order); an ORM object of one of them that the session
    holds is expired, so a later ORM read sees what was written. Returns how many.

    Tenant: the rows were read under the caller's tenant; their ids are written."""
    changed = [row for row in rows if row.state() != row.written]
    if not changed:
        return 0
    if not is_postgres(session):
        # One UPDATE ... FROM the rows as one JSON parameter: an executemany paid
        # SQLAlchemy's parameter processing per row (a month's first overdue day writes
        # every account's row, and its payment run writes most of them back). The
        # values as the column types store them (ISO dates, naive UTC instants, the JSON
        # list as the JSON type writes it).
        instants: dict[datetime, str] = {}  # most rows share the pass's instant
        session.execute(
            _WRITE_ROWS_SQLITE,
            {
                "rows": json.dumps(
                    [
                        [
                            row.id,
                            row.standing,
                            _date_text(row.poor_standing_since),
                            _date_text(row.suspended_on),
                            _list_text(row.suspended_subscriptions),
                            _date_text(row.cancelled_on),
                            _instant_text(row.updated_at, instants),
                        ]
                        for row in changed
                    ],
                    separators=(",", ":"),
                )
            },
        )
    else:
        _write_rows_one_by_one(session, changed)
    for row in changed:
        row.written = row.state()
    # The ORM objects of written rows the session holds, found by one walk of its
    # identity map (usually a few objects) instead of building a key per written row
    # (~20 us each: a month's first overdue day writes every account's row).
    held = session.identity_map
    if len(held):
        ids = {row.id for row in changed}
        for key in list(held.keys()):
            if key[0] is CollectionAccount and key[1][0] in ids:
                obj = held.get(key)
                if obj is not None:
                    session.expire(obj)
    return len(changed)


def _date_text(value: date | None) -> str | None:
    """A date as the Date type stores it in SQLite."""
    return None if value is None else value.isoformat()


def _list_text(value: Sequence[int] | None) -> str:
    """A JSON list as the JSON type writes it (most rows' list is empty)."""
    return json.dumps(list(value)) if value else "[]"


def _instant_text(value: datetime, seen: dict[datetime, str]) -> str:
    """An instant as ``UtcDateTime`` stores it in SQLite (naive UTC, microseconds)."""
    found = seen.get(value)
    if found is None:
        found = seen[value] = sqlite_storage_value(value)
    return found


_WRITE_ROWS_SQLITE = text(
    """
UPDATE collection_accounts
SET standing = json_extract(v.value, '$[1]'),
    poor_standing_since = json_extract(v.value, '$[2]'),
    suspended_on = json_extract(v.value, '$[3]'),
    suspended_subscriptions = json_extract(v.value, '$[4]'),
    cancelled_on = json_extract(v.value, '$[5]'),
    updated_at = json_extract(v.value, '$[6]')
FROM json_each(:rows) AS v
WHERE collection_accounts.id = json_extract(v.value, '$[0]')
"""
)


def _write_rows_one_by_one(session: Session, changed: Sequence[AccountRow]) -> None:
    session.execute(
        _WRITE_ROWS,
        [
            {
                "row_id": row.id,
                "standing": row.standing,
                "poor_standing_since": row.poor_standing_since,
                "suspended_on": row.suspended_on,
                "suspended_subscriptions": list(row.suspended_subscriptions or []),
                "cancelled_on": row.cancelled_on,
                "updated_at": row.updated_at,
            }
            for row in changed
        ],
    )


def ensure_account_row(
    session: Session, tenant_id: int, account_id: int, now: datetime
) -> CollectionAccount:
    statement = _insert_ignoring_conflicts(session, CollectionAccount, ["tenant_id", "account_id"])
    session.execute(
        statement.values(
            tenant_id=tenant_id,
            account_id=account_id,
            dunning_exempt=False,
            in_collection=False,
            standing=AccountStanding.GOOD.value,
            suspended_subscriptions=[],
            created_at=now,
            updated_at=now,
        )
    )
    row = get_account_row(session, tenant_id, account_id)
    assert row is not None
    return row


def rows_in_dunning(
    session: Session, tenant_id: int, account_ids: Sequence[int] | None = None
) -> list[AccountRow]:
    """Accounts whose dunning state is not plain Good (in poor standing or suspended),
    of the whole tenant or of ``account_ids``, as plain rows."""
    where = [
        CollectionAccount.tenant_id == tenant_id,
        or_(
            CollectionAccount.standing != AccountStanding.GOOD.value,
            CollectionAccount.suspended_on.is_not(None),
        ),
    ]
    if account_ids is not None:
        if not account_ids:
            return []
        where.append(CollectionAccount.account_id.in_(list(account_ids)))
    return [_plain(row) for row in session.execute(select(*_ROW_COLUMNS).where(*where))]


def grace_ends(session: Session, tenant_id: int) -> tuple[date | None, list[tuple[date, int]]]:
    """When the poor standing of the tenant's accounts in poor standing, not suspended nor
    cancelled, started: the earliest of those without a grace period of their own, and
    (start, own grace days) of each that has one. Two reads of a few values (the clock's
    next due day asks at every step), not the rows in dunning."""
    where = [
        CollectionAccount.tenant_id == tenant_id,
        CollectionAccount.standing == AccountStanding.POOR_STANDING.value,
        CollectionAccount.poor_standing_since.is_not(None),
        CollectionAccount.suspended_on.is_(None),
        CollectionAccount.cancelled_on.is_(None),
    ]
    earliest = session.scalar(
        select(func.min(CollectionAccount.poor_standing_since)).where(
            *where, CollectionAccount.grace_days.is_(None)
        )
    )
    own: list[tuple[date, int]] = [
        (since, int(days or 0))
        for since, days in session.execute(
            select(CollectionAccount.poor_standing_since, CollectionAccount.grace_days).where(
                *where, CollectionAccount.grace_days.is_not(None)
            )
        )
        if since is not None
    ]
    return earliest, own


# -- overdue invoices -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OverdueInvoice:
    invoice_id: int
    account_id: int
    invoice_number: str
    due_date: date
    balance_minor: int
    currency: str
    auto_pay: bool


# What an overdue read keeps of the overdue invoices: every one; the first of each
# account (by due date, then id: what the standing pass looks at); or the first of each
# account and those that may still be due an attempt (the daily pass: an invoice
# attempted on or after its due date + the widest attempt day of the tenant and its
# accounts never is again, and a year of a declining account's invoices are mostly those).
ALL, FIRST, FOR_ATTEMPTS = "all", "first", "for_attempts"


def _attempted_since(postgres: bool, due_date: Any) -> Any:
    """The invoice's due date plus ``widest`` days (the bound parameter)."""
    if postgres:
        return due_date + bindparam("widest", type_=Integer)
    return func.date(due_date, bindparam("widest_days", type_=String))


def _overdue_statement(of_accounts: bool, keep: str, postgres: bool) -> Any:
    """The overdue read (:func:`overdue_invoices`), built once per shape and dialect:
    the tenant, the day and the accounts are bound parameters (the accounts one JSON
    list, used in its three places), so a call neither builds nor compiles a statement."""
    tenant_id: Any = bindparam("tenant_id")
    today = bindparam("today", type_=Date)
    accounts: Any = _id_list(postgres)
    posted = InvoiceStatus.POSTED.value
    applied = (
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.invoice_id == Invoice.id)
        .correlate(Invoice)
        .scalar_subquery()
    )
    later = cast(Table, Invoice.__table__).alias("due_later")
    later_applied = (
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.invoice_id == later.c.id)
        .correlate(later)
        .scalar_subquery()
    )
    where = [Invoice.tenant_id == tenant_id, Invoice.status == posted, Invoice.due_date < today]
    later_where = [
        later.c.tenant_id == tenant_id,
        later.c.status == posted,
        later.c.due_date >= today,
        later.c.amount_minor - later_applied > 0,
    ]
    owing_where = [
        OpenAccountBalance.tenant_id == tenant_id,
        OpenAccountBalance.bucket == OPEN_IN_ALL_BUCKETS,
    ]
    if of_accounts:
        where.append(Invoice.account_id.in_(accounts))
        later_where.append(later.c.account_id.in_(accounts))
        owing_where.append(OpenAccountBalance.account_id.in_(accounts))
    not_due = (
        select(later.c.account_id, later.c.currency, func.count().label("invoices"))
        .where(*later_where)
        .group_by(later.c.account_id, later.c.currency)
        .cte("not_due")
    )
    owing = (
        select(OpenAccountBalance.account_id)
        .outerjoin(
            not_due,
            and_(
                not_due.c.account_id == OpenAccountBalance.account_id,
                not_due.c.currency == OpenAccountBalance.currency,
            ),
        )
        .where(*owing_where, OpenAccountBalance.invoices > func.coalesce(not_due.c.invoices, 0))
    )
    if keep == ALL:
        where.append(Invoice.account_id.in_(owing.scalar_subquery()))
        inner = (
            select(*_overdue_columns(applied))
            .join(Account, Account.id == Invoice.account_id)
            .where(*where)
            .subquery()
        )
        return (
            select(*_out(inner.c, postgres))
            .where(inner.c.balance_minor > 0)
            .order_by(inner.c.due_date, inner.c.id)
        )
    # FIRST / FOR_ATTEMPTS: the invoices kept are chosen by id first, each balance summed
    # only where needed, then read with their balance (summed once). Before, every
    # past-due invoice of the owing accounts was summed twice (the filter and the
    # column) and ranked: a declining account's year of unpaid invoices on each read.
    # Each owing account with how many of its invoices owe something past due (its open
    # invoices in the summary less those not due yet, over its owing currencies).
    past_due = OpenAccountBalance.invoices - func.coalesce(not_due.c.invoices, 0)
    owing_accounts = (
        owing.with_only_columns(OpenAccountBalance.account_id, func.sum(past_due).label("past_due"))
        .group_by(OpenAccountBalance.account_id)
        .cte("owing_accounts")
    )
    # Each owing account's first invoice owing something, by due date then id: the
    # walk stops at it (one sum for an account whose oldest invoice is unpaid). An
    # account owing ONE past-due invoice (a paying customer's latest, after a year of
    # paid ones) has it found from its latest invoice back, in the order of the
    # accounts' index (invoice date, id): the first one owing is the only one, and on
    # SQLite the walk stops there (a due-date order is a sort after every row's sum:
    # a year of paid invoices summed for each paying account).
    first = aliased(Invoice, name="first_owing")
    first_applied = (
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.invoice_id == first.id)
        .correlate(first)
        .scalar_subquery()
    )
    first_due = first.due_date if postgres else type_coerce(first.due_date, String).op("||")("")

    def walk(*order: Any) -> Any:
        return (
            select(first.id)
            .where(
                first.tenant_id == tenant_id,
                first.account_id == owing_accounts.c.account_id,
                first.status == posted,
                first_due < today,
                first.amount_minor - first_applied > 0,
            )
            # (On SQLite by the text, so the planner does not walk the tenant's due-date
            # index for the order: the account's dozen invoices are sorted.)
            .order_by(*order)
            .limit(1)
            .correlate(owing_accounts)
            .scalar_subquery()
        )

    first_of_account = case(
        (owing_accounts.c.past_due == 1, walk(first.invoice_date.desc(), first.id.desc())),
        else_=walk(first_due, first.id),
    )
    chosen: Any = select(first_of_account.label("id")).select_from(owing_accounts)
    if keep == FOR_ATTEMPTS:
        # And those not attempted on or after their due date + the widest attempt day
        # (the attempt log's index, before any sum), owing something.
        candidate = aliased(Invoice, name="candidate")
        candidate_applied = (
            select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
            .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.invoice_id == candidate.id)
            .correlate(candidate)
            .scalar_subquery()
        )
        attempted_since = (
            select(CollectionEvent.id)
            .where(
                CollectionEvent.invoice_id == candidate.id,
                CollectionEvent.invoice_id.is_not(None),  # the index's condition
                CollectionEvent.tenant_id == tenant_id,
                CollectionEvent.event_type == CollectionEventType.ATTEMPT.value,
                CollectionEvent.business_date >= _attempted_since(postgres, candidate.due_date),
            )
            .correlate(candidate)
            .exists()
        )
        candidate_due = (
            candidate.due_date if postgres else type_coerce(candidate.due_date, String).op("||")("")
        )
        chosen = union(
            chosen,
            select(candidate.id).where(
                candidate.tenant_id == tenant_id,
                # (An account owing one past-due invoice has it chosen above.)
                candidate.account_id.in_(
                    select(owing_accounts.c.account_id).where(owing_accounts.c.past_due > 1)
                ),
                candidate.status == posted,
                candidate_due < today,
                ~attempted_since,
                candidate.amount_minor - candidate_applied > 0,
            ),
        )
    kept = (
        select(*_overdue_columns(applied))
        .join(Account, Account.id == Invoice.account_id)
        # (On SQLite ``+ 0``: the ids chosen lead, not the tenant's index.)
        .where(
            (Invoice.tenant_id if postgres else Invoice.tenant_id + 0) == tenant_id,
            Invoice.id.in_(chosen),
        )
        .subquery()
    )
    return select(*_out(kept.c, postgres)).order_by(kept.c.due_date, kept.c.id)


_OUT = ("id", "account_id", "number", "due_date", "currency", "auto_pay", "balance_minor")


def _overdue_columns(applied: Any) -> tuple[Any, ...]:
    """The columns an overdue invoice is read with (joined to its account), whichever
    invoices a caller keeps; ``applied``: the invoice's applied sum."""
    return (
        Invoice.id.label("id"),
        Invoice.account_id.label("account_id"),
        Invoice.invoice_number.label("number"),
        Invoice.due_date.label("due_date"),
        Invoice.currency.label("currency"),
        Account.auto_pay.label("auto_pay"),
        (Invoice.amount_minor - applied).label("balance_minor"),
    )


def _out(columns: Any, postgres: bool) -> list[Any]:
    """The read's columns; on SQLite the due date as its text (parsed once per distinct
    date by the caller: the Date type's processor parsed each row's)."""
    return [
        type_coerce(columns[name], String).label(name)
        if name == "due_date" and not postgres
        else columns[name]
        for name in _OUT
    ]


_OVERDUE_STATEMENTS: dict[tuple[bool, str, bool], Any] = {}


def _overdue(of_accounts: bool, keep: str, postgres: bool) -> Any:
    key = (of_accounts, keep, postgres)
    statement = _OVERDUE_STATEMENTS.get(key)
    if statement is None:
        statement = _OVERDUE_STATEMENTS[key] = _overdue_statement(of_accounts, keep, postgres)
    return statement


def overdue_invoices(
    session: Session,
    tenant_id: int,
    today: date,
    account_ids: Sequence[int] | None = None,
    *,
    keep: str = ALL,
    widest_attempt_day: int = 0,
) -> list[OverdueInvoice]:
    """Posted invoices of the tenant past their due date with something still owed, in
    one query (the balance is the ledger's, a correlated sum per past-due invoice), in
    due date then id order.

    Only the invoices of the accounts owing something past due are summed: those whose
    count of open invoices in a currency (``open_account_balances``, bucket ALL, kept in
    step with every balance change) exceeds their count of open invoices not yet due.
    So the paid history (most of a year's invoices) is not summed again each day; the
    invoices not yet due are about one month's.

    ``keep``: ``ALL`` of them; ``FIRST``, each account's first (what its standing
    needs); ``FOR_ATTEMPTS``, each account's first and those not yet attempted on or
    after their due date + ``widest_attempt_day`` (what the day's attempts can pick)."""
    postgres = is_postgres(session)
    params: dict[str, Any] = {"tenant_id": tenant_id, "today": today}
    of_accounts = account_ids is not None
    if account_ids is not None:
        if not account_ids:
            return []
        params["account_ids"] = json.dumps([int(a) for a in account_ids], separators=(",", ":"))
    if keep == FOR_ATTEMPTS:
        if postgres:
            params["widest"] = widest_attempt_day
        else:
            params["widest_days"] = f"+{int(widest_attempt_day)} days"
    # Due dates are a handful of values: on SQLite each text is parsed once.
    dates: dict[Any, date] = {}
    found: list[OverdueInvoice] = []
    for invoice_id, account_id, number, due, currency, auto_pay, balance in session.execute(
        _overdue(of_accounts, keep, postgres), params
    ):
        if not isinstance(due, date):
            parsed = dates.get(due)
            if parsed is None:
                parsed = dates[due] = date.fromisoformat(due)
            due = parsed
        found.append(
            OverdueInvoice(
                invoice_id=invoice_id,
                account_id=account_id,
                invoice_number=number,
                due_date=due,
                balance_minor=int(balance),
                currency=currency,
                auto_pay=bool(auto_pay),
            )
        )
    return found


def last_attempts(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> dict[int, date]:
    """The business day of each invoice's latest collection attempt."""
    found: dict[int, date] = {}
    unique = sorted(set(invoice_ids))
    for start in range(0, len(unique), 1000):
        rows = session.execute(
            _LAST_ATTEMPTS(session),
            {"tenant_id": tenant_id, "ids": _ids_json(unique[start : start + 1000])},
        )
        for invoice_id, day in rows:
            if invoice_id is not None:
                found[int(invoice_id)] = day
    return found


_LAST_ATTEMPTS = _by_dialect(
    lambda postgres: (
        select(CollectionEvent.invoice_id, func.max(CollectionEvent.business_date))
        .where(
            CollectionEvent.tenant_id == bindparam("tenant_id"),
            CollectionEvent.event_type == CollectionEventType.ATTEMPT.value,
            CollectionEvent.invoice_id.in_(_id_list(postgres, "ids")),
            CollectionEvent.invoice_id.is_not(None),  # the index's condition
        )
        .group_by(CollectionEvent.invoice_id)
    )
)


def accounts_with_processing_payments(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> set[int]:
    """Accounts with a payment whose gateway outcome is still pending or unknown."""
    found: set[int] = set()
    unique = sorted(set(account_ids))
    for start in range(0, len(unique), 1000):
        found.update(
            session.scalars(
                _PROCESSING_OF_ACCOUNTS(session),
                {"tenant_id": tenant_id, "ids": _ids_json(unique[start : start + 1000])},
            )
        )
    return found


def _processing_of_accounts(postgres: bool) -> Any:
    if postgres:
        return (
            select(Payment.account_id)
            .where(
                Payment.tenant_id == bindparam("tenant_id"),
                Payment.status == PaymentStatus.PROCESSING.value,
                Payment.account_id.in_(_id_list(postgres, "ids")),
            )
            .distinct()
        )
    # SQLite: through the partial index of Processing payments (``ix_payments_processing``,
    # usually empty between runs): the status as a literal, which the index's condition
    # needs, and neither the tenant nor the account an index bound (``+ 0``). The
    # accounts' index read every payment of a thousand accounts (a year's: ~6 ms at
    # 10k accounts) to find none Processing.
    return (
        select(Payment.account_id)
        .where(
            Payment.tenant_id + 0 == bindparam("tenant_id"),
            Payment.status == literal_column(f"'{PaymentStatus.PROCESSING.value}'"),
            (Payment.account_id + 0).in_(_id_list(postgres, "ids")),
        )
        .distinct()
    )


_PROCESSING_OF_ACCOUNTS = _by_dialect(_processing_of_accounts)


def open_invoice_ids(session: Session, tenant_id: int, account_id: int) -> list[int]:
    """The account's posted invoices with a balance (what an automatic write-off clears)."""
    balance = ledger_repo.balance_column(tenant_id)
    inner = (
        select(Invoice.id.label("id"), balance)
        .where(
            Invoice.tenant_id == tenant_id,
            Invoice.account_id == account_id,
            Invoice.status == InvoiceStatus.POSTED.value,
        )
        .subquery()
    )
    return list(session.scalars(select(inner.c.id).where(inner.c.balance_minor > 0)))


def subscriptions_of(
    session: Session, tenant_id: int, account_id: int, status: SubscriptionStatus
) -> list[tuple[int, str]]:
    """(id, number) of the account's subscriptions in ``status``."""
    return [
        (int(sid), str(number))
        for sid, number in session.execute(
            select(Subscription.id, Subscription.subscription_number)
            .where(
                Subscription.tenant_id == tenant_id,
                Subscription.account_id == account_id,
                Subscription.status == status.value,
            )
            .order_by(Subscription.id)
        )
    ]


def payment_row(session: Session, tenant_id: int, payment_id: int) -> Payment | None:
    return session.scalars(
        select(Payment).where(Payment.tenant_id == tenant_id, Payment.id == payment_id)
    ).first()


def payment_rows(session: Session, tenant_id: int, payment_ids: Sequence[int]) -> dict[int, Any]:
    """The payments of one batch of outcomes, in one query, as plain rows of the columns
    an outcome event needs (id, account id, number, amount, status): no ORM object."""
    if not payment_ids:
        return {}
    rows = session.execute(_PAYMENT_ROWS, {"tenant_id": tenant_id, "ids": list(payment_ids)})
    return {row.id: row for row in rows}


_PAYMENT_ROWS = select(
    Payment.id,
    Payment.account_id,
    Payment.number,
    Payment.amount_minor,
    Payment.currency,
    Payment.status,
).where(
    Payment.tenant_id == bindparam("tenant_id"),
    Payment.id.in_(bindparam("ids", expanding=True)),
)


@dataclass(frozen=True, slots=True)
class PaymentEmailRow:
    """A payment whose account can be emailed: it wants emails and its bill-to contact
    has an address (the email's values)."""

    id: int
    account_id: int
    number: str
    amount_minor: int
    currency: str
    account_number: str
    first_name: str | None
    last_name: str | None
    work_email: str | None
    personal_email: str | None


def payment_email_rows(
    session: Session, tenant_id: int, payment_ids: Sequence[int]
) -> dict[int, PaymentEmailRow]:
    """The payments of one batch of outcomes whose account wants emails and has a bill-to
    address, with that contact, in one query per thousand payments (the ids one JSON
    parameter): a batch whose accounts take no email (most of a sandbox's) reads and
    builds nothing, where the payments and every account's contact were read before."""
    found: dict[int, PaymentEmailRow] = {}
    unique = sorted(set(payment_ids))
    for start in range(0, len(unique), 1000):
        for row in session.execute(
            _PAYMENT_EMAIL_ROWS(session),
            {"tenant_id": tenant_id, "ids": _ids_json(unique[start : start + 1000])},
        ):
            found[row[0]] = PaymentEmailRow(*row)
    return found


_PAYMENT_EMAIL_ROWS = _by_dialect(
    lambda postgres: (
        select(
            Payment.id,
            Payment.account_id,
            Payment.number,
            Payment.amount_minor,
            Payment.currency,
            Account.account_number,
            Contact.first_name,
            Contact.last_name,
            Contact.work_email,
            Contact.personal_email,
        )
        .join(
            Account, and_(Account.id == Payment.account_id, Account.tenant_id == Payment.tenant_id)
        )
        .join(
            Contact,
            and_(Contact.id == Account.bill_to_contact_id, Contact.tenant_id == Payment.tenant_id),
        )
        .where(
            Payment.tenant_id == bindparam("tenant_id"),
            Payment.id.in_(_id_list(postgres, "ids")),
            Account.invoice_delivery_prefs_email.is_(true()),
            or_(Contact.work_email != "", Contact.personal_email != ""),
        )
    )
)


# -- events ----------------------------------------------------------------------------------


def add_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append events (an INSERT: nothing is read).

    Tenant: each row carries the tenant id of the context that built it.
    """
    if rows:
        # The table, not the entity: a plain executemany, no ORM bulk-insert bookkeeping.
        session.execute(insert(cast(Table, CollectionEvent.__table__)), list(rows))


# Payment outcome events of many payments from ONE JSON parameter (an array of
# [payment_id, succeeded, gateway_code, message]), the rest from the payments' rows:
# what ``collections.outcomes`` records for each, with no parameter processing per row.
# (``tenant_id + 0``: the payments by primary key from the JSON rows, never a tenant
# index walked for each. PostgreSQL: each payment looked up by primary key in a LATERAL
# step of its own: joined, a payment run planned with the statistics of its start, when
# the table was small, hashed the slice's rows against a sequential scan of every
# payment, a read that grows with the run.)
def _clipped(words: str, limit: int) -> str:
    """The event's message: the gateway's words cut to ``limit`` characters, '' none."""
    return f"NULLIF(substr({words}, 1, {int(limit)}), '')"


def _clipped_sqlite(words: str, limit: int) -> str:
    """:func:`_clipped` with no function called for the usual short message (SQLite:
    ``substr`` copies the text and ``NULLIF`` compares it again, ~0.15 µs an event of a
    run's slice, ~11% of its insert)."""
    return (
        f"CASE WHEN {words} = '' THEN NULL WHEN length({words}) <= {int(limit)} THEN {words}"
        f" ELSE substr({words}, 1, {int(limit)}) END"
    )


_OUTCOME_HEAD = """
INSERT INTO collection_events (tenant_id, account_id, event_type, business_date,
    occurred_at, invoice_id, payment_id, gateway_code, message, from_value, to_value,
    details)
SELECT p.tenant_id, p.account_id, CASE WHEN {ok} THEN :succeeded ELSE :failed END,
       :day, :now, NULL, p.id, {code}, {message}, NULL,
       p.status, {obj}('paymentNumber', p.number, 'amountMinor', p.amount_minor)
FROM {rows}
{join}
"""
_OUTCOME_EVENTS = _OUTCOME_HEAD + "ORDER BY {n}\nRETURNING payment_id, account_id\n"
_OUTCOME_SQLITE = {
    "join": "JOIN payments p ON p.id = json_extract(j.value, '$[0]') AND p.tenant_id + 0 = :t",
    "rows": "json_each(:rows) j",
    "ok": "json_extract(j.value, '$[1]')",
    "code": "json_extract(j.value, '$[2]')",
    "words": "json_extract(j.value, '$[3]')",
    "n": "j.key",
    "obj": "json_object",
}
_OUTCOME_POSTGRES = {
    "join": "CROSS JOIN LATERAL (SELECT * FROM payments p WHERE p.id = (j.e->>0)::bigint"
    " AND p.tenant_id + 0 = :t LIMIT 1) p",
    "rows": PG_JSON_ROWS_NUMBERED,
    "ok": "(j.e->>1)::boolean",
    "code": "j.e->>2",
    "words": "j.e->>3",
    "n": "j.n",
    "obj": "json_build_object",
}


def add_payment_outcome_events(
    session: Session,
    tenant_id: int,
    outcomes: Sequence[tuple[int, bool, str | None, str | None]],
    *,
    day: date,
    now: datetime,
    message_limit: int,
) -> list[tuple[int, int]]:
    """One PaymentSucceeded / PaymentFailed event per ``(payment_id, succeeded,
    gateway_code, message)``, in ONE ``INSERT ... SELECT`` joined to the payments
    (account, number, amount, status from there); returns (payment id, account id) of
    each written. A payment not found (or of another tenant) writes nothing.

    Tenant: the payments are read under ``tenant_id``, which each event carries."""
    if not outcomes:
        return []
    parts = _OUTCOME_POSTGRES if is_postgres(session) else _OUTCOME_SQLITE
    message = _clipped(parts["words"], message_limit)
    statement = text(_OUTCOME_EVENTS.format(message=message, **parts)).bindparams(
        bindparam("day", type_=Date), bindparam("now", type_=UtcDateTime)
    )
    result = session.execute(
        statement,
        {
            "t": tenant_id,
            "succeeded": CollectionEventType.PAYMENT_SUCCEEDED.value,
            "failed": CollectionEventType.PAYMENT_FAILED.value,
            "day": day,
            "now": now,
            "rows": json_text([list(o) for o in outcomes]),
        },
    )
    return [(int(payment_id), int(account_id)) for payment_id, account_id in result]


# The same events of a payment run's settled slice, from the payments' rows as its settle
# left them (status Processed or Error, the gateway's code and words in
# ``gateway_response_code`` / ``gateway_response``: what the staged answer said), in
# payment id order: no row built in Python, none read back.
# - SQLite: the payments by ``id IN`` the flat JSON array of their ids: read in rowid
#   order from the IN list's index, so the events need no sort (a join from
#   ``json_each`` ordered by its key sorted every event's row in a temporary b-tree);
#   no ``json_extract`` (3.40 parses a row's array again at every one).
# - PostgreSQL: a bigint array (no JSON to parse), each payment looked up by primary
#   key in a LATERAL step of its own, whatever the statistics (see ``_OUTCOME_HEAD``).
_SETTLED_OUTCOME_EVENTS = _OUTCOME_HEAD + "ORDER BY p.id\n"
_SETTLED_OUTCOME_SQLITE = {
    "rows": "payments p",
    "join": "WHERE p.id IN (SELECT value FROM json_each(:ids)) AND p.tenant_id + 0 = :t",
    "ok": "p.status = :processed",
    "code": "p.gateway_response_code",
    "words": "p.gateway_response",
    "obj": "json_object",
}
_SETTLED_OUTCOME_POSTGRES = {
    "rows": "unnest(CAST(:ids AS bigint[])) AS j(id)",
    "join": "CROSS JOIN LATERAL (SELECT * FROM payments p WHERE p.id = j.id"
    " AND p.tenant_id + 0 = :t LIMIT 1) p",
    "ok": "p.status = :processed",
    "code": "p.gateway_response_code",
    "words": "p.gateway_response",
    "obj": "json_build_object",
}
_SETTLED_OUTCOME_STATEMENTS: dict[tuple[bool, int], TextClause] = {}


def _settled_outcome_statement(postgres: bool, message_limit: int) -> TextClause:
    """The settled slice's events statement, built once a dialect and limit."""
    key = (postgres, int(message_limit))
    found = _SETTLED_OUTCOME_STATEMENTS.get(key)
    if found is None:
        parts = _SETTLED_OUTCOME_POSTGRES if postgres else _SETTLED_OUTCOME_SQLITE
        found = _SETTLED_OUTCOME_STATEMENTS[key] = text(
            _SETTLED_OUTCOME_EVENTS.format(
                message=(_clipped if postgres else _clipped_sqlite)(parts["words"], key[1]),
                **parts,
            )
        ).bindparams(bindparam("day", type_=Date), bindparam("now", type_=UtcDateTime))
    return found


def add_settled_outcome_events(
    session: Session,
    tenant_id: int,
    payment_ids: Sequence[int],
    *,
    processed: str,
    day: date,
    now: datetime,
    message_limit: int,
) -> None:
    """:func:`add_payment_outcome_events` for a payment run's slice, once its settle
    (``payments.repository.settle_staged``) wrote each payment's outcome: one event per
    payment of ``payment_ids`` (those approved or failed), in payment id order,
    succeeded when its status is ``processed``, its gateway code and message those the
    settle recorded; nothing returned.

    Tenant: the payments are read under ``tenant_id``, which each event carries."""
    if not payment_ids:
        return
    postgres = is_postgres(session)
    ids = json_text(list(payment_ids))
    session.execute(
        _settled_outcome_statement(postgres, message_limit),
        {
            "t": tenant_id,
            "succeeded": CollectionEventType.PAYMENT_SUCCEEDED.value,
            "failed": CollectionEventType.PAYMENT_FAILED.value,
            "processed": processed,
            "day": day,
            "now": now,
            # PostgreSQL: the bigint array's literal (psycopg adapts a list of ints at
            # ~0.75 µs an id, three times the JSON's cost).
            "ids": "{" + ids[1:-1] + "}" if postgres else ids,
        },
    )


def page_of_events(
    session: Session, tenant_id: int, account_id: int, *, after: int | None, limit: int
) -> list[CollectionEvent]:
    """The account's events oldest first, keyset-paged on the id."""
    where = [CollectionEvent.tenant_id == tenant_id, CollectionEvent.account_id == account_id]
    if after is not None:
        where.append(CollectionEvent.id > after)
    return list(
        session.scalars(
            select(CollectionEvent).where(and_(*where)).order_by(CollectionEvent.id).limit(limit)
        )
    )
