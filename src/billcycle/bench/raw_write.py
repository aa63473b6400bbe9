"""The floor a bill run is compared with: the same rows written straight into the same
database, from prepared Python tuples, as fast as the database takes them.

A bill run writes one invoice per account, K x C x periods items, and one watermark per
charge. The floor writes the same number of invoice and item rows into scratch tables
with the same columns and the same indexes (no foreign keys: those are the bill run's
integrity, not the database's write speed), and moves the same charges' watermarks with
one set-based UPDATE of the real ``subscription_charges`` rows to the very values the
bill run gave them. PostgreSQL: ``COPY`` (the watermarks through a staging table and
one ``UPDATE ... FROM``); SQLite: ``executemany`` in one transaction.

The scratch tables are ordinary tables, not TEMP ones: PostgreSQL writes no WAL for
temporary tables (and SQLite keeps them in a separate file), which would flatter the
floor against a bill run whose writes are durable.

Rows are prepared a batch at a time (not timed) and written a batch at a time (timed),
so the floor needs no more memory at a million accounts than at a thousand.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Engine, Index, MetaData, Table, text

from billcycle.db import bulk
from billcycle.invoicing.generator_repository import INVOICE_COLUMNS
from billcycle.invoicing.generator_repository import ITEM_COLUMNS as GENERATED_ITEM_COLUMNS
from billcycle.invoicing.models import Invoice, InvoiceItem

BATCH_ACCOUNTS = 20_000
_FLOOR_PHASES = ("write invoices", "write items", "watermarks", "commit")

# The generator's item columns plus the id, which the floor writes itself.
ITEM_COLUMNS = ("id", *GENERATED_ITEM_COLUMNS)


@dataclass(frozen=True)
class RawWriteSpec:
    tenant_id: int
    periods: tuple[tuple[date, date], ...]  # the service periods each charge is billed for
    billed_through: date  # the watermark after billing
    invoice_date: date
    price: Decimal = Decimal("30")
    price_minor: int = 3000
    currency: str = "USD"


@dataclass(frozen=True)
class RawWriteResult:
    seconds: float
    invoices: int
    items: int
    watermarks: int
    # seconds per table written and for the commit (the bill run's phases of the same name)
    phases: dict[str, float] = field(default_factory=dict)


def storage_value(sqlite: bool, value: Any) -> Any:
    """A Python value as the database stores it: as is for PostgreSQL (psycopg adapts
    it), SQLAlchemy's text and integer forms for SQLite (the generator's own rule)."""
    return bulk.sqlite_storage_value(value) if sqlite else value


def _scratch(source: Table, name: str, metadata: MetaData) -> Table:
    """``source``'s columns and indexes (renamed), without its foreign keys."""
    columns = [
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable, autoincrement=False)
        for c in source.columns
    ]
    table = Table(name, metadata, *columns)
    for index in source.indexes:
        Index(
            f"{name}_{index.name}"[:63],
            *[table.c[c.name] for c in index.columns],
            unique=index.unique,
            **index.dialect_kwargs,
        )
    return table


def _charges(engine: Engine, tenant_id: int) -> Iterator[list[tuple[int, int, int, str]]]:
    """The tenant's charges, account by account, a batch of accounts at a time:
    (account id, subscription id, charge id, name)."""
    last_account = 0
    while True:
        with engine.connect() as conn:
            accounts = conn.execute(
                text(
                    "SELECT id FROM accounts WHERE tenant_id = :t AND id > :a ORDER BY id LIMIT :n"
                ),
                {"t": tenant_id, "a": last_account, "n": BATCH_ACCOUNTS},
            ).scalars()
            ids = list(accounts)
            if not ids:
                return
            rows = conn.execute(
                text(
                    "SELECT account_id, subscription_id, id, name FROM subscription_charges "
                    "WHERE tenant_id = :t AND account_id BETWEEN :lo AND :hi "
                    "ORDER BY account_id, subscription_id, id"
                ),
                {"t": tenant_id, "lo": ids[0], "hi": ids[-1]},
            ).all()
        last_account = ids[-1]
        yield [(r[0], r[1], r[2], r[3]) for r in rows]


