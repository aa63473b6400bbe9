"""SQL of a bill-run chunk prepared ahead of its write (SQLite; ``invoicing.prepared``).

A helper process rates chunk N+1 while the single writer writes chunk N, and leaves its
rows in a **stage**: a scratch SQLite file of its own, attached to the connection as
``billrun_stage``. The writer then moves them with three set-based statements whose
work is SQLite's alone (no row passes through Python on the writer's side):
``INSERT ... SELECT`` of the invoices and of the items (ids, numbers and timestamps
filled in under the writer's lock) and one ``UPDATE ... FROM`` of the watermarks that
also checks, row by row, that every billed charge, its subscription and its account
still hold the values the helper rated (the snapshot columns staged beside each
watermark). A stage is scratch: written without journal or sync, deleted after use;
what is durable is only what the writer's own transaction commits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from billcycle import phases
from billcycle.db.bulk import dbapi, sqlite_storage_value
from billcycle.db.engine import at_checkin
from billcycle.invoicing.generator_repository import (
    ACCOUNT,
    CHARGE_COLUMNS,
    INVOICE_SEPARATELY,
    ITEM_COLUMNS,
    AccountRow,
)

STAGE = "billrun_stage"
_ATTACHED = "billrun_stage_attached"

# The charge's columns rating reads (and the item's name), its subscription's invoice
# grouping and its account's billing columns: staged with each watermark as the helper
# read them, compared with the writer's rows under its lock.
CHARGE_CHECKED = tuple(column.name for column in CHARGE_COLUMNS[ACCOUNT:INVOICE_SEPARATELY])
ACCOUNT_CHECKED = AccountRow._fields[1:]

# A stage's tables. ``invoices``: one row an invoice, its position (the writer adds its
# first id) and the columns that differ between a chunk's invoices. ``charges``: one row
# a billed charge, in item order, its invoice's position, its rated shape and its new
# watermark, then the CHECKED columns as the helper's snapshot read them (the items'
# subscription, name and type are taken from there: checked, they are the writer's).
# ``shapes``: the items of each distinct rating (SQLite storage forms), seq in order.
_INVOICES = "idx INTEGER PRIMARY KEY, account_id, due_date, currency, amount_minor"
_CHARGES = ", ".join(
    (
        "id",
        "invoice_idx",
        "shape",
        "new_billed_through",
        *(f"c_{name}" for name in CHARGE_CHECKED),
        "s_invoice_separately",
        *(f"a_{name}" for name in ACCOUNT_CHECKED),
    )
)
SHAPE_COLUMNS = ITEM_COLUMNS[6:]  # service_start .. voided: an item's formatted tail
_SHAPES = f"shape, seq, {', '.join(SHAPE_COLUMNS)}, PRIMARY KEY (shape, seq)"


def _detach_on_checkin(dbapi_connection: Any, record: Any) -> None:
    """A pooled connection goes back without the stage (DETACH is refused inside a
    transaction, so it waits for the connection's return)."""
    if dbapi_connection is not None and record.info.pop(_ATTACHED, False):
        try:
            dbapi_connection.execute(f"DETACH {STAGE}")
        except sqlite3.Error:
            record.info[_ATTACHED] = True


def _attach(session: Session, path: str) -> Any:
    raw = dbapi(session)
    # The pooled connection's info lives as long as the DBAPI connection (the checkin
    # event sees the same dict).
    info = session.connection().connection.info
    # Detached at checkin through the engine's own checkin listener (registered when
    # ``make_engine`` built it): a listener added now could fail a statement another
    # thread runs on the engine ("deque mutated during iteration").
    at_checkin(info, _detach_on_checkin)
    if info.get(_ATTACHED) and not raw.in_transaction:
        raw.execute(f"DETACH {STAGE}")
        info.pop(_ATTACHED)
    raw.execute(f"ATTACH DATABASE ? AS {STAGE}", (path,))
    info[_ATTACHED] = True
    return raw


# -- the helper's side ---------------------------------------------------------------------


def create_stage(session: Session, path: str) -> None:
    """Attach a new stage file to ``session``'s connection and create its tables; call
    before the session's transaction begins (journal settings are refused inside one).

    Tenant: a scratch file of this chunk only.
    """
    raw = _attach(session, path)
    raw.execute(f"PRAGMA {STAGE}.journal_mode=OFF")
    raw.execute(f"PRAGMA {STAGE}.synchronous=OFF")
    raw.execute(f"CREATE TABLE {STAGE}.invoices ({_INVOICES})")
    raw.execute(f"CREATE TABLE {STAGE}.charges ({_CHARGES})")
    raw.execute(f"CREATE TABLE {STAGE}.shapes ({_SHAPES}) WITHOUT ROWID")


def begin_snapshot(session: Session) -> None:
    """Begin the transaction whose first read pins the helper's snapshot (pysqlite opens
    none before a SELECT); the unit of work commits it with the stage's rows.

    Tenant: no statement on a table.
    """
    raw = dbapi(session)
    if not raw.in_transaction:
        raw.execute("BEGIN")


# Every statement here is built from this module's constants (table and column names),
# never from input: values are bound.
_FILL_INVOICES = f"INSERT INTO {STAGE}.invoices VALUES (?, ?, ?, ?, ?)"  # noqa: S608
_FILL_CHARGES = (
    f"INSERT INTO {STAGE}.charges (id, invoice_idx, shape, new_billed_through) "  # noqa: S608
    "VALUES (?, ?, ?, ?)"
)
_PLACES = ", ".join("?" for _ in range(2 + len(SHAPE_COLUMNS)))
_FILL_SHAPES = f"INSERT INTO {STAGE}.shapes VALUES ({_PLACES})"  # noqa: S608
_CHECKED_TARGETS = ", ".join(
    [f"c_{n}" for n in CHARGE_CHECKED]
    + ["s_invoice_separately"]
    + [f"a_{n}" for n in ACCOUNT_CHECKED]
)
_CHECKED_SOURCES = ", ".join(
    [f"c.{n}" for n in CHARGE_CHECKED]
    + ["s.invoice_separately"]
    + [f"a.{n}" for n in ACCOUNT_CHECKED]
)
_SNAPSHOT = (
    f"UPDATE {STAGE}.charges AS w SET ({_CHECKED_TARGETS}) = ("  # noqa: S608 (constants)
    f"SELECT {_CHECKED_SOURCES} FROM main.subscription_charges AS c "
    "JOIN main.subscriptions AS s ON s.id = c.subscription_id "
    "JOIN main.accounts AS a ON a.id = c.account_id "
    "WHERE c.id = w.id)"
)


def fill_stage(
    session: Session,
    invoices: Sequence[tuple[int, int, date, str, int]],
    charges: Sequence[tuple[int, int, int, date | None]],
    shapes: Sequence[Sequence[Any]],
) -> None:
    """Write a prepared chunk: ``invoices`` (position, account, due date, currency,
    amount), ``charges`` in item order (charge, invoice position, shape, new watermark)
    and ``shapes`` (shape, seq, then SHAPE_COLUMNS in storage forms); then stage, beside
    each charge, the CHECKED columns as this transaction reads them.

    Tenant: the charges' ids come from the helper's tenant-scoped read.
    """
    raw = dbapi(session)
    stored: dict[date, Any] = {}

    def day(value: date | None) -> Any:
        if value is None:
            return None
        found = stored.get(value)
        if found is None:
            found = stored[value] = sqlite_storage_value(value)
        return found

    raw.executemany(
        _FILL_INVOICES,
        [
            (idx, account, day(due), currency, amount)
            for idx, account, due, currency, amount in invoices
        ],
    )
    raw.executemany(_FILL_CHARGES, [(cid, idx, shape, day(bt)) for cid, idx, shape, bt in charges])
    raw.executemany(_FILL_SHAPES, shapes)
    raw.execute(_SNAPSHOT)


# -- the writer's side ---------------------------------------------------------------------


def attach_stage(session: Session, path: str) -> None:
    """Attach a prepared chunk's stage to the writer's connection (inside its
    transaction is allowed; it is detached when the connection returns to the pool).

    Tenant: a scratch file of this chunk only.
    """
    _attach(session, path)


_INVOICE_PARAMS = (
    "tenant_id",
    "status",
    "invoice_date",
    "target_date",
    "tax_amount_minor",
    "bill_run_id",
    "source",
    "created_at",
    "updated_at",
)
_WRITE_INVOICES = (
    "INSERT INTO main.invoices (id, invoice_number, account_id, due_date, currency, "  # noqa: S608
    f"amount_minor, {', '.join(_INVOICE_PARAMS)}) "
    "SELECT ? + idx, ? || printf('%0*d', ?, ? + idx), account_id, due_date, currency, "
    f"amount_minor, {', '.join('?' for _ in _INVOICE_PARAMS)} "
    f"FROM {STAGE}.invoices ORDER BY idx"
)
_WRITE_ITEMS = (
    "INSERT INTO main.invoice_items (tenant_id, invoice_id, subscription_id, "  # noqa: S608
    f"subscription_charge_id, charge_name, charge_type, {', '.join(SHAPE_COLUMNS)}) "
    "SELECT ?, ? + w.invoice_idx, w.c_subscription_id, w.id, w.c_name, w.c_charge_type, "
    f"{', '.join(f's.{n}' for n in SHAPE_COLUMNS)} "
    f"FROM {STAGE}.charges AS w JOIN {STAGE}.shapes AS s ON s.shape = w.shape "
    "ORDER BY w.rowid, s.seq"
)
_SAME_ACCOUNT = " AND ".join(f"a.{n} IS w.a_{n}" for n in ACCOUNT_CHECKED)
_SAME = " AND ".join(
    [f"c.{n} IS w.c_{n}" for n in CHARGE_CHECKED]
    + [
        "EXISTS (SELECT 1 FROM main.subscriptions AS s WHERE s.id = c.subscription_id "
        "AND s.invoice_separately IS w.s_invoice_separately)",
        "EXISTS (SELECT 1 FROM main.accounts AS a WHERE a.id = c.account_id "  # noqa: S608
        f"AND {_SAME_ACCOUNT})",
    ]
)
# ``+w.id``: without statistics on the stage, SQLite would scan every charge of the
# database and look each up in the stage; the ``+`` leaves it one plan, the stage's rows
# each looked up by primary key.
_ADVANCE = (
    "UPDATE main.subscription_charges AS c "  # noqa: S608
    "SET billed_through = w.new_billed_through, last_billed_at = ? "
    f"FROM {STAGE}.charges AS w WHERE c.id = +w.id AND {_SAME}"
)
_STAGED = f"SELECT count(*) FROM {STAGE}.charges"  # noqa: S608


def write_staged(
    session: Session,
    *,
    tenant_id: int,
    first_id: int,
    first_number: int,
    prefix: str,
    digits: int,
    shared: dict[str, Any],
) -> None:
    """Move the stage's invoices and items into the database: invoice ids from
    ``first_id``, numbers ``prefix`` + ``first_number``.. zero-padded to ``digits``,
    the columns every invoice shares from ``shared`` (storage forms, by column name).
    The watermarks: ``advance_staged_watermarks``.

    Tenant: the stage holds one tenant's chunk, checked by the caller.
    """
    raw = dbapi(session)
    raw.execute(
        _WRITE_INVOICES,
        (first_id, prefix, digits, first_number, *(shared[name] for name in _INVOICE_PARAMS)),
    )
    phases.lap("write invoices")
    raw.execute(_WRITE_ITEMS, (tenant_id, first_id))
    phases.lap("write items")


def advance_staged_watermarks(session: Session, now: Any) -> tuple[int, int]:
    """Advance the staged watermarks of charges whose checked columns (and their
    subscription's and account's) are still what the helper read: (moved, staged).

    Tenant: the stage holds one tenant's chunk, checked by the caller.
    """
    raw = dbapi(session)
    moved = raw.execute(_ADVANCE, (sqlite_storage_value(now),)).rowcount
    staged = raw.execute(_STAGED).fetchone()[0]
    return int(moved), int(staged)
