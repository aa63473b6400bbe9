"""Open balances per (tenant, currency, due date), and per account and aging bucket: the AR
aging report's summaries.

An invoice's balance is derived (its amount less the ledger), so the aging report used to
sum every posted invoice of the tenant: 3.2 s on SQLite and ~1 s on PostgreSQL at a
million open invoices. This table keeps, per (tenant, currency, due date), the sum of the
positive balances of the posted invoices due that day and how many they are; the report
sums a few thousand rows (docs/benchmarks.md, "Receivables at a million open invoices").

It is kept in step in the transaction of every change to a posted invoice's balance, by
the few functions here, called from the write paths themselves:

- an invoice becomes Posted: :func:`add_posted` (rows the posting ``UPDATE ... RETURNING``
  gave back) or :func:`add_posted_ids` (invoices written as Posted by id);
- ledger entries on invoices were written (payments applied or taken back, credits,
  refunds, write-offs): :func:`entries_applied`, with (invoice id, amount) of the entries.

The second summary, ``open_account_balances``, holds per (tenant, currency, bucket,
account) the same two figures, where the bucket is the invoice's aging bucket (current,
1-30, 31-60, 61-90, 90+ days past due) counted at the tenant's ``open_balance_aging.as_of``
date, plus a bucket :data:`ALL` (the account's open balance in that currency, which no
date moves). Its index ``(tenant, currency, bucket, balance, account)`` answers the
aging drill-down ("largest balances first", keyset-paged) by a range read. The same
calls keep it (the writers need no change); the buckets are counted at the stored date
whatever today is, and :func:`age_to` moves them to another date: only the invoices due
in the four windows the bucket edges crossed change bucket (a full recount past 30
days). Writers read the date ``FOR SHARE`` and :func:`age_to` ``FOR UPDATE`` on
PostgreSQL (SQLite has one writer at a time), so a balance change is always counted at
the date the rows are counted at.

Posted invoices are never deleted, cancelled or re-dated (``accounts.service.delete_account``
and ``billruns.service`` refuse; only drafts are cancelled), so nothing else moves it.
Each call is set-based: one read of the touched invoices per chunk and ONE upsert of the
changed (currency, due date) rows, sorted (so two transactions lock summary rows in the
same order). :func:`differences` recomputes the summary from the invoices and the ledger
(``billcycle db open-balances`` checks and repairs it), and the property test in
``tests/ledger/test_open_balances.py`` proves that random sequences of operations leave
it equal to that recomputation on both databases.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Connection,
    Date,
    ForeignKey,
    Index,
    Integer,
    Select,
    SmallInteger,
    String,
    Table,
    Update,
    any_,
    bindparam,
    case,
    delete,
    event,
    except_,
    func,
    literal,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from billcycle.db.base import Base
from billcycle.db.bulk import PG_JSON_ROWS, SQLITE_MATERIALIZED, json_text, pg_int_array
from billcycle.db.engine import begin_sqlite_write
from billcycle.db.types import BigId
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger.models import LedgerEntry

# Well under both databases' bound-parameter limits per statement.
_CHUNK = 5_000

Key = tuple[str, date]  # (currency, due date)


class OpenBalance(Base):
    """The positive balances of a tenant's posted invoices in one currency due one day."""

    __tablename__ = "open_balances"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    due_date: Mapped[date] = mapped_column(Date, primary_key=True)
    # Sum of the balances > 0 of the posted invoices of this key, in minor units.
    balance_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # How many of them have a balance > 0.
    invoices: Mapped[int] = mapped_column(Integer, nullable=False)


# The aging buckets: 0 current (not yet due), 1: 1-30 days past due, 2: 31-60, 3: 61-90,
# 4: over 90; ALL: every open invoice of the account in the currency.
BUCKETS = 5
ALL = 5
# The date the buckets of a tenant without a row are counted at: nothing is past due then,
# so every open invoice is current (a tenant's first row is written by age_to).
EPOCH = date(1970, 1, 1)
# Past this many days a move of the buckets' date recounts them (the edge windows would
# overlap; a daily move crosses one day of due dates at each edge).
_WINDOW_LIMIT = 30

AccountKey = tuple[str, int, int]  # (currency, bucket, account id)


class OpenAccountBalance(Base):
    """The positive balances of an account's posted invoices in one currency and aging
    bucket (counted at the tenant's ``OpenBalanceAging.as_of``), or in all (:data:`ALL`).

    ``tenant_id`` references no tenant row (``0041_arsum_account_balances_lean``): SQLite
    looked the tenant up for every row deleted or inserted with foreign keys on (~0.7 µs
    a row; two rows a payment of a payment run). A tenant is deleted only once it holds no
    business data (``tenancy.management_repository.tenant_has_data`` asks this table)."""

    __tablename__ = "open_account_balances"
    __table_args__ = (
        Index(
            "ix_open_account_balances_largest",
            "tenant_id",
            "currency",
            "bucket",
            "balance_minor",
            "account_id",
        ),
        {"sqlite_with_rowid": False},
    )

    tenant_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    balance_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    invoices: Mapped[int] = mapped_column(Integer, nullable=False)


class OpenBalanceAging(Base):
    """The business date a tenant's ``open_account_balances`` buckets are counted at."""

    __tablename__ = "open_balance_aging"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    as_of: Mapped[date] = mapped_column(Date, nullable=False)


_table = cast(Table, OpenBalance.__table__)
_accounts = cast(Table, OpenAccountBalance.__table__)
_aging = cast(Table, OpenBalanceAging.__table__)
_invoices = cast(Table, Invoice.__table__)
_entries = cast(Table, LedgerEntry.__table__)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


# -- the date rows written at the commit (PostgreSQL) -----------------------------------
#
# Every invoice of a bill run shares ONE (currency, due date) row, so two payment-run
# workers settling slices at once both move it; written where a slice settled, the second
# worker's settle waited for the first one's commit (most of that statement's samples
# were ``Lock:transactionid``: docs/benchmarks.md, "Payment runs on PostgreSQL (session
# 7, paypg)"). On PostgreSQL the changes to the date rows are therefore computed where
# the balances move (from the balances as the ledger has them then) and kept in the
# unit's ``session.info``, summed per key, and written right before its commit
# (``before_commit``), keys sorted: a unit then holds a date row only while it commits,
# and a unit that holds one never waits for anything else but other date rows, taken in
# key order. Changes are sums, so when they are written does not change the result; the
# ``open_balance_aging`` date the account rows (written at once, as before) were
# bucketed at stays locked (shared) until the commit. Dropped with a rolled back unit;
# inside a savepoint they are written at once (a rolled back savepoint takes them with
# it). What reads or rebuilds the date rows in a unit (:func:`rows`,
# :func:`differences`, :func:`rebuild`, the aging report, ...) writes them first
# (:func:`write_pending`). ``post_summing`` (a bill run's posting) still writes its date
# rows in its statement.
_DEFERRED = "billcycle_open_balances_deferred"


def write_pending(session: Session) -> None:
    """Write the date-row changes the unit of work holds (see ``_DEFERRED``), keys sorted.
    Called before the commit; nothing to do when it holds none."""
    pending: dict[int, dict[Key, list[int]]] | None = session.info.pop(_DEFERRED, None)
    for tenant_id, changes in sorted((pending or {}).items()):
        _write_due(session, tenant_id, changes)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if _DEFERRED in session.info and not session.in_nested_transaction():
        write_pending(session)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the unit's own transaction: committed or rolled back
        session.info.pop(_DEFERRED, None)


def _upsert(session: Session, tenant_id: int, changes: dict[Key, list[int]]) -> None:
    """Add (balance, invoices) to each key's row, creating it: ONE statement, keys sorted;
    on PostgreSQL outside a savepoint, at the unit's commit (see ``_DEFERRED``)."""
    if session.get_bind().dialect.name != "postgresql" or session.in_nested_transaction():
        _write_due(session, tenant_id, changes)
        return
    held: dict[Key, list[int]] = session.info.setdefault(_DEFERRED, {}).setdefault(tenant_id, {})
    for key, (balance, count) in changes.items():
        change = held.get(key)
        if change is None:
            held[key] = [balance, count]
        else:
            change[0] += balance
            change[1] += count


def _write_due(session: Session, tenant_id: int, changes: dict[Key, list[int]]) -> None:
    rows = [
        {
            "tenant_id": tenant_id,
            "currency": currency,
            "due_date": due,
            "balance_minor": change[0],
            "invoices": change[1],
        }
        for (currency, due), change in sorted(changes.items())
        if change[0] or change[1]
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(_table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "currency", "due_date"],
        set_={
            "balance_minor": _table.c.balance_minor + stmt.excluded.balance_minor,
            "invoices": _table.c.invoices + stmt.excluded.invoices,
        },
    )
    session.execute(stmt, rows)


def bucket_of(due: date, as_of: date) -> int:
    """An invoice's aging bucket on ``as_of`` (as ``reports.repository._bucket`` in SQL)."""
    days = (as_of - due).days
    return 0 if days <= 0 else 1 if days <= 30 else 2 if days <= 60 else 3 if days <= 90 else 4


