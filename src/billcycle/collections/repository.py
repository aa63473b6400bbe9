"""All SQL of collections: the policy rows, the accounts' dunning rows, the events, and
the set-based reads the daily evaluation makes (overdue invoices per tenant)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    Date,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from billcycle.accounts.models import Account
from billcycle.collections.models import CollectionAccount, CollectionEvent, CollectionPolicyRow
from billcycle.collections.statuses import AccountStanding, CollectionEventType
from billcycle.db.bulk import is_postgres
from billcycle.db.types import UtcDateTime
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import repository as ledger_repo
from billcycle.payments.models import Payment
from billcycle.payments.statuses import PaymentStatus
from billcycle.subscriptions.models import Subscription
from billcycle.subscriptions.statuses import SubscriptionStatus
from billcycle.tenancy.repository import sandbox_tenant_ids

# -- the policy ---------------------------------------------------------------------------


def get_policy(session: Session, tenant_id: int) -> CollectionPolicyRow | None:
    return session.scalars(
        select(CollectionPolicyRow).where(CollectionPolicyRow.tenant_id == tenant_id)
    ).first()


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


_ROW_COLUMNS = (
    CollectionAccount.id,
    CollectionAccount.account_id,
    CollectionAccount.attempt_days,
    CollectionAccount.grace_days,
    CollectionAccount.dunning_exempt,
    CollectionAccount.in_collection,
    CollectionAccount.standing,
    CollectionAccount.poor_standing_since,
    CollectionAccount.suspended_on,
    CollectionAccount.suspended_subscriptions,
    CollectionAccount.cancelled_on,
    CollectionAccount.updated_at,
)


def _plain(row: Any) -> AccountRow:
    plain = AccountRow(*row)
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
            select(*_ROW_COLUMNS).where(
                CollectionAccount.tenant_id == tenant_id,
                CollectionAccount.account_id.in_(unique[start : start + 1000]),
            )
        ):
            found[row.account_id] = _plain(row)
    return found


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
    """Write the state of those of ``rows`` that changed since read (one executemany by
    primary key, in the rows' order); an ORM object of one of them that the session
    holds is expired, so a later ORM read sees what was written. Returns how many.

    Tenant: the rows were read under the caller's tenant; their ids are written."""
    changed = [row for row in rows if row.state() != row.written]
    if not changed:
        return 0
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
    held = session.identity_map
    for row in changed:
        row.written = row.state()
        obj = held.get(identity_key(CollectionAccount, row.id))
        if obj is not None:
            session.expire(obj)
    return len(changed)


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


def overdue_invoices(
    session: Session, tenant_id: int, today: date, account_ids: Sequence[int] | None = None
) -> list[OverdueInvoice]:
    """Posted invoices of the tenant past their due date with something still owed, in
    one query (the balance is the ledger's, a correlated sum per past-due invoice)."""
    balance = ledger_repo.balance_column(tenant_id)
    where = [
        Invoice.tenant_id == tenant_id,
        Invoice.status == InvoiceStatus.POSTED.value,
        Invoice.due_date < today,
    ]
    if account_ids is not None:
        if not account_ids:
            return []
        where.append(Invoice.account_id.in_(list(account_ids)))
    inner = (
        select(
            Invoice.id.label("id"),
            Invoice.account_id.label("account_id"),
            Invoice.invoice_number.label("number"),
            Invoice.due_date.label("due_date"),
            Invoice.currency.label("currency"),
            Account.auto_pay.label("auto_pay"),
            balance,
        )
        .join(Account, Account.id == Invoice.account_id)
        .where(*where)
        .subquery()
    )
    rows = session.execute(
        select(inner).where(inner.c.balance_minor > 0).order_by(inner.c.due_date, inner.c.id)
    ).all()
    return [
        OverdueInvoice(
            invoice_id=row.id,
            account_id=row.account_id,
            invoice_number=row.number,
            due_date=row.due_date,
            balance_minor=int(row.balance_minor),
            currency=row.currency,
            auto_pay=bool(row.auto_pay),
        )
        for row in rows
    ]


def last_attempts(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> dict[int, date]:
    """The business day of each invoice's latest collection attempt."""
    found: dict[int, date] = {}
    unique = sorted(set(invoice_ids))
    for start in range(0, len(unique), 1000):
        rows = session.execute(
            select(CollectionEvent.invoice_id, func.max(CollectionEvent.business_date))
            .where(
                CollectionEvent.tenant_id == tenant_id,
                CollectionEvent.event_type == CollectionEventType.ATTEMPT.value,
                CollectionEvent.invoice_id.in_(unique[start : start + 1000]),
            )
            .group_by(CollectionEvent.invoice_id)
        )
        for invoice_id, day in rows:
            if invoice_id is not None:
                found[int(invoice_id)] = day
    return found


def accounts_with_processing_payments(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> set[int]:
    """Accounts with a payment whose gateway outcome is still pending or unknown."""
    found: set[int] = set()
    unique = sorted(set(account_ids))
    for start in range(0, len(unique), 1000):
        found.update(
            session.scalars(
                select(Payment.account_id)
                .where(
                    Payment.tenant_id == tenant_id,
                    Payment.status == PaymentStatus.PROCESSING.value,
                    Payment.account_id.in_(unique[start : start + 1000]),
                )
                .distinct()
            )
        )
    return found


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
    rows = session.execute(
        select(
            Payment.id,
            Payment.account_id,
            Payment.number,
            Payment.amount_minor,
            Payment.currency,
            Payment.status,
        ).where(Payment.tenant_id == tenant_id, Payment.id.in_(list(payment_ids)))
    )
    return {row.id: row for row in rows}


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
_OUTCOME_EVENTS = """
INSERT INTO collection_events (tenant_id, account_id, event_type, business_date,
    occurred_at, invoice_id, payment_id, gateway_code, message, from_value, to_value,
    details)
SELECT p.tenant_id, p.account_id, CASE WHEN {ok} THEN :succeeded ELSE :failed END,
       :day, :now, NULL, p.id, {code}, NULLIF(substr({message}, 1, {limit}), ''), NULL,
       p.status, {obj}('paymentNumber', p.number, 'amountMinor', p.amount_minor)
FROM {rows}
{join}
ORDER BY {n}
RETURNING payment_id, account_id
"""
_OUTCOME_SQLITE = {
    "join": "JOIN payments p ON p.id = json_extract(j.value, '$[0]') AND p.tenant_id + 0 = :t",
    "rows": "json_each(:rows) j",
    "ok": "json_extract(j.value, '$[1]')",
    "code": "json_extract(j.value, '$[2]')",
    "message": "json_extract(j.value, '$[3]')",
    "n": "j.key",
    "obj": "json_object",
}
_OUTCOME_POSTGRES = {
    "join": "CROSS JOIN LATERAL (SELECT * FROM payments p WHERE p.id = (j.e->>0)::bigint"
    " AND p.tenant_id + 0 = :t LIMIT 1) p",
    "rows": "json_array_elements(CAST(:rows AS json)) WITH ORDINALITY AS j(e, n)",
    "ok": "(j.e->>1)::boolean",
    "code": "j.e->>2",
    "message": "j.e->>3",
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
    statement = text(_OUTCOME_EVENTS.format(limit=int(message_limit), **parts)).bindparams(
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
            "rows": json.dumps([list(o) for o in outcomes], separators=(",", ":")),
        },
    )
    return [(int(payment_id), int(account_id)) for payment_id, account_id in result]


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
