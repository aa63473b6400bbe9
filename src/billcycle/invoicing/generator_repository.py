"""SQL of invoice generation: a few set-based statements per chunk of accounts.

Everything here reads and writes Core rows (not ORM objects): generation runs over
millions of charges, and ORM identity-map bookkeeping would dominate its cost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, TypeAlias, cast

import psycopg
from sqlalchemy import Row, Table, and_, bindparam, insert, or_, select, text, update
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.subscriptions.models import Subscription, SubscriptionCharge, SubscriptionChargeTier

# A Core row of any shape (SQLAlchemy 2.1 rows are variadic generics).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

_INVOICES = cast(Table, Invoice.__table__)
_ITEMS = cast(Table, InvoiceItem.__table__)
_CHARGES = cast(Table, SubscriptionCharge.__table__)
_charge = SubscriptionCharge.__table__.c
_sub = Subscription.__table__.c
_tier = SubscriptionChargeTier.__table__.c
_account = Account.__table__.c

CHARGE_COLUMNS = (
    _charge.id,
    _charge.account_id,
    _charge.subscription_id,
    _charge.name,
    _charge.charge_type,
    _charge.charge_model,
    _charge.billing_period,
    _charge.specific_billing_period,
    _charge.billing_timing,
    _charge.bill_cycle_day,
    _charge.weekly_bill_cycle_day,
    _charge.currency,
    _charge.quantity,
    _charge.price,
    _charge.effective_start_date,
    _charge.effective_end_date,
    _charge.grid_start_date,
    _charge.billed_through,
    _sub.invoice_separately,
)


def _ids_condition(column: Any, ids: Sequence[int]) -> Any:
    """``column`` among ``ids``: as a BETWEEN when the ids are (nearly) a contiguous range,
    which is how bill-run chunks arrive, since a thousand-element IN list costs more to
    bind and plan than the rows it saves; callers drop the extra rows by id afterwards."""
    lo, hi = min(ids), max(ids)
    if hi - lo + 1 <= 2 * len(ids):
        return column.between(lo, hi)
    return column.in_(ids)


def lock_accounts(session: Session, tenant_id: int, account_ids: Sequence[int]) -> None:
    """Serialise generation per account: a second generator for the same accounts waits
    here and then sees the first one's watermarks (PostgreSQL; SQLite has one writer)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        select(_account.id)
        .where(_account.tenant_id == tenant_id, _ids_condition(_account.id, account_ids))
        .order_by(_account.id)
        .with_for_update()
    ).all()