# The account rows' upsert as driver SQL, because building SQLAlchemy's parameters per row
# cost as much as the database's own work (two rows an invoice posted). SQLite: the DB-API's
# ``executemany`` of plain tuples. PostgreSQL: ONE statement over arrays (``unnest``), in
# the sorted order (row locks taken in key order); an ``executemany`` there cost a
# statement a row (+1.2 s of wall time per 1,000 invoices posted).
_UPSERT_ACCOUNTS_SQLITE = (
    "INSERT INTO open_account_balances "
    "(tenant_id, currency, bucket, account_id, balance_minor, invoices) "
    "VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (tenant_id, currency, bucket, account_id) DO UPDATE SET "
    "balance_minor = open_account_balances.balance_minor + excluded.balance_minor, "
    "invoices = open_account_balances.invoices + excluded.invoices"
)
_UPSERT_ACCOUNTS_PG = (
    "INSERT INTO open_account_balances "
    "(tenant_id, currency, bucket, account_id, balance_minor, invoices) "
    "SELECT %s, u.c, u.b, u.a, u.m, u.n FROM unnest("
    "%s::varchar[], %s::smallint[], %s::bigint[], %s::bigint[], %s::integer[]"
    ") WITH ORDINALITY AS u(c, b, a, m, n, o) ORDER BY u.o "
    "ON CONFLICT (tenant_id, currency, bucket, account_id) DO UPDATE SET "
    "balance_minor = open_account_balances.balance_minor + excluded.balance_minor, "
    "invoices = open_account_balances.invoices + excluded.invoices"
)


def _upsert_accounts(
    session: Session, tenant_id: int, changes: dict[AccountKey, list[int]]
) -> None:
    """Add (balance, invoices) to each (currency, bucket, account) row, creating it: ONE
    statement (SQLite: one ``executemany``), keys sorted on PostgreSQL (two
    transactions lock the rows in the same order)."""
    connection = session.connection()
    if session.get_bind().dialect.name != "postgresql":
        rows = [
            (tenant_id, currency, bucket, account, change[0], change[1])
            for (currency, bucket, account), change in changes.items()
            if change[0] or change[1]
        ]
        if rows:
            connection.exec_driver_sql(_UPSERT_ACCOUNTS_SQLITE, rows)
        return
    kept = [(key, change) for key, change in sorted(changes.items()) if change[0] or change[1]]
    if kept:
        connection.exec_driver_sql(
            _UPSERT_ACCOUNTS_PG,
            (
                tenant_id,
                [k[0] for k, _c in kept],
                [k[1] for k, _c in kept],
                [k[2] for k, _c in kept],
                [c[0] for _k, c in kept],
                [c[1] for _k, c in kept],
            ),
        )


# Built once (a payment run's finish reads the date every slice): the same statements.
_AS_OF = select(_aging.c.as_of).where(_aging.c.tenant_id == bindparam("t"))
_AS_OF_SHARED = _AS_OF.with_for_update(read=True)
_AS_OF_EXCLUSIVE = _AS_OF.with_for_update()


def _as_of(session: Session, tenant_id: int, *, exclusive: bool = False) -> date:
    """The date the tenant's account buckets are counted at, locked until the transaction
    ends: shared by the writers (which move balances in the buckets of that date),
    exclusive for :func:`age_to` (which moves the date). SQLite renders no ``FOR``
    clause: its writers already take turns on the database's one write lock.

    Writers take it before any summary row: a writer waiting for it behind an
    ``age_to`` then holds no row another writer (which holds the date, so ``age_to``
    waits for it) could be waiting for, which would close a cycle."""
    dialect = session.get_bind().dialect.name
    if exclusive and dialect == "sqlite":
        # pysqlite runs reads outside a transaction until the first write: the reads of
        # age_to must see the state its writes change, so take the write lock first.
        raw = session.connection().connection.dbapi_connection
        if raw is not None:
            begin_sqlite_write(raw)
    stmt = _AS_OF_EXCLUSIVE if exclusive else _AS_OF_SHARED
    found = session.execute(stmt, {"t": tenant_id}).scalar()
    if found is not None:
        return _day(found)
    # No row yet (a new tenant): written now, so that a concurrent age_to, which does the
    # same, waits for this transaction (or this one for it) on the row's key.
    insert_ = (pg_insert if dialect == "postgresql" else sqlite_insert)(_aging)
    session.execute(
        insert_.values(tenant_id=tenant_id, as_of=EPOCH).on_conflict_do_nothing(
            index_elements=["tenant_id"]
        )
    )
    return _day(session.execute(stmt, {"t": tenant_id}).scalar_one())


def _per_account(
    as_of: date, changes: dict[tuple[str, Any, int], list[int]]
) -> dict[AccountKey, list[int]]:
    """(currency, due date, account) changes into (currency, bucket, account) and
    (currency, ALL, account) ones; due dates as stored (SQLite's text) or dates. Plain
    dicts (a bulk payment chunk moves two rows for each of a thousand accounts)."""
    buckets: dict[Any, int] = {}
    out: dict[AccountKey, list[int]] = {}
    for (currency, due, account), (balance, count) in changes.items():
        bucket = buckets.get(due)
        if bucket is None:
            bucket = buckets[due] = bucket_of(_day(due), as_of)
        for key in ((currency, bucket, account), (currency, ALL, account)):
            change = out.get(key)
            if change is None:
                out[key] = [balance, count]
            else:
                change[0] += balance
                change[1] += count
    return out


def posted_columns() -> tuple[Any, ...]:
    """What a posting ``UPDATE ... RETURNING`` gives back for :func:`add_posted`: the
    currency, the due date as stored (SQLite's text; parsing it into a ``date`` per row
    cost more than the rest of the bookkeeping), the amount and the account."""
    return (
        _invoices.c.currency,
        type_coerce(_invoices.c.due_date, String),
        _invoices.c.amount_minor,
        _invoices.c.account_id,
    )


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def add_posted(session: Session, tenant_id: int, rows: Iterable[Sequence[Any]]) -> None:
    """Invoices that just became Posted: ``rows`` of (currency, due date, amount, account)
    as the posting ``UPDATE ... RETURNING`` gave them back (:func:`posted_columns`). A
    draft has no ledger entries (only posted invoices take them), so what it owes once
    posted is its amount.

    One pass builds both summaries' changes (a bill run's chunk posts thousands of
    invoices, one an account: the per-row Python is most of the cost here)."""
    owing = [row for row in rows if row[2] > 0]
    if not owing:
        return
    as_of = _as_of(session, tenant_id)  # first: see _as_of
    grouped: dict[tuple[str, Any], list[int]] = {}
    accounts: dict[AccountKey, list[int]] = {}
    buckets: dict[Any, int] = {}
    for currency, due, amount, account in owing:
        change = grouped.get((currency, due))
        if change is None:
            grouped[(currency, due)] = [amount, 1]
            buckets[due] = bucket_of(_day(due), as_of)
        else:
            change[0] += amount
            change[1] += 1
        for key in ((currency, buckets[due], account), (currency, ALL, account)):
            change = accounts.get(key)
            if change is None:
                accounts[key] = [amount, 1]
            else:
                change[0] += amount
                change[1] += 1
    _upsert(session, tenant_id, {(c, _day(d)): v for (c, d), v in grouped.items()})
    _upsert_accounts(session, tenant_id, accounts)


def add_posting(session: Session, tenant_id: int, drafts: Select[Any]) -> None:
    """Invoices about to become Posted, summed by the database: ``drafts`` selects
    (currency, due date as posted, amount, account) of exactly the rows the caller's
    posting ``UPDATE`` moves next, in the same transaction. SQLite only: its writer holds
    the one write lock from this statement to the ``UPDATE``, so no other transaction can
    post, cancel or re-date one of them in between (PostgreSQL sums what the ``UPDATE``
    returned instead: :func:`add_posted`).

    Three ``INSERT ... SELECT ... GROUP BY ... ORDER BY ... ON CONFLICT DO UPDATE``: the
    date summary, the account buckets and the "All" rows, each written in its primary
    key's order. A bill run's posting chunk of 20,000 invoices cost ~0.2 s of Python per
    chunk to group the returned rows (two dictionary updates an invoice) before the
    upserts; the database groups them in a few milliseconds (docs/benchmarks.md,
    "Posting 1M with the per-account summary (session 5, posting)")."""
    owing = drafts.subquery()
    found = session.execute(
        select(literal(1)).select_from(owing).where(owing.c[2] > 0).limit(1)
    ).first()
    if found is None:
        return
    as_of = _as_of(session, tenant_id)  # first: see _as_of
    for stmt in _summing(session, tenant_id, owing, as_of, split=True):
        session.execute(stmt)


def post_summing(session: Session, tenant_id: int, posting: Update) -> int:
    """PostgreSQL: run ``posting`` (an ``UPDATE`` of invoices to Posted) and add the
    invoices it moved to both summaries in ONE statement (the ``UPDATE`` as a
    data-modifying CTE whose ``RETURNING`` rows the database groups, as
    :func:`add_posting` on SQLite); returns how many moved. Exact under concurrency: only
    the rows this ``UPDATE`` changed are summed. Saves returning every row to Python."""
    as_of = _as_of(session, tenant_id)  # first: see _as_of
    inv = _invoices.c
    moved = posting.returning(inv.currency, inv.due_date, inv.amount_minor, inv.account_id).cte(
        "moved"
    )
    count = select(func.count()).select_from(moved)
    for index, stmt in enumerate(_summing(session, tenant_id, moved, as_of, split=False)):
        count = count.add_cte(stmt.cte(f"summed_{index}"))
    return int(session.execute(count).scalar_one())