class _Prepared:
    """One batch of rows as tuples, in each database's storage form."""

    def __init__(self, sqlite: bool, spec: RawWriteSpec, now: datetime) -> None:
        self.sqlite = sqlite
        self.spec = spec
        self.now = now
        self.next_invoice = 1
        self.next_item = 1

    def value(self, v: Any) -> Any:
        return storage_value(self.sqlite, v)

    def batch(
        self, charges: list[tuple[int, int, int, str]]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        spec = self.spec
        v = self.value
        periods = [(v(start), v(end)) for start, end in spec.periods]
        inv_date, now = v(spec.invoice_date), v(self.now)
        one, price = v(Decimal(1)), v(spec.price)
        false, through = v(False), v(spec.billed_through)
        invoices: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        watermarks: list[tuple[Any, ...]] = []
        current_account = None
        invoice_id = 0
        amount = 0
        for account_id, sub_id, charge_id, name in charges:
            if account_id != current_account:
                if current_account is not None:
                    invoices.append(self._invoice(invoice_id, current_account, amount, inv_date))
                current_account = account_id
                invoice_id = self.next_invoice
                self.next_invoice += 1
                amount = 0
            for start, end in periods:
                items.append(
                    (
                        self.next_item,
                        spec.tenant_id,
                        invoice_id,
                        sub_id,
                        charge_id,
                        name,
                        "Recurring",
                        start,
                        end,
                        one,
                        price,
                        spec.price_minor,
                        false,
                        false,
                    )
                )
                self.next_item += 1
                amount += spec.price_minor
            watermarks.append((charge_id, through, now))
        if current_account is not None:
            invoices.append(self._invoice(invoice_id, current_account, amount, inv_date))
        return invoices, items, watermarks

    def _invoice(self, invoice_id: int, account_id: int, amount: int, day: Any) -> tuple[Any, ...]:
        now = self.value(self.now)
        return (
            invoice_id,
            self.spec.tenant_id,
            account_id,
            f"RAW{invoice_id:08d}",
            "Draft",
            day,
            day,
            self.value(self.spec.billed_through),
            self.spec.currency,
            amount,
            0,
            None,
            "BillRun",
            now,
            now,
        )


def measure(engine: Engine, spec: RawWriteSpec) -> RawWriteResult:
    """Write the tenant's bill-run-equivalent rows straight into the database; returns
    the seconds spent writing (the statements and the commit, not the preparation)."""
    suffix = uuid.uuid4().hex[:8]
    metadata = MetaData()
    invoices = _scratch(Invoice.__table__, f"bench_raw_invoices_{suffix}", metadata)  # type: ignore[arg-type]
    items = _scratch(InvoiceItem.__table__, f"bench_raw_items_{suffix}", metadata)  # type: ignore[arg-type]
    metadata.create_all(engine)
    try:
        if bulk.is_postgres(engine):
            return _measure_postgres(engine, spec, invoices.name, items.name)
        return _measure_sqlite(engine, spec, invoices.name, items.name)
    finally:
        metadata.drop_all(engine)


def _measure_postgres(engine: Engine, spec: RawWriteSpec, inv: str, itm: str) -> RawWriteResult:
    prepared = _Prepared(False, spec, datetime.now(UTC))
    counts = [0, 0, 0]
    spent = dict.fromkeys(_FLOOR_PHASES, 0.0)
    raw = engine.raw_connection()
    try:
        conn: Any = raw.dbapi_connection
        with conn.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE bench_raw_watermarks "
                "(id bigint, billed_through date, last_billed_at timestamptz) ON COMMIT DROP"
            )
            for charges in _charges(engine, spec.tenant_id):
                invoice_rows, item_rows, watermark_rows = prepared.batch(charges)
                for phase, table, columns, rows in (
                    ("write invoices", inv, INVOICE_COLUMNS, invoice_rows),
                    ("write items", itm, ITEM_COLUMNS, item_rows),
                    (
                        "watermarks",
                        "bench_raw_watermarks",
                        ("id", "billed_through", "last_billed_at"),
                        watermark_rows,
                    ),
                ):
                    started = time.perf_counter()
                    bulk.copy_rows(conn, table, columns, rows)
                    spent[phase] += time.perf_counter() - started
                counts[0] += len(invoice_rows)
                counts[1] += len(item_rows)
                counts[2] += len(watermark_rows)
            started = time.perf_counter()
            cursor.execute(
                "UPDATE subscription_charges c SET billed_through = w.billed_through, "
                "last_billed_at = w.last_billed_at FROM bench_raw_watermarks w WHERE c.id = w.id"
            )
            spent["watermarks"] += time.perf_counter() - started
            started = time.perf_counter()
            conn.commit()
            spent["commit"] += time.perf_counter() - started
    finally:
        raw.close()
    seconds = sum(spent.values())
    return RawWriteResult(seconds, counts[0], counts[1], counts[2], spent)


