"""A fast bulk loader for large synthetic data sets (benchmarks, scale tests).

It writes accounts, subscriptions and charge segments straight into the tables, bypassing
the services' per-object validation; that is the point: building a million accounts
through the API would measure the loader, not the bill run. The rows are exactly what the
services would create for the same input (Active accounts, EVERGREEN subscriptions, one
segment per charge), so a bill run over them exercises the production path.

Rows go out as the database takes them fastest: ``COPY ... FROM STDIN`` on PostgreSQL
(text format, rendered here: the values are ids, numbers and constants that need no
escaping), and plain DB-API ``executemany`` in the caller's transaction on SQLite. Ids
are allocated up front (``nextval`` over ``generate_series`` on PostgreSQL; the table's
``max(id)`` on SQLite, whose single writer we already are once the number blocks are
reserved), so children can point at parents without a round trip per batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from billcycle.catalog.models import (
    Product,
    ProductRatePlan,
    ProductRatePlanCharge,
    ProductRatePlanChargeTier,
)
from billcycle.db.bulk import (
    copy_lines,
    copy_value,
    dbapi,
    is_postgres,
    sqlite_insert,
    sqlite_storage_value,
)
from billcycle.ids import NUMBER_FORMATS, format_number
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.tenancy.numbers import reserve

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DatasetSpec:
    accounts: int
    subscriptions_per_account: int = 1
    charges_per_subscription: int = 1
    price: Decimal = Decimal("30")
    currency: str = "USD"
    start: date = date(2026, 1, 1)
    bill_cycle_day: int = 1
    batch: int = 1
    batch_rows: int = 20_000


@dataclass(frozen=True)
class Dataset:
    account_ids: tuple[int, int]  # first and last id
    accounts: int
    subscriptions: int
    charges: int


def _catalog(session: Session, tenant_id: int, spec: DatasetSpec) -> tuple[int, int, list[int]]:
    product = Product(
        tenant_id=tenant_id,
        name="Bench product",
        sku=f"BENCH-{tenant_id}-{spec.accounts}",
        effective_start_date=date(2000, 1, 1),
        effective_end_date=date(2099, 12, 31),
        created_at=_T0,
        updated_at=_T0,
    )
    plan = ProductRatePlan(tenant_id=tenant_id, name="Bench plan", created_at=_T0, updated_at=_T0)
    product.rate_plans.append(plan)
    for index in range(spec.charges_per_subscription):
        charge = ProductRatePlanCharge(
            tenant_id=tenant_id,
            name=f"Monthly fee {index + 1}",
            charge_type="Recurring",
            charge_model="Flat Fee Pricing",
            billing_period="Month",
            billing_timing="IN_ADVANCE",
            bill_cycle_type="DefaultFromCustomer",
            trigger_event="ContractEffective",
            created_at=_T0,
            updated_at=_T0,
        )
        charge.tiers.append(
            ProductRatePlanChargeTier(
                tenant_id=tenant_id,
                currency=spec.currency,
                tier=1,
                price=spec.price,
                price_format="Flat Fee",
            )
        )
        plan.charges.append(charge)
    session.add(product)
    session.flush()
    return product.id, plan.id, [c.id for c in plan.charges]


# -- writers ---------------------------------------------------------------------------------


class RowWriter(Protocol):
    """Writes rows of ``varying values + constants`` into a table, in the caller's
    transaction. Varying values must be ints or strings without tabs, newlines or
    backslashes (ids, numbers, generated names)."""

    def new_ids(self, table: str, count: int) -> list[int]: ...

    def write(
        self,
        table: str,
        varying: Sequence[str],
        constants: dict[str, Any],
        rows: Iterable[tuple[Any, ...]],
    ) -> None: ...


class _CopyWriter:
    """PostgreSQL: ``COPY FROM STDIN`` in text format."""

    def __init__(self, session: Session) -> None:
        self._conn = dbapi(session)
        self._locked: set[str] = set()
        # The rows are consistent by construction, so a superuser skips the per-row
        # foreign-key triggers for this transaction, as pg_restore --disable-triggers
        # does (they are most of a plain COPY's cost here); others keep them.
        with self._conn.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            row = cursor.fetchone()
            if row is not None and row[0]:
                cursor.execute("SET LOCAL session_replication_role = replica")

    def new_ids(self, table: str, count: int) -> list[int]:
        """A block of ``count`` ids in one step: while this transaction holds the table in
        SHARE ROW EXCLUSIVE mode no other INSERT can draw from its sequence, so moving
        the sequence past the block is safe (``nextval`` per id costs ~5 us each)."""
        with self._conn.cursor() as cursor:
            if table not in self._locked:
                cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
                self._locked.add(table)
            cursor.execute(
                "SELECT setval(seq, nextval(seq) + %s - 1) "
                "FROM (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq) s",
                (count, table),
            )
            row = cursor.fetchone()
            assert row is not None
            last = int(row[0])
            return list(range(last - count + 1, last + 1))

    def write(
        self,
        table: str,
        varying: Sequence[str],
        constants: dict[str, Any],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        suffix = "\t".join(copy_value(v) for v in constants.values()) + "\n"
        # %-formatting is the cheapest way to render a row (about half of str.join).
        template = "\t".join("%s" for _ in varying) + "\t" + suffix.replace("%", "%%")
        copy_lines(self._conn, table, [*varying, *constants], _batched(template, rows))


def _batched(template: str, rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    """Rows rendered through ``template``, joined 10,000 at a time (one COPY write each)."""
    buffer: list[str] = []
    for row in rows:
        buffer.append(template % row)
        if len(buffer) >= 10_000:
            yield "".join(buffer)
            buffer.clear()
    if buffer:
        yield "".join(buffer)


class _ExecutemanyWriter:
    """SQLite: ``executemany`` of plain tuples, values in SQLAlchemy's storage formats."""

    def __init__(self, session: Session) -> None:
        self._conn = dbapi(session)
        self._next: dict[str, int] = {}

    def new_ids(self, table: str, count: int) -> list[int]:
        if table not in self._next:
            cursor = self._conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608
            self._next[table] = int(cursor.fetchone()[0]) + 1
        first = self._next[table]
        self._next[table] = first + count
        return list(range(first, first + count))

    def write(
        self,
        table: str,
        varying: Sequence[str],
        constants: dict[str, Any],
        rows: Iterable[tuple[Any, ...]],
    ) -> None:
        columns = [*varying, *constants]
        suffix = tuple(sqlite_storage_value(v) for v in constants.values())
        self._conn.executemany(sqlite_insert(table, columns), (row + suffix for row in rows))