def _summing(
    session: Session, tenant_id: int, owing: Any, as_of: date, *, split: bool
) -> list[Any]:
    """The upserts adding ``owing``'s (currency, due date, amount, account) rows with an
    amount > 0 to the date summary, the account buckets and the "All" rows, each grouped
    and in its primary key's order (``split``: buckets and "All" in two statements; else
    one, in key order, as PostgreSQL's row locks want)."""
    currency, due, amount, account = owing.c
    positive = amount > 0
    tenant = literal(tenant_id, BigInteger)
    balance, count = func.sum(amount), func.count()
    by_date = (
        select(tenant, currency, due, balance, count)
        .where(positive)
        .group_by(currency, due)
        .order_by(currency, due)
    )
    bucket = bucket_sql(due, as_of)
    by_bucket = (
        select(tenant, currency, bucket, account, balance, count)
        .where(positive)
        .group_by(currency, bucket, account)
    )
    every = (
        select(tenant, currency, literal(ALL, SmallInteger), account, balance, count)
        .where(positive)
        .group_by(currency, account)
    )
    keys = ["tenant_id", "currency", "bucket", "account_id"]
    stmts = [_insert_summing(session, _table, by_date, ["tenant_id", "currency", "due_date"])]
    if split:
        ordered = (by_bucket.order_by(currency, bucket, account), every.order_by(currency, account))
        stmts += [_insert_summing(session, _accounts, rows, keys) for rows in ordered]
    else:
        both = by_bucket.union_all(every).subquery()
        stmts.append(
            _insert_summing(session, _accounts, select(*both.c).order_by(*both.c[1:4]), keys)
        )
    return stmts


def _insert_summing(session: Session, table: Table, rows: Select[Any], keys: list[str]) -> Any:
    """``INSERT INTO table SELECT rows`` adding (balance, invoices) to existing keys."""
    names = [*keys, "balance_minor", "invoices"]
    dialect = session.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).from_select(names, rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={
            "balance_minor": table.c.balance_minor + stmt.excluded.balance_minor,
            "invoices": table.c.invoices + stmt.excluded.invoices,
        },
    )
    return stmt


def _open_columns(tenant_id: int) -> tuple[Any, ...]:
    """(id, currency, due date, balance, account) of a posted invoice: the ledger summed
    per invoice by a correlated sum on its invoice index."""
    inv, led = _invoices.c, _entries.c
    applied = (
        select(func.coalesce(func.sum(led.amount_minor), 0))
        .where(led.invoice_id == inv.id, led.tenant_id == tenant_id)
        .correlate(_invoices)
        .scalar_subquery()
    )
    return (inv.id, inv.currency, inv.due_date, inv.amount_minor - applied, inv.account_id)


def _balances(session: Session, tenant_id: int, ids: Sequence[int]) -> list[Any]:
    """(id, currency, due date, balance, account) of those of ``ids`` that are posted: one
    statement; PostgreSQL gets the ids as ONE array parameter (a thousand-id ``IN`` list
    cost more to bind than the query took)."""
    inv = _invoices.c
    tenant: Any = inv.tenant_id == tenant_id
    if session.get_bind().dialect.name == "postgresql":
        chosen = inv.id == any_(bindparam("ids", list(ids), type_=ARRAY(BigInteger)))
    else:
        chosen = inv.id.in_(ids)
        # "+ 0": without statistics for the invoices SQLite walked the tenant's million
        # invoices through a (tenant_id, ...) index and filtered the ids (150 ms per
        # 1,000 ids) instead of looking the ids up by primary key (2 ms).
        tenant = (inv.tenant_id + 0) == tenant_id
    # Core columns and the connection: no ORM row processing for what is a plain read.
    return list(
        session.connection().execute(
            select(*_open_columns(tenant_id)).where(
                tenant, chosen, inv.status == InvoiceStatus.POSTED.value
            )
        )
    )