def load_accounts(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> dict[int, AnyRow]:
    rows = session.execute(
        select(
            _account.id,
            _account.currency,
            _account.bill_cycle_day,
            _account.payment_term,
        ).where(_account.tenant_id == tenant_id, _ids_condition(_account.id, account_ids))
    ).all()
    wanted = set(account_ids)
    return {row.id: row for row in rows if row.id in wanted}


def load_billable_charges(
    session: Session,
    tenant_id: int,
    account_ids: Sequence[int],
    target_date: date,
    *,
    subscription_ids: Sequence[int] | None = None,
    exclude_charge_types: Iterable[str] = (),
) -> list[AnyRow]:
    """Charge segments that may have something to bill (or credit) by ``target_date``.

    The filter is deliberately coarse (rating makes the exact call) but prunes the
    common case: a segment already billed past the target date, or fully billed.
    """
    stmt = (
        select(*CHARGE_COLUMNS)
        .join(Subscription, _sub.id == _charge.subscription_id)
        .where(
            _charge.tenant_id == tenant_id,
            _ids_condition(_charge.account_id, account_ids),
            _charge.effective_start_date <= target_date,
            or_(
                _charge.billed_through.is_(None),
                and_(
                    _charge.billed_through <= target_date,
                    or_(
                        _charge.effective_end_date.is_(None),
                        _charge.billed_through < _charge.effective_end_date,
                    ),
                ),
                # A span billed past a (new) end date must be credited back.
                _charge.billed_through > _charge.effective_end_date,
            ),
        )
        .order_by(_charge.account_id, _charge.subscription_id, _charge.id)
    )
    if subscription_ids is not None:
        stmt = stmt.where(_charge.subscription_id.in_(subscription_ids))
    excluded = list(exclude_charge_types)
    if excluded:
        stmt = stmt.where(_charge.charge_type.not_in(excluded))
    wanted = set(account_ids)
    return [row for row in session.execute(stmt).all() if row.account_id in wanted]


def load_tiers(session: Session, charge_ids: Sequence[int]) -> dict[int, list[AnyRow]]:
    if not charge_ids:
        return {}
    rows = session.execute(
        select(
            _tier.subscription_charge_id,
            _tier.starting_unit,
            _tier.ending_unit,
            _tier.price,
            _tier.price_format,
        )
        .where(_tier.subscription_charge_id.in_(charge_ids))
        .order_by(_tier.subscription_charge_id, _tier.tier)
    ).all()
    grouped: dict[int, list[AnyRow]] = defaultdict(list)
    for row in rows:
        grouped[row.subscription_charge_id].append(row)
    return grouped


INVOICE_COLUMNS = (
    "id",
    "tenant_id",
    "account_id",
    "invoice_number",
    "status",
    "invoice_date",
    "due_date",
    "target_date",
    "currency",
    "amount_minor",
    "tax_amount_minor",
    "bill_run_id",
    "source",
    "created_at",
    "updated_at",
)
ITEM_COLUMNS = (
    "tenant_id",
    "invoice_id",
    "subscription_id",
    "subscription_charge_id",
    "charge_name",
    "charge_type",
    "service_start",
    "service_end",
    "quantity",
    "unit_price",
    "amount_minor",
    "is_credit",
    "voided",
)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def allocate_invoice_ids(session: Session, count: int) -> list[int]:
    """Ids for ``count`` new invoices, taken before inserting so rows can be streamed
    (COPY) without RETURNING. PostgreSQL draws them from the table's sequence; SQLite
    continues after the current maximum, which is safe because the caller already holds
    SQLite's single write lock (taken by the invoice-number reservation)."""
    if count <= 0:
        return []
    if _is_postgres(session):
        return list(
            session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('invoices', 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
        )
    top = session.scalar(text("SELECT COALESCE(MAX(id), 0) FROM invoices")) or 0
    return list(range(int(top) + 1, int(top) + 1 + count))


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_ESCAPES)


def _opt(value: Any) -> str:
    return "\\N" if value is None else str(value)


def _invoice_line(r: tuple[Any, ...]) -> str:
    # INVOICE_COLUMNS order; dates, ints and Decimals print as COPY reads them.
    return (
        f"{r[0]}\t{r[1]}\t{r[2]}\t{_text(r[3])}\t{_text(r[4])}\t{r[5]}\t{r[6]}\t{r[7]}\t"
        f"{r[8]}\t{r[9]}\t{r[10]}\t{_opt(r[11])}\t{_text(r[12])}\t{r[13].isoformat()}\t"
        f"{r[14].isoformat()}\n"
    )


def _item_line(r: tuple[Any, ...]) -> str:
    # ITEM_COLUMNS order.
    return (
        f"{r[0]}\t{r[1]}\t{_opt(r[2])}\t{r[3]}\t{_text(r[4])}\t{_text(r[5])}\t{r[6]}\t"
        f"{r[7]}\t{r[8]}\t{r[9]}\t{r[10]}\t{'t' if r[11] else 'f'}\t{'t' if r[12] else 'f'}\n"
    )


def _copy_lines(session: Session, table: str, columns: tuple[str, ...], payload: str) -> None:
    raw = cast(psycopg.Connection[Any], session.connection().connection.dbapi_connection)
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        copy.write(payload.encode())


def insert_invoices(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Rows are tuples in INVOICE_COLUMNS order, ids included."""
    if not rows:
        return
    if _is_postgres(session):
        _copy_lines(session, "invoices", INVOICE_COLUMNS, "".join(map(_invoice_line, rows)))
    else:
        session.execute(
            insert(_INVOICES), [dict(zip(INVOICE_COLUMNS, r, strict=True)) for r in rows]
        )


def insert_items(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Rows are tuples in ITEM_COLUMNS order."""
    if not rows:
        return
    if _is_postgres(session):
        _copy_lines(session, "invoice_items", ITEM_COLUMNS, "".join(map(_item_line, rows)))
    else:
        session.execute(insert(_ITEMS), [dict(zip(ITEM_COLUMNS, r, strict=True)) for r in rows])


def advance_watermarks(
    session: Session, watermarks: list[tuple[int, date | None]], now: datetime
) -> None:
    """Set each charge segment's billed-through date: one statement on PostgreSQL
    (UPDATE ... FROM unnest), an executemany on SQLite."""
    if not watermarks:
        return
    if _is_postgres(session):
        session.execute(
            text(
                "UPDATE subscription_charges AS c SET billed_through = v.bt, last_billed_at = :now "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:bts AS date[])) AS v(id, bt) "
                "WHERE c.id = v.id"
            ),
            {"ids": [w[0] for w in watermarks], "bts": [w[1] for w in watermarks], "now": now},
        )
        return
    session.execute(
        update(_CHARGES)
        .where(_charge.id == bindparam("charge_id"))
        .values(billed_through=bindparam("through"), last_billed_at=bindparam("billed_at")),
        [{"charge_id": cid, "through": bt, "billed_at": now} for cid, bt in watermarks],
    )