def row_writer(session: Session) -> RowWriter:
    if is_postgres(session):
        return _CopyWriter(session)
    return _ExecutemanyWriter(session)


# -- the data set ----------------------------------------------------------------------------


def _number_format(sequence: str) -> str:
    """``format_number`` as a %-template (it runs millions of times here)."""
    prefix, digits = NUMBER_FORMATS[sequence]
    template = f"{prefix}%0{digits}d"
    assert template % 7 == format_number(sequence, 7)
    return template


def load(session: Session, tenant_id: int, spec: DatasetSpec) -> Dataset:
    """Insert the data set in the caller's transaction (one transaction takes a million
    accounts; commit it to make the rows visible to workers)."""
    product_id, plan_id, catalog_charges = _catalog(session, tenant_id, spec)
    k = spec.subscriptions_per_account
    c = spec.charges_per_subscription
    first_account = reserve(session, tenant_id, "account", spec.accounts)
    subs_total = spec.accounts * k
    first_sub = reserve(session, tenant_id, "subscription", subs_total)
    first_charge = reserve(session, tenant_id, "charge", subs_total * c)
    session.flush()
    writer = row_writer(session)
    start_date = spec.start
    account_constants: dict[str, Any] = {
        "tenant_id": tenant_id,
        "currency": spec.currency,
        "bill_cycle_day": spec.bill_cycle_day,
        "batch": spec.batch,
        "payment_term": "Net 30",
        "auto_pay": False,
        "status": "Active",
        "invoice_delivery_prefs_email": False,
        "created_at": _T0,
        "updated_at": _T0,
    }
    sub_constants: dict[str, Any] = {
        "tenant_id": tenant_id,
        "status": "Active",
        "term_type": "EVERGREEN",
        "initial_term_period_type": "Month",
        "renewal_term_period_type": "Month",
        "current_term_period_type": "Month",
        "auto_renew": False,
        "renewal_setting": "RENEW_WITH_SPECIFIC_TERM",
        "contract_effective_date": start_date,
        "service_activation_date": start_date,
        "customer_acceptance_date": start_date,
        "subscription_start_date": start_date,
        "term_start_date": start_date,
        "invoice_separately": False,
        "version": 1,
        "created_at": _T0,
        "updated_at": _T0,
    }
    plan_constants: dict[str, Any] = {
        "tenant_id": tenant_id,
        "product_id": product_id,
        "product_rate_plan_id": plan_id,
        "name": "Bench plan",
        "product_name": "Bench product",
        "product_sku": "BENCH",
        "created_at": _T0,
        "updated_at": _T0,
    }
    charge_constants: dict[str, Any] = {
        "tenant_id": tenant_id,
        "segment": 1,
        "is_last_segment": True,
        "charge_type": "Recurring",
        "charge_model": "Flat Fee Pricing",
        "billing_period": "Month",
        "billing_timing": "IN_ADVANCE",
        "bill_cycle_type": "DefaultFromCustomer",
        "trigger_event": "ContractEffective",
        "currency": spec.currency,
        "quantity": Decimal(1),
        "price": spec.price,
        "effective_start_date": start_date,
        "grid_start_date": start_date,
        "created_at": _T0,
        "updated_at": _T0,
    }
    account_number, sub_number, charge_number = (
        _number_format("account"),
        _number_format("subscription"),
        _number_format("charge"),
    )
    catalog = [(charge_id, f"Monthly fee {i + 1}") for i, charge_id in enumerate(catalog_charges)]
    first_id = last_id = 0
    for start in range(0, spec.accounts, spec.batch_rows):
        n = min(spec.batch_rows, spec.accounts - start)
        account_ids = writer.new_ids("accounts", n)
        number0 = first_account + start
        writer.write(
            "accounts",
            ("id", "account_number", "name"),
            account_constants,
            (
                (aid, account_number % (number0 + i), f"Bench account {number0 + i}")
                for i, aid in enumerate(account_ids)
            ),
        )
        first_id = first_id or account_ids[0]
        last_id = account_ids[-1]
        sub_ids = writer.new_ids("subscriptions", n * k)
        owners = [aid for aid in account_ids for _ in range(k)]
        sub0 = first_sub + start * k
        writer.write(
            "subscriptions",
            ("id", "account_id", "subscription_number"),
            sub_constants,
            (
                (sid, owner, sub_number % (sub0 + i))
                for i, (sid, owner) in enumerate(zip(sub_ids, owners, strict=True))
            ),
        )
        plan_ids = writer.new_ids("subscription_rate_plans", n * k)
        writer.write(
            "subscription_rate_plans",
            ("id", "subscription_id"),
            plan_constants,
            zip(plan_ids, sub_ids, strict=True),
        )
        charge0 = first_charge + start * k * c
        writer.write(
            "subscription_charges",
            (
                "subscription_rate_plan_id",
                "subscription_id",
                "account_id",
                "product_rate_plan_charge_id",
                "name",
                "charge_number",
            ),
            charge_constants,
            (
                (rp, sid, owner, catalog_id, name, charge_number % (charge0 + j * c + i))
                for j, (rp, sid, owner) in enumerate(zip(plan_ids, sub_ids, owners, strict=True))
                for i, (catalog_id, name) in enumerate(catalog)
            ),
        )
    return Dataset(
        account_ids=(first_id, last_id),
        accounts=spec.accounts,
        subscriptions=subs_total,
        charges=subs_total * c,
    )