def add_posted_ids(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> None:
    """Invoices written as Posted by id (not through a posting ``UPDATE``): their balances
    as the database has them now."""
    changes: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
    accounts: dict[tuple[str, Any, int], list[int]] = defaultdict(lambda: [0, 0])
    for chunk in _chunks(sorted(set(invoice_ids))):
        for _id, currency, due, balance, account in _balances(session, tenant_id, chunk):
            if balance > 0:
                for change in (changes[(currency, due)], accounts[(currency, due, account)]):
                    change[0] += int(balance)
                    change[1] += 1
    if not changes:
        return
    as_of = _as_of(session, tenant_id)  # first: see _as_of
    _upsert(session, tenant_id, changes)
    _upsert_accounts(session, tenant_id, _per_account(as_of, accounts))


def entries_applied(
    session: Session, tenant_id: int, applied: Iterable[tuple[int | None, int]]
) -> None:
    """Ledger entries were just written: ``applied`` holds (invoice id, amount) of each
    (entries on no invoice are skipped; a positive amount reduces the invoice's balance).

    Reads the touched posted invoices' balances as they are now (after the entries), so
    before them each owed its balance plus what was applied (:func:`balances_moved`)."""
    per_invoice: dict[int, int] = defaultdict(int)
    for invoice_id, amount in applied:
        if invoice_id is not None:
            per_invoice[invoice_id] += int(amount)
    if not per_invoice:
        return
    moves: list[tuple[str, Any, int, int, int]] = []
    for chunk in _chunks(sorted(per_invoice)):
        for invoice_id, currency, due, after, account in _balances(session, tenant_id, chunk):
            after = int(after)
            moves.append((currency, due, account, after + per_invoice[invoice_id], after))
    balances_moved(session, tenant_id, moves)


def balances_moved(
    session: Session, tenant_id: int, moves: Iterable[tuple[str, Any, int, int, int]]
) -> None:
    """Posted invoices' balances moved: ``moves`` holds (currency, due date (a date or as
    stored), account, balance before, balance after) of each invoice, in minor units.
    The summaries move by the difference of the positive parts, and the counts by
    invoices crossing zero.

    For :func:`entries_applied`, and for a writer that read the balances itself under
    the invoices' locks before writing its entries (a bulk payment chunk judges its
    allocations against them): it need not read them again (a third of such a chunk's
    time went to that read)."""
    changes: dict[tuple[str, Any], list[int]] = {}
    accounts: dict[tuple[str, Any, int], list[int]] = {}
    for currency, due, account, before, after in moves:
        moved = max(after, 0) - max(before, 0)
        crossed = (after > 0) - (before > 0)
        if not (moved or crossed):
            continue
        change = changes.get((currency, due))
        if change is None:
            changes[(currency, due)] = [moved, crossed]
        else:
            change[0] += moved
            change[1] += crossed
        change = accounts.get((currency, due, account))
        if change is None:
            accounts[(currency, due, account)] = [moved, crossed]
        else:
            change[0] += moved
            change[1] += crossed
    if not changes:
        return
    as_of = _as_of(session, tenant_id)  # first: see _as_of
    _upsert(session, tenant_id, {(c, _day(d)): v for (c, d), v in changes.items()})
    _upsert_accounts(session, tenant_id, _per_account(as_of, accounts))


# :func:`entries_applied` for many applications at once (a payment run's slice), from ONE
# JSON array of [invoice_id, amount]: the touched posted invoices' balances read now
# (after the entries), each one's move and zero crossing, summed per (currency, due
# date) and per (currency, bucket, account) with the ALL rows, upserted in key order.
# {rows}/{invoice}/{amount} read the array, one element an invoice (summed in Python:
# a GROUP BY of the array cost SQLite ~0.5 µs an application).
#
# Each invoice's balance is read ONCE, in its own materialized step (``b``): inlined, the
# correlated sum was a subplan evaluated for every reference to it (eight a row on
# PostgreSQL: 27,000 buffer reads for a slice of 1,000 invoices instead of 6,000).
#
# {after} is that balance: the ledger summed (:data:`_AFTER_LEDGER`) or, when every
# invoice of the array owed something before its entries (``each_owed``), first the
# account's ALL row (:data:`_AFTER_OWNER`): an account owing in the currency on ONE
# invoice (``invoices = 1``) owes on the one it was just paid on, so that invoice owed
# the row's balance and now owes it less what was applied; ``fast`` marks those (their
# bucket row held the same balance and count). Most accounts of a payment run owe one
# invoice: the ledger is then not read at all (the row is one primary-key look-up).
_MOVED = """
WITH b AS {materialized} (
    SELECT i.currency, i.due_date, i.account_id, d.amount, {after} AS after, {fast} AS fast
    FROM (SELECT {invoice} AS invoice_id, {amount} AS amount FROM {rows}) d
    JOIN invoices i ON i.id = d.invoice_id AND i.tenant_id {plus} = :t
     AND i.status = :posted
    {owner}
), m AS (
    SELECT b.currency, b.due_date, b.account_id,
           {greatest}(b.after, 0) - {greatest}(b.after + b.amount, 0) AS moved,
           (CASE WHEN b.after > 0 THEN 1 ELSE 0 END)
             - (CASE WHEN b.after + b.amount > 0 THEN 1 ELSE 0 END) AS crossed
    FROM b
)
"""
_AFTER_LEDGER = """i.amount_minor - COALESCE((
               SELECT SUM(l.amount_minor) FROM ledger_entries l
               WHERE l.invoice_id = i.id AND l.tenant_id = :t), 0)"""
_AFTER_OWNER = "CASE WHEN o.invoices = 1 THEN o.balance_minor - d.amount ELSE {ledger} END"
_OWNER = """LEFT JOIN open_account_balances o ON o.tenant_id = :t AND o.currency = i.currency
     AND o.bucket = {all_bucket} AND o.account_id = i.account_id"""
_FAST = "CASE WHEN o.invoices = 1 THEN 1 ELSE 0 END"
_MOVED_DUE = """
INSERT INTO open_balances (tenant_id, currency, due_date, balance_minor, invoices)
SELECT :t, currency, due_date, SUM(moved), SUM(crossed) FROM m
WHERE true
GROUP BY currency, due_date HAVING SUM(moved) <> 0 OR SUM(crossed) <> 0
ORDER BY currency, due_date
ON CONFLICT (tenant_id, currency, due_date) DO UPDATE SET
    balance_minor = open_balances.balance_minor + excluded.balance_minor,
    invoices = open_balances.invoices + excluded.invoices
"""


# Both account upserts' end: each invoice's move counted in its bucket's row and in
# the ALL row, summed by key, written in key order (the rows locked in one order).
_ACCOUNT_ROWS_UPSERT = """\
    UNION ALL
    SELECT currency, {all_bucket} AS bucket, account_id, moved, crossed FROM m
) x
WHERE true
GROUP BY currency, bucket, account_id HAVING SUM(moved) <> 0 OR SUM(crossed) <> 0
ORDER BY currency, bucket, account_id
ON CONFLICT (tenant_id, currency, bucket, account_id) DO UPDATE SET
    balance_minor = open_account_balances.balance_minor + excluded.balance_minor,
    invoices = open_account_balances.invoices + excluded.invoices
"""


_MOVED_ACCOUNTS = "".join(
    (
        """
INSERT INTO open_account_balances
    (tenant_id, currency, bucket, account_id, balance_minor, invoices)
SELECT :t, currency, bucket, account_id, SUM(moved), SUM(crossed) FROM (
    SELECT currency, CASE WHEN due_date >= :d0 THEN 0 WHEN due_date >= :d30 THEN 1
                          WHEN due_date >= :d60 THEN 2 WHEN due_date >= :d90 THEN 3
                          ELSE 4 END AS bucket, account_id, moved, crossed FROM m
""",
        _ACCOUNT_ROWS_UPSERT,
    )
)


# PostgreSQL: both summaries in ONE statement (the balances read once, not once per
# upsert): the account rows changed by data-modifying steps, the date rows' changes
# grouped and returned, to be written at the unit's commit (``_DEFERRED``).
#
# An account row its change brings to (0, 0) (the account's invoices in that bucket all
# paid: every row a payment run touches) is DELETED (``z``) rather than updated to zero:
# an absent row and a zero row are the same to every reader (the drill-down reads
# ``balance > 0``, the check compares non-zero rows, ``age_to`` deletes zero rows too).
# Its balance is in ``ix_open_account_balances_largest``, so an update is never HOT: a
# new row version, an entry in both indexes and the conflict's row lock, two rows a
# payment (~25 µs each at 100,000 accounts); a delete only marks the row. The other rows
# are upserted (``a``) in key order, as before; ``x`` is sorted, so ``z`` locks its rows
# in key order too. ``z`` names every column of BOTH indexes by equality (the balance the
# row must hold to empty: ``balance_minor = -moved``), so either is an exact look-up:
# with the key's four columns only, a table analysed while empty (or never) made the two
# tie and the planner took ix_..._largest, reading the whole bucket for each row (9-25 s
# a slice at 100,000 accounts, session 9's and this attempt's first try). ``a`` leaves
# out ``z``'s keys by ``NOT IN``, a hashed subplan (the keys are NOT NULL): as
# ``NOT EXISTS`` the planner, its estimates a CTE's few rows, joined them by a nested
# loop, every row of ``x`` against every deleted one (4,000 x 4,000 a slice: 2-3 s).
# The balances still come from the ledger here, even with ``each_owed``: SQLite's
# shortcut reads an account's ALL row by key through the planner, which on a table
# analysed while empty took ix_..._largest as well (docs/benchmarks.md, "AR summaries in
# a payment run (session 10, arsum)").
_MOVED_CHANGES = """
, x AS MATERIALIZED (
    SELECT currency, bucket, account_id, CAST(SUM(moved) AS BIGINT) AS moved,
           CAST(SUM(crossed) AS INTEGER) AS crossed
    FROM (
        SELECT currency, CASE WHEN due_date >= :d0 THEN 0 WHEN due_date >= :d30 THEN 1
                              WHEN due_date >= :d60 THEN 2 WHEN due_date >= :d90 THEN 3
                              ELSE 4 END AS bucket, account_id, moved, crossed FROM m
        UNION ALL
        SELECT currency, {all_bucket} AS bucket, account_id, moved, crossed FROM m
    ) y
    GROUP BY currency, bucket, account_id HAVING SUM(moved) <> 0 OR SUM(crossed) <> 0
    ORDER BY currency, bucket, account_id
), z AS (
    DELETE FROM open_account_balances o USING x
    WHERE o.tenant_id = :t AND o.currency = x.currency AND o.bucket = x.bucket
      AND o.balance_minor = -x.moved AND o.account_id = x.account_id
      AND o.invoices = -x.crossed
    RETURNING o.currency, o.bucket, o.account_id
), a AS (
INSERT INTO open_account_balances
    (tenant_id, currency, bucket, account_id, balance_minor, invoices)
SELECT :t, currency, bucket, account_id, moved, crossed FROM x
WHERE (currency, bucket, account_id) NOT IN (SELECT currency, bucket, account_id FROM z)
ORDER BY currency, bucket, account_id
ON CONFLICT (tenant_id, currency, bucket, account_id) DO UPDATE SET
    balance_minor = open_account_balances.balance_minor + excluded.balance_minor,
    invoices = open_account_balances.invoices + excluded.invoices
)
SELECT currency, due_date, SUM(moved), SUM(crossed) FROM m
GROUP BY currency, due_date HAVING SUM(moved) <> 0 OR SUM(crossed) <> 0
"""


# SQLite: the balances read once (``b``) into the connection's TEMP table, one row an
# invoice with its bucket, what was applied and what it owes now, which the statements
# below read; emptied before each fill;
# the rows commit or roll back with the unit, and no other connection sees them.
#
# An account whose one open invoice a slice paid in full (``fast`` and nothing left
# owing: a payment run's common case) has both its rows (the invoice's bucket and ALL)
# DELETED by primary key, which they held alone: an update to zero rewrote the row and
# moved its entry of ``ix_open_account_balances_largest`` (a delete and an insert),
# and left a zero row in both B-trees for good. The other rows are upserted as before.
# Which statements run is read first, with the date rows' changes (one grouped read of
# the TEMP table): a slice whose accounts were all emptied runs no upsert of accounts.
_APPLIED_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS open_balance_applied "
    "(currency, due_date, bucket, account_id, amount, after, fast)",
    "DELETE FROM temp.open_balance_applied",
)
_APPLIED_FILL = """
INSERT INTO temp.open_balance_applied
    (currency, due_date, bucket, account_id, amount, after, fast)
SELECT currency, due_date, CASE WHEN due_date >= :d0 THEN 0 WHEN due_date >= :d30 THEN 1
            WHEN due_date >= :d60 THEN 2 WHEN due_date >= :d90 THEN 3
            ELSE 4 END,
       account_id, amount, after, fast FROM b
"""
# (currency, due date, moved, crossed, rows to delete, rows to upsert).
_APPLIED_DUE = """
SELECT currency, due_date,
       SUM(MAX(after, 0) - MAX(after + amount, 0)),
       SUM((CASE WHEN after > 0 THEN 1 ELSE 0 END)
           - (CASE WHEN after + amount > 0 THEN 1 ELSE 0 END)),
       SUM(CASE WHEN fast = 1 AND after <= 0 THEN 1 ELSE 0 END),
       SUM(CASE WHEN fast = 1 AND after <= 0 THEN 0 ELSE 1 END)
FROM temp.open_balance_applied GROUP BY currency, due_date
"""
# Each emptied invoice's two keys from a join with two constant rows: with a UNION ALL
# in the list SQLite read the tenant's rows through ix_..._largest (no key look-ups).
_APPLIED_DELETE = """
DELETE FROM open_account_balances
WHERE tenant_id = :t AND (currency, bucket, account_id) IN (
    SELECT a.currency, CASE k.column1 WHEN 0 THEN a.bucket ELSE {all_bucket} END, a.account_id
    FROM temp.open_balance_applied a, (VALUES (0), (1)) k WHERE a.fast = 1 AND a.after <= 0
)
"""
_APPLIED_ACCOUNTS = "".join(
    (
        """
WITH m AS (
    SELECT currency, bucket, account_id,
           MAX(after, 0) - MAX(after + amount, 0) AS moved,
           (CASE WHEN after > 0 THEN 1 ELSE 0 END)
             - (CASE WHEN after + amount > 0 THEN 1 ELSE 0 END) AS crossed
    FROM temp.open_balance_applied WHERE NOT (fast = 1 AND after <= 0)
)
INSERT INTO open_account_balances
    (tenant_id, currency, bucket, account_id, balance_minor, invoices)
SELECT :t, currency, bucket, account_id, SUM(moved), SUM(crossed) FROM (
    SELECT currency, bucket, account_id, moved, crossed FROM m
""",
        _ACCOUNT_ROWS_UPSERT,
    )
)