def _measure_sqlite(engine: Engine, spec: RawWriteSpec, inv: str, itm: str) -> RawWriteResult:
    prepared = _Prepared(True, spec, datetime.now(UTC))
    counts = [0, 0, 0]
    spent = dict.fromkeys(_FLOOR_PHASES, 0.0)
    raw = engine.raw_connection()
    try:
        conn: Any = raw.dbapi_connection
        insert_invoice = bulk.sqlite_insert(inv, INVOICE_COLUMNS)
        insert_item = bulk.sqlite_insert(itm, ITEM_COLUMNS)
        update = (
            "UPDATE subscription_charges SET billed_through = ?, last_billed_at = ? WHERE id = ?"
        )
        conn.execute("BEGIN IMMEDIATE")
        # Read through another connection: WAL lets it read beside our write transaction.
        for charges in _charges(engine, spec.tenant_id):
            invoice_rows, item_rows, watermark_rows = prepared.batch(charges)
            updates = [(w[1], w[2], w[0]) for w in watermark_rows]
            started = time.perf_counter()
            conn.executemany(insert_invoice, invoice_rows)
            wrote_invoices = time.perf_counter()
            conn.executemany(insert_item, item_rows)
            wrote_items = time.perf_counter()
            conn.executemany(update, updates)
            spent["write invoices"] += wrote_invoices - started
            spent["write items"] += wrote_items - wrote_invoices
            spent["watermarks"] += time.perf_counter() - wrote_items
            counts[0] += len(invoice_rows)
            counts[1] += len(item_rows)
            counts[2] += len(watermark_rows)
        started = time.perf_counter()
        conn.commit()
        spent["commit"] += time.perf_counter() - started
    finally:
        raw.close()
    return RawWriteResult(sum(spent.values()), counts[0], counts[1], counts[2], spent)


# -- generic floors (posting, write-offs) -----------------------------------------------------


def timed_statements(engine: Engine, statements: list[tuple[str, dict[str, Any]]]) -> float:
    """Run set-based statements in one transaction; the seconds including the commit."""
    with engine.connect() as conn:
        started = time.perf_counter()
        for sql, params in statements:
            conn.execute(text(sql), params)
        conn.commit()
        return time.perf_counter() - started


def copy_rows(
    engine: Engine,
    source: Any,
    columns: tuple[str, ...],
    batches: Iterator[list[tuple[Any, ...]]],
) -> tuple[float, int]:
    """Write prepared rows into a scratch table shaped like ``source`` (a mapped class):
    COPY on PostgreSQL, executemany on SQLite, one transaction; values must already be in
    the database's storage form (see :func:`storage_value`). Returns (seconds, rows)."""
    metadata = MetaData()
    name = f"bench_raw_{source.__tablename__}_{uuid.uuid4().hex[:8]}"[:63]
    table = _scratch(source.__table__, name, metadata)
    metadata.create_all(engine)
    seconds = 0.0
    count = 0
    raw = engine.raw_connection()
    try:
        conn: Any = raw.dbapi_connection
        if bulk.is_postgres(engine):
            for rows in batches:
                started = time.perf_counter()
                bulk.copy_rows(conn, table.name, columns, rows)
                seconds += time.perf_counter() - started
                count += len(rows)
        else:
            sql = bulk.sqlite_insert(table.name, columns)
            conn.execute("BEGIN IMMEDIATE")
            for rows in batches:
                started = time.perf_counter()
                conn.executemany(sql, rows)
                seconds += time.perf_counter() - started
                count += len(rows)
        started = time.perf_counter()
        conn.commit()
        seconds += time.perf_counter() - started
    finally:
        raw.close()
        metadata.drop_all(engine)
    return seconds, count