DATASET_TABLES = (
    "accounts",
    "subscriptions",
    "subscription_rate_plans",
    "subscription_charges",
    "invoices",
    "invoice_items",
)


def vacuum_analyze(engine: Engine, tables: Sequence[str] = DATASET_TABLES) -> None:
    """Refresh visibility and planner statistics after a bulk load on PostgreSQL (what
    autovacuum does a little later on its own); SQLite's plans here need no statistics."""
    if not is_postgres(engine):
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"VACUUM (ANALYZE) {', '.join(tables)}"))


def load_posted_invoices(
    session: Session,
    tenant_id: int,
    account_ids: Sequence[int],
    count: int,
    *,
    amount_minor: int = 3000,
    currency: str = "USD",
    invoice_date: date = date(2026, 1, 1),
) -> list[int]:
    """``count`` Posted invoices (no items: write-offs only look at the amount and the
    ledger), spread round-robin over ``account_ids``; returns their ids in order."""
    first = reserve(session, tenant_id, "invoice", count)
    session.flush()
    writer = row_writer(session)
    ids = writer.new_ids("invoices", count)
    constants: dict[str, Any] = {
        "tenant_id": tenant_id,
        "status": "Posted",
        "invoice_date": invoice_date,
        "due_date": invoice_date,
        "target_date": invoice_date,
        "currency": currency,
        "amount_minor": amount_minor,
        "tax_amount_minor": 0,
        "source": "API",
        "posted_at": _T0,
        "created_at": _T0,
        "updated_at": _T0,
    }
    owners = len(account_ids)
    writer.write(
        "invoices",
        ("id", "account_id", "invoice_number"),
        constants,
        (
            (invoice_id, account_ids[i % owners], format_number("invoice", first + i))
            for i, invoice_id in enumerate(ids)
        ),
    )
    open_balances.add_posted(
        session,
        tenant_id,
        ((currency, invoice_date, amount_minor, account_ids[i % owners]) for i in range(count)),
    )
    return ids