def entries_applied_many(
    session: Session,
    tenant_id: int,
    applied: Sequence[tuple[int, int]],
    *,
    each_owed: bool = False,
) -> None:
    """:func:`entries_applied` for many (invoice id, amount) at once, with no Python per
    invoice: the same reads and the same upserts (keys in order) over one JSON array (a
    payment run's slice settles a thousand applications). SQLite: the balances staged in
    a TEMP table, then the date rows, the emptied account rows deleted and the others
    upserted. PostgreSQL: ONE statement reading them and returning the date rows'
    changes, held until the unit's commit (``_DEFERRED``; written at once inside a
    savepoint).

    ``each_owed``: every invoice of ``applied`` owed more than zero before these entries
    (a staged settle's applications: each the least of what was asked and the invoice's
    balance, only those above zero). SQLite then reads the balance of an invoice that is
    its account's only open one in the currency from the account's ALL row, not the
    ledger, and deletes the rows such an invoice's payment empties."""
    if not applied:
        return
    per_invoice: dict[int, int] = {}
    for invoice_id, amount in applied:
        per_invoice[invoice_id] = per_invoice.get(invoice_id, 0) + int(amount)
    postgres = session.get_bind().dialect.name == "postgresql"
    as_of = _as_of(session, tenant_id)  # first: see _as_of
    edges = {f"d{days}": as_of - timedelta(days=days) for days in (0, 30, 60, 90)}
    if postgres:
        parts = {
            "rows": PG_JSON_ROWS,
            "invoice": "(j.e->>0)::bigint",
            "amount": "(j.e->>1)::bigint",
            "greatest": "GREATEST",
            "plus": "+ 0",  # the invoices by primary key (as on SQLite)
            "materialized": "MATERIALIZED",
        }
    else:
        parts = {
            "rows": "json_each(:rows) j",
            "invoice": "json_extract(j.value, '$[0]')",
            "amount": "json_extract(j.value, '$[1]')",
            "greatest": "MAX",
            "plus": "+ 0",
            "materialized": SQLITE_MATERIALIZED,
        }
    if each_owed and not postgres:  # PostgreSQL: see _MOVED_CHANGES
        parts["after"] = _AFTER_OWNER.format(ledger=_AFTER_LEDGER)
        parts["fast"] = _FAST
        parts["owner"] = _OWNER.format(all_bucket=ALL)
    else:
        parts.update(after=_AFTER_LEDGER, fast="0", owner="")
    params: dict[str, Any] = {
        "t": tenant_id,
        "posted": InvoiceStatus.POSTED.value,
        "rows": json_text(list(per_invoice.items())),
    }
    dates = [bindparam(name, type_=Date) for name in edges]
    if postgres:
        moved = _MOVED.format(**parts)
        both = text(moved + _MOVED_CHANGES.format(all_bucket=ALL)).bindparams(*dates)
        found = session.connection().execute(both, {**params, **edges})
        _upsert(session, tenant_id, {(c, d): [int(b), int(n)] for c, d, b, n in found})
        return
    for statement in _APPLIED_TABLE:
        session.execute(text(statement))
    # ``b`` inlined: the fill reads each balance once (materialized, it was written twice).
    fill = _MOVED.format(**{**parts, "materialized": ""}) + _APPLIED_FILL
    session.execute(text(fill).bindparams(*dates), {**params, **edges})
    due: dict[Key, list[int]] = {}
    emptied = kept = 0
    for currency, day, balance, count, gone, rest in session.execute(text(_APPLIED_DUE)):
        due[(str(currency), _day(day))] = [int(balance), int(count)]
        emptied += int(gone)
        kept += int(rest)
    _upsert(session, tenant_id, due)
    if emptied:
        session.execute(text(_APPLIED_DELETE.format(all_bucket=ALL)), {"t": tenant_id})
    if kept:
        session.execute(text(_APPLIED_ACCOUNTS.format(all_bucket=ALL)), {"t": tenant_id})


# SQLite, :func:`entries_applied_owned`: the rows of one (currency, bucket) that hold ONE
# open invoice of the slice's accounts, bucket's and ALL, deleted and returned. The
# caller keeps, re-writes or restores each from what it held (see that function).
_OWNED_DELETE = """
DELETE FROM open_account_balances
WHERE tenant_id = ? AND currency = ? AND bucket IN (?, ?) AND invoices = 1
  AND account_id IN (SELECT value FROM json_each(?))
RETURNING bucket, account_id, balance_minor
"""

# The common case without a row read back (~half this path's cost was the returned
# rows, two a payment, each fetched by its own step): the accounts of one (currency,
# bucket) paid the same amount, both their rows deleted only if each counts ONE open
# invoice owing exactly that amount (emptied); all or none (a savepoint).
_EMPTIED_DELETE = """
DELETE FROM open_account_balances
WHERE tenant_id = ? AND currency = ? AND bucket IN (?, ?) AND invoices = 1
  AND balance_minor = ? AND account_id IN (SELECT value FROM json_each(?))
"""
# The same for a run of consecutive account ids, all of them paid (so every row in the
# range is one of theirs): read in key order, with no list to look each account up from
# (the list's accounts were ~40% of the statement's cost).
_EMPTIED_RANGE_DELETE = """
DELETE FROM open_account_balances
WHERE tenant_id = ? AND currency = ? AND bucket IN (?, ?) AND invoices = 1
  AND balance_minor = ? AND account_id BETWEEN ? AND ?
"""
# Accounts paid the same amount in a (currency, bucket) worth a statement of their own,
# and consecutive ones worth a range of their own.
_EMPTIED_AT_LEAST = 16
_EMPTIED_RANGE_AT_LEAST = 64


def _emptied_runs(accounts: list[int]) -> tuple[list[list[int]], list[int]]:
    """``accounts`` (ascending) as its runs of consecutive ids of at least
    :data:`_EMPTIED_RANGE_AT_LEAST`, and the others."""
    if accounts[-1] - accounts[0] + 1 == len(accounts):  # one run (the usual case)
        return ([accounts], []) if len(accounts) >= _EMPTIED_RANGE_AT_LEAST else ([], accounts)
    runs: list[list[int]] = []
    others: list[int] = []
    start = 0
    for i in range(1, len(accounts) + 1):
        if i == len(accounts) or accounts[i] != accounts[i - 1] + 1:
            run = accounts[start:i]
            if len(run) >= _EMPTIED_RANGE_AT_LEAST:
                runs.append(run)
            else:
                others.extend(run)
            start = i
    return runs, others


def _empty_owned(
    connection: Connection,
    tenant_id: int,
    currency: str,
    bucket: int,
    paid: dict[int, tuple[int, date, int]],
    due_changes: dict[Key, list[int]],
) -> None:
    """The accounts of ``paid`` emptied by one amount each, taken out of ``paid`` with
    their date rows' moves counted (see :data:`_EMPTIED_DELETE`): every deleted row held
    ONE open invoice and exactly what was applied to it (each invoice owed before, so it
    was that one), so the invoice owes nothing now and both rows go. A statement whose
    count is not two rows an account is undone, and its accounts stay in ``paid``."""
    by_amount: dict[int, list[int]] = {}
    for account, (_invoice, _due, amount) in paid.items():
        by_amount.setdefault(amount, []).append(account)
    emptied: list[tuple[int, list[int]]] = []
    for amount, listed in by_amount.items():
        if len(listed) < _EMPTIED_AT_LEAST or amount <= 0:
            continue
        runs, others = _emptied_runs(sorted(listed))
        for run in runs:
            if _emptied(
                connection,
                _EMPTIED_RANGE_DELETE,
                (tenant_id, currency, bucket, ALL, amount, run[0], run[-1]),
                len(run),
            ):
                emptied.append((amount, run))
        if len(others) >= _EMPTIED_AT_LEAST and _emptied(
            connection,
            _EMPTIED_DELETE,
            (tenant_id, currency, bucket, ALL, amount, json_text(others)),
            len(others),
        ):
            emptied.append((amount, others))
    for amount, accounts in emptied:
        for account in accounts:
            _invoice, due, _amount = paid.pop(account)
            change = due_changes.get((currency, due))
            if change is None:
                due_changes[(currency, due)] = [-amount, -1]
            else:
                change[0] -= amount
                change[1] -= 1


def _emptied(connection: Connection, statement: str, params: tuple[Any, ...], count: int) -> bool:
    """Run one of the emptying deletes for ``count`` accounts: kept when it deleted both
    rows of each (True), undone otherwise."""
    connection.exec_driver_sql("SAVEPOINT owned_emptied")
    if connection.exec_driver_sql(statement, params).rowcount != 2 * count:
        connection.exec_driver_sql("ROLLBACK TO SAVEPOINT owned_emptied")
        connection.exec_driver_sql("RELEASE SAVEPOINT owned_emptied")
        return False
    connection.exec_driver_sql("RELEASE SAVEPOINT owned_emptied")
    return True


# (currency, bucket) -> account -> (invoice, due date, amount) of a slice's applications.
_OwnedGroups = dict[tuple[str, int], dict[int, tuple[int, date, int]]]


def _owned_groups(
    session: Session,
    tenant_id: int,
    applied: Sequence[tuple[int, int]],
    owners: Mapping[int, tuple[str, Any, int]],
) -> tuple[_OwnedGroups, list[tuple[int, int]]]:
    """The applications of :func:`entries_applied_owned` by (currency, bucket) and
    account, each account once, and the rest (no owner, nothing applied, or an account
    with two of its invoices paid in a currency), which go the ledger's way: both
    databases' owned paths group a slice so."""
    per_invoice: dict[int, int] = {}
    for invoice_id, amount in applied:
        per_invoice[invoice_id] = per_invoice.get(invoice_id, 0) + int(amount)
    as_of = _as_of(session, tenant_id)  # first: see _as_of
    rest: list[tuple[int, int]] = []
    groups: _OwnedGroups = {}
    seen: dict[tuple[str, int], tuple[str, int] | None] = {}
    days: dict[Any, tuple[date, int]] = {}  # due date as read -> (date, bucket)
    for invoice_id, amount in per_invoice.items():
        owner = owners.get(invoice_id)
        if owner is None or amount <= 0:
            rest.append((invoice_id, amount))
            continue
        currency, read, account = owner
        day = days.get(read)
        if day is None:
            due = _day(read)
            day = days[read] = (due, bucket_of(due, as_of))
        due, bucket = day
        if (currency, account) in seen:
            rest.append((invoice_id, amount))
            earlier = seen[(currency, account)]
            if earlier is not None:
                first, _due, first_amount = groups[earlier].pop(account)
                rest.append((first, first_amount))
                seen[(currency, account)] = None
            continue
        seen[(currency, account)] = (currency, bucket)
        groups.setdefault((currency, bucket), {})[account] = (invoice_id, due, amount)
    return groups, rest


def _write_owned(
    session: Session,
    tenant_id: int,
    account_changes: dict[AccountKey, list[int]],
    due_changes: dict[Key, list[int]],
    rest: list[tuple[int, int]],
) -> None:
    """The end of both databases' owned paths: the account and date rows moved by what
    the emptied rows said, then the rest of the slice's invoices read from the ledger
    (not ``each_owed``'s ALL-row shortcut: the rows above moved)."""
    if account_changes:
        _upsert_accounts(session, tenant_id, account_changes)
    if due_changes:
        _upsert(session, tenant_id, due_changes)
    if rest:
        entries_applied_many(session, tenant_id, rest)


def entries_applied_owned(
    session: Session,
    tenant_id: int,
    applied: Sequence[tuple[int, int]],
    owners: Mapping[int, tuple[str, Any, int]],
) -> None:
    """:func:`entries_applied_many` with ``each_owed`` for applications whose invoices'
    (currency, due date as read, account) the caller knows (``owners``, by invoice id: a
    payment run's slice reads them with its decisions, off the writer). None of these is
    read here: a posted invoice is never re-dated and an account's invoices carry its
    currency. SQLite, under its write lock, per (currency, bucket) of the invoices (the
    bucket at the date read now):

    0. Accounts paid the same amount emptied by ONE statement, nothing read back
       (:func:`_empty_owned`); the others:
    1. ONE ``DELETE ... RETURNING`` of the rows that count ONE open invoice, the
       invoice's bucket's and ALL, of the accounts paid.
    2. A bucket row so returned counted the paid invoice alone (each owed something
       before its entries, so it was open, in that bucket): the invoice owed the row's
       balance and owes it less what was applied. Emptied (the common case: an account
       owing one invoice, paid in full) the row stays deleted; otherwise it is written
       back with the rest. The account's ALL row: returned (it counted that invoice
       alone too), the same; not returned (other open invoices), it moves by the
       invoice's move. The date rows move by the summed moves (no row read).
    3. An invoice whose bucket row was not returned (the bucket counts other invoices
       of the account, or no row: a summary out of step) goes :func:`entries_applied_many`'s
       way, after its ALL row, if returned, is written back as it was.

    Every figure written is a row's value read under the lock, plus or minus what was
    applied: exact whatever else changed since the caller read the owners.
    PostgreSQL, and invoices without an owner: :func:`entries_applied_many`."""
    if not applied:
        return
    if session.get_bind().dialect.name == "postgresql":
        _applied_owned_postgres(session, tenant_id, applied, owners)
        return
    groups, rest = _owned_groups(session, tenant_id, applied, owners)
    connection = session.connection()
    due_changes: dict[Key, list[int]] = {}
    account_changes: dict[AccountKey, list[int]] = {}
    for (currency, bucket), paid in sorted(groups.items()):
        _empty_owned(connection, tenant_id, currency, bucket, paid, due_changes)
        if not paid:
            continue
        held: dict[int, int] = {}  # account -> balance of its bucket row, deleted
        whole: dict[int, int] = {}  # account -> balance of its ALL row, deleted
        for row_bucket, account, balance in connection.exec_driver_sql(
            _OWNED_DELETE,
            (tenant_id, currency, bucket, ALL, json_text(sorted(paid))),
        ).all():
            (whole if row_bucket == ALL else held)[int(account)] = int(balance)
        for account, (invoice_id, due, amount) in paid.items():
            before = held.get(account)
            if before is None:
                if account in whole:  # written back as it was
                    account_changes[(currency, ALL, account)] = [whole[account], 1]
                rest.append((invoice_id, amount))
                continue
            after = before - amount
            moved = max(after, 0) - before
            crossed = -1 if after <= 0 else 0
            change = due_changes.setdefault((currency, due), [0, 0])
            change[0] += moved
            change[1] += crossed
            if after > 0:
                account_changes[(currency, bucket, account)] = [after, 1]
            if account in whole:  # what it held, moved: deleted when that is nothing
                rest_all = [whole[account] + moved, 1 + crossed]
                if rest_all[0] or rest_all[1]:
                    account_changes[(currency, ALL, account)] = rest_all
            elif moved or crossed:
                account_changes[(currency, ALL, account)] = [moved, crossed]
    _write_owned(session, tenant_id, account_changes, due_changes, rest)


# PostgreSQL, :func:`entries_applied_owned`: the accounts of one (currency, bucket) whose
# invoice a slice emptied, both their rows (the bucket's and ALL) deleted by ONE statement
# that reads neither the invoices nor the ledger. A row is deleted only if it counts ONE
# open invoice owing exactly what was applied to the account's (each owed before its
# entries, so it is that one, and owes nothing now); the accounts not emptied so (the
# bucket row or the ALL row kept: other open invoices, a partial payment, a summary out
# of step) come back with which of their rows went, nothing else does.
#
# The rows are read by ONE range scan of the slice's accounts (``BETWEEN :lo AND :hi``,
# the two buckets by ``IN``), each matched against the accounts by a hashed subplan
# (``... OR FALSE`` keeps the ``IN`` a filter: pulled up to a join, the planner may probe
# the key once a row, or drive the deletes in the accounts' order). A bitmap heap scan
# (the planner's choice for such a range, custom or generic plan) would delete them in
# the heap's order: bitmap scans are off for this statement (``SET LOCAL``, the unit's
# setting put back after it), so the rows go in the primary key's order, the order every
# writer of these rows locks them in (as the sorted nested loop this replaces). Probes of
# this key cost ~2.5 µs each (a varchar column in it: collation-aware comparisons), a
# range scan ~0.25 µs a row: the statement it replaces (every invoice and its ledger
# entries read, then each row deleted by key) cost ~14 µs of the server's CPU a payment,
# this one ~3 µs (docs/benchmarks.md, session 13, pgserver).
# The account ids and amounts come as two arrays (``unnest``): the same rows as a JSON
# array cost ~1 µs an element more to parse.
_OWNED_EMPTIED_PG = """
WITH d AS MATERIALIZED (
    SELECT u.a AS account_id, u.m AS amount
    FROM unnest(%(accounts)s::bigint[], %(amounts)s::bigint[]) AS u(a, m)
), z AS (
    DELETE FROM open_account_balances o
    WHERE o.tenant_id = %(t)s AND o.currency = %(currency)s
      AND o.bucket IN (%(bucket)s, %(all)s) AND o.account_id BETWEEN %(lo)s AND %(hi)s
      AND o.invoices = 1
      AND ((o.account_id, o.balance_minor) IN (SELECT account_id, amount FROM d) OR FALSE)
    RETURNING o.bucket, o.account_id
)
SELECT d.account_id,
       d.account_id IN (SELECT account_id FROM z WHERE bucket <> %(all)s),
       d.account_id IN (SELECT account_id FROM z WHERE bucket = %(all)s)
FROM d
WHERE d.account_id NOT IN (SELECT account_id FROM z WHERE bucket <> %(all)s)
   OR d.account_id NOT IN (SELECT account_id FROM z WHERE bucket = %(all)s)
"""


# The unit's setting read (first: the materialized step), then turned off.
_NO_BITMAPS = (
    "WITH p AS MATERIALIZED (SELECT current_setting('enable_bitmapscan') AS v) "
    "SELECT p.v, set_config('enable_bitmapscan', 'off', true) FROM p"
)
_BITMAPS_BACK = "SELECT set_config('enable_bitmapscan', %s, true)"


def _applied_owned_postgres(
    session: Session,
    tenant_id: int,
    applied: Sequence[tuple[int, int]],
    owners: Mapping[int, tuple[str, Any, int]],
) -> None:
    """:func:`entries_applied_owned` on PostgreSQL: per (currency, bucket) of the
    invoices, the accounts each paid ONE invoice emptied by :data:`_OWNED_EMPTIED_PG`
    (a payment run's usual slice: every account, one statement, no row back); the date
    rows move by what those invoices owed (all of it: ``-amount``, one invoice fewer).
    An account whose bucket row went but not its ALL row (it owes on other invoices in
    other buckets) has that row moved by the same; one whose ALL row went but not its
    bucket row (a summary out of step) has it written back as it was. The invoices of
    the accounts whose bucket row stayed, of an account paid twice in a currency, or
    without an owner, go :func:`entries_applied_many`'s way (the ledger read)."""
    groups, rest = _owned_groups(session, tenant_id, applied, owners)
    connection = session.connection()
    due_changes: dict[Key, list[int]] = {}
    account_changes: dict[AccountKey, list[int]] = {}
    bitmaps: str | None = None
    for (currency, bucket), paid in sorted(groups.items()):
        if not paid:
            continue
        if bitmaps is None:
            # The index's order, not the heap's (see _OWNED_EMPTIED_PG); put back after.
            bitmaps = str(connection.exec_driver_sql(_NO_BITMAPS).one()[0])
        accounts = sorted(paid)
        kept: dict[int, tuple[bool, bool]] = {
            int(account): (bool(emptied), bool(whole))
            for account, emptied, whole in connection.exec_driver_sql(
                _OWNED_EMPTIED_PG,
                {
                    "t": tenant_id,
                    "currency": currency,
                    "bucket": bucket,
                    "all": ALL,
                    "lo": accounts[0],
                    "hi": accounts[-1],
                    "accounts": pg_int_array(accounts),
                    "amounts": pg_int_array([paid[account][2] for account in accounts]),
                },
            )
        }
        for account in accounts:
            invoice_id, due, amount = paid[account]
            emptied, whole = kept.get(account, (True, True))
            if not emptied:
                if whole:  # written back as it was
                    account_changes[(currency, ALL, account)] = [amount, 1]
                rest.append((invoice_id, amount))
                continue
            change = due_changes.get((currency, due))
            if change is None:
                due_changes[(currency, due)] = [-amount, -1]
            else:
                change[0] -= amount
                change[1] -= 1
            if not whole:
                account_changes[(currency, ALL, account)] = [-amount, -1]
    if bitmaps is not None:
        connection.exec_driver_sql(_BITMAPS_BACK, (bitmaps,))
    _write_owned(session, tenant_id, account_changes, due_changes, rest)


# :func:`balances_moved` for moves a statement reads: {source} is a FROM item of
# (currency, due_date as stored, account_id, before, after) rows, one per invoice.
_MOVED_FROM = """
WITH m AS (
    SELECT currency, due_date, account_id,
           {greatest}(after, 0) - {greatest}(before, 0) AS moved,
           (CASE WHEN after > 0 THEN 1 ELSE 0 END)
             - (CASE WHEN before > 0 THEN 1 ELSE 0 END) AS crossed
    FROM {source} s
)
"""


def balances_moved_in_sql(
    session: Session, tenant_id: int, source: str, *, as_of: date | None = None
) -> None:
    """:func:`balances_moved` for moves the database holds (``source``: a FROM item of
    (currency, due_date, account_id, before, after), one row per posted invoice, balances
    in minor units; a bulk payment chunk staged in SQL passes its TEMP table): two
    grouped upserts, keys in order, with no Python per invoice (each invoice's tuple,
    the per-key dicts and the executemany's binding were ~12 µs an invoice)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if as_of is None:
        as_of = _as_of(session, tenant_id)  # first: see _as_of
    moved = _MOVED_FROM.format(greatest="GREATEST" if postgres else "MAX", source=source)
    params: dict[str, Any] = {"t": tenant_id}
    session.execute(text(moved + _MOVED_DUE), params)
    edges = {f"d{days}": as_of - timedelta(days=days) for days in (0, 30, 60, 90)}
    session.execute(
        text(moved + _MOVED_ACCOUNTS.format(all_bucket=ALL)).bindparams(
            *(bindparam(name, type_=Date) for name in edges)
        ),
        {**params, **edges},
    )


# -- moving the account buckets to another business date ---------------------------------


def as_of(session: Session, tenant_id: int) -> date:
    """The date the tenant's account buckets are counted at (unlocked: for readers)."""
    found = session.execute(select(_aging.c.as_of).where(_aging.c.tenant_id == tenant_id)).scalar()
    return EPOCH if found is None else _day(found)


def _open_in(session: Session, tenant_id: int, low: date, high: date) -> list[Any]:
    """(id, currency, due date, balance, account) of the posted invoices due in
    ``[low, high)``: a range of ``ix_invoices_tenant_due``."""
    inv = _invoices.c
    return list(
        session.connection().execute(
            select(*_open_columns(tenant_id)).where(
                inv.tenant_id == tenant_id,
                inv.due_date >= low,
                inv.due_date < high,
                inv.status == InvoiceStatus.POSTED.value,
            )
        )
    )


def age_to(session: Session, tenant_id: int, today: date) -> int:
    """Count the tenant's account buckets at ``today`` instead of their stored date (in
    either direction: a time zone change can move a business date back); returns how many
    open invoices changed bucket (-1: recounted).

    An invoice due ``d`` is past the edge ``k`` days (0, 30, 60, 90) on ``t`` when
    ``d < t - k``; between the dates ``lo < hi`` that changes exactly for ``d`` in
    ``[lo - k, hi - k)``: four windows of due dates (disjoint while ``hi - lo <= 30``),
    each a range read. A daily move reads the invoices due on four days."""
    stored = _as_of(session, tenant_id, exclusive=True)
    if stored == today:
        return 0
    low, high = min(stored, today), max(stored, today)
    if (high - low).days > _WINDOW_LIMIT:
        rebuild_accounts(session, tenant_id, today)
        return -1
    moves: dict[AccountKey, list[int]] = defaultdict(lambda: [0, 0])
    moved = 0
    for edge in (0, 30, 60, 90):
        shift = timedelta(days=edge)
        for _id, currency, due, balance, account in _open_in(
            session, tenant_id, low - shift, high - shift
        ):
            if balance <= 0:
                continue
            due = _day(due)
            old, new = bucket_of(due, stored), bucket_of(due, today)
            if old != new:
                moved += 1
                source, target = moves[(currency, old, account)], moves[(currency, new, account)]
                source[0] -= int(balance)
                source[1] -= 1
                target[0] += int(balance)
                target[1] += 1
    _upsert_accounts(session, tenant_id, moves)
    # Rows left at zero (their invoices moved on) would only lengthen the index.
    currencies = sorted({c for c, _b, _a in moves})
    if currencies:
        session.execute(
            delete(_accounts).where(
                _accounts.c.tenant_id == tenant_id,
                _accounts.c.currency.in_(currencies),
                _accounts.c.bucket.in_(range(BUCKETS)),
                _accounts.c.balance_minor == 0,
            )
        )
    session.execute(update(_aging).where(_aging.c.tenant_id == tenant_id).values(as_of=today))
    return moved


# -- reading, checking and repairing -------------------------------------------------------


def rows(session: Session, tenant_id: int) -> list[tuple[str, date, int, int]]:
    """(currency, due date, balance, invoices) of the tenant's keys that owe something."""
    write_pending(session)  # see _DEFERRED
    return [
        (str(c), d, int(b), int(n))
        for c, d, b, n in session.execute(
            select(_table.c.currency, _table.c.due_date, _table.c.balance_minor, _table.c.invoices)
            .where(_table.c.tenant_id == tenant_id, _table.c.invoices != 0)
            .order_by(_table.c.currency, _table.c.due_date)
        )
    ]


def recomputed_query(tenant_id: int | None = None) -> Any:
    """(tenant, currency, due date, balance, invoices) summed afresh from the posted
    invoices and the ledger: what the summary must hold. One grouped pass over each."""
    applied = select(
        LedgerEntry.invoice_id.label("invoice_id"),
        func.sum(LedgerEntry.amount_minor).label("applied"),
    ).where(LedgerEntry.invoice_id.is_not(None))
    invoices = select(
        Invoice.tenant_id,
        Invoice.id,
        Invoice.currency,
        Invoice.due_date,
        Invoice.amount_minor,
    ).where(Invoice.status == InvoiceStatus.POSTED)
    if tenant_id is not None:
        applied = applied.where(LedgerEntry.tenant_id == tenant_id)
        invoices = invoices.where(Invoice.tenant_id == tenant_id)
    sums = applied.group_by(LedgerEntry.invoice_id).subquery()
    inv = invoices.subquery()
    owed = (inv.c.amount_minor - func.coalesce(sums.c.applied, 0)).label("owed")
    per_invoice = (
        select(inv.c.tenant_id, inv.c.currency, inv.c.due_date, owed)
        .outerjoin(sums, sums.c.invoice_id == inv.c.id)
        .subquery()
    )
    return (
        select(
            per_invoice.c.tenant_id,
            per_invoice.c.currency,
            per_invoice.c.due_date,
            func.sum(per_invoice.c.owed).label("balance_minor"),
            func.count().label("invoices"),
        )
        .where(per_invoice.c.owed > 0)
        .group_by(per_invoice.c.tenant_id, per_invoice.c.currency, per_invoice.c.due_date)
    )


@dataclass(frozen=True, slots=True)
class Difference:
    tenant_id: int
    currency: str
    due_date: date
    stored: tuple[int, int]  # (balance, invoices) in the summary
    actual: tuple[int, int]  # recomputed from the invoices and the ledger


def differences(session: Session, tenant_id: int | None = None) -> list[Difference]:
    """Every key where the summary disagrees with the invoices and the ledger."""
    write_pending(session)  # see _DEFERRED
    actual = {
        (int(t), str(c), d): (int(b), int(n))
        for t, c, d, b, n in session.execute(recomputed_query(tenant_id))
    }
    stored_q = select(
        _table.c.tenant_id,
        _table.c.currency,
        _table.c.due_date,
        _table.c.balance_minor,
        _table.c.invoices,
    )
    if tenant_id is not None:
        stored_q = stored_q.where(_table.c.tenant_id == tenant_id)
    stored = {
        (int(t), str(c), d): (int(b), int(n))
        for t, c, d, b, n in session.execute(stored_q)
        if b or n
    }
    return [
        Difference(key[0], key[1], key[2], stored.get(key, (0, 0)), actual.get(key, (0, 0)))
        for key in sorted(set(actual) | set(stored))
        if stored.get(key, (0, 0)) != actual.get(key, (0, 0))
    ]


def rebuild(session: Session, tenant_id: int | None = None) -> None:
    """Replace the summary (of one tenant, or all) by its recomputation, in one
    ``INSERT ... SELECT``. The caller holds the write lock (SQLite) or runs it where no
    balance moves meanwhile (the migration, ``billcycle db open-balances --repair``:
    PostgreSQL takes a ``SHARE ROW EXCLUSIVE`` lock on the table first)."""
    write_pending(session)  # see _DEFERRED
    if session.get_bind().dialect.name == "postgresql":
        # The tenants' dates first, as writers take them (``_as_of``): a writer holding
        # its changes until its commit (``_DEFERRED``) holds its date, and would wait at
        # its commit for the table lock below while this waited for the date.
        for tenant in _tenants(session, tenant_id):
            _as_of(session, tenant, exclusive=True)
        # Writers wait for this transaction; the recomputation below sees every
        # transaction that moved the summary before it (they committed to release the
        # lock), and the deltas of those that move it later apply on top of it.
        session.connection().exec_driver_sql("LOCK TABLE open_balances IN SHARE ROW EXCLUSIVE MODE")
    stmt = delete(_table)
    if tenant_id is not None:
        stmt = stmt.where(_table.c.tenant_id == tenant_id)
    session.execute(stmt)
    session.execute(
        _table.insert().from_select(
            ["tenant_id", "currency", "due_date", "balance_minor", "invoices"],
            recomputed_query(tenant_id),
        )
    )
    for tenant in _tenants(session, tenant_id):
        rebuild_accounts(session, tenant)


# -- the account buckets: recounting, checking, rebuilding -------------------------------


def _owed_per_invoice(tenant_id: int) -> Any:
    """(currency, due date, account, owed) of the tenant's posted invoices: the ledger
    summed in one grouped pass, joined."""
    applied = (
        select(
            LedgerEntry.invoice_id.label("invoice_id"),
            func.sum(LedgerEntry.amount_minor).label("applied"),
        )
        .where(LedgerEntry.invoice_id.is_not(None), LedgerEntry.tenant_id == tenant_id)
        .group_by(LedgerEntry.invoice_id)
        .subquery()
    )
    inv = _invoices.c
    return (
        select(
            inv.currency,
            inv.due_date,
            inv.account_id,
            (inv.amount_minor - func.coalesce(applied.c.applied, 0)).label("owed"),
        )
        .select_from(_invoices)
        .outerjoin(applied, applied.c.invoice_id == inv.id)
        .where(inv.tenant_id == tenant_id, inv.status == InvoiceStatus.POSTED.value)
        .subquery()
    )


def bucket_sql(due: Any, as_of: date) -> Any:
    """:func:`bucket_of` in SQL, for a due-date column and a date."""
    return case(
        (due >= as_of, 0),
        (due >= as_of - timedelta(days=30), 1),
        (due >= as_of - timedelta(days=60), 2),
        (due >= as_of - timedelta(days=90), 3),
        else_=4,
    )


def recomputed_accounts_query(tenant_id: int, as_of: date) -> Any:
    """(currency, bucket, account, balance, invoices) summed afresh from the posted
    invoices and the ledger at ``as_of``, with the ALL rows: what the account summary
    must hold."""
    owed = _owed_per_invoice(tenant_id)
    bucket = bucket_sql(owed.c.due_date, as_of).label("bucket")
    per_bucket = (
        select(
            owed.c.currency,
            bucket,
            owed.c.account_id,
            func.sum(owed.c.owed).label("balance_minor"),
            func.count().label("invoices"),
        )
        .where(owed.c.owed > 0)
        .group_by(owed.c.currency, bucket, owed.c.account_id)
    )
    every = (
        select(
            owed.c.currency,
            literal(ALL, SmallInteger).label("bucket"),
            owed.c.account_id,
            func.sum(owed.c.owed).label("balance_minor"),
            func.count().label("invoices"),
        )
        .where(owed.c.owed > 0)
        .group_by(owed.c.currency, owed.c.account_id)
    )
    return per_bucket.union_all(every)


@dataclass(frozen=True, slots=True)
class AccountDifference:
    tenant_id: int
    currency: str
    bucket: int
    account_id: int
    stored: tuple[int, int]  # (balance, invoices) in the account summary
    actual: tuple[int, int]  # recomputed from the invoices and the ledger


def _tenants(session: Session, tenant_id: int | None) -> list[int]:
    if tenant_id is not None:
        return [tenant_id]
    from billcycle.tenancy.models import Tenant

    return [int(t) for t in session.scalars(select(Tenant.id).order_by(Tenant.id))]


def account_differences(session: Session, tenant_id: int | None = None) -> list[AccountDifference]:
    """Every (currency, bucket, account) where the account summary disagrees with the
    invoices and the ledger at the tenant's stored date: two ``EXCEPT`` queries, so that
    only the differing rows reach Python."""
    found: list[AccountDifference] = []
    for tenant in _tenants(session, tenant_id):
        recount = recomputed_accounts_query(tenant, as_of(session, tenant)).subquery()
        actual = select(*recount.c)
        c = _accounts.c
        stored = select(c.currency, c.bucket, c.account_id, c.balance_minor, c.invoices).where(
            c.tenant_id == tenant, (c.balance_minor != 0) | (c.invoices != 0)
        )
        rows: dict[tuple[str, int, int], list[tuple[int, int]]] = defaultdict(
            lambda: [(0, 0), (0, 0)]
        )
        for cur, b, a, bal, n in session.execute(except_(stored, actual)):
            rows[(str(cur), int(b), int(a))][0] = (int(bal), int(n))
        for cur, b, a, bal, n in session.execute(except_(actual, stored)):
            rows[(str(cur), int(b), int(a))][1] = (int(bal), int(n))
        found.extend(
            AccountDifference(tenant, cur, b, a, pair[0], pair[1])
            for (cur, b, a), pair in sorted(rows.items())
        )
    return found


def rebuild_accounts(session: Session, tenant_id: int, today: date | None = None) -> None:
    """Replace a tenant's account summary by its recount at ``today`` (default: the
    stored date), in one ``INSERT ... SELECT``; the date row is locked first (writers wait)."""
    stored = _as_of(session, tenant_id, exclusive=True)
    when = stored if today is None else today
    session.execute(delete(_accounts).where(_accounts.c.tenant_id == tenant_id))
    recount = recomputed_accounts_query(tenant_id, when).subquery()
    session.execute(
        _accounts.insert().from_select(
            ["tenant_id", "currency", "bucket", "account_id", "balance_minor", "invoices"],
            select(literal(tenant_id, BigInteger), *recount.c),
        )
    )
    if when != stored:
        session.execute(update(_aging).where(_aging.c.tenant_id == tenant_id).values(as_of=when))
    # Fresh statistics for the planners: after a recount of a million rows PostgreSQL,
    # still estimating the table empty, read a bucket through the primary key and sorted
    # it (6.9 s) instead of reading the first rows of ``ix_open_account_balances_largest``.
    session.execute(text("ANALYZE open_account_balances"))
