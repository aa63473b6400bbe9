"""SQL of invoice generation: a few set-based statements per chunk of accounts.

Everything here reads and writes Core rows (not ORM objects): generation runs over
millions of charges, and ORM identity-map bookkeeping would dominate its cost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, TypeAlias

from sqlalchemy import Row, and_, func, or_, select, text
from sqlalchemy.orm import Session

from billcycle import phases
from billcycle.accounts.models import Account
from billcycle.db.bulk import (
    copy_lines,
    copy_text,
    copy_value,
    dbapi,
    fetch_rows,
    is_postgres,
    sqlite_insert,
    sqlite_storage_value,
)
from billcycle.db.engine import begin_sqlite_write
from billcycle.subscriptions.models import Subscription, SubscriptionCharge, SubscriptionChargeTier

# A Core row of any shape (SQLAlchemy 2.1 rows are variadic generics).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

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
# Positions in a CHARGE_COLUMNS row, and the slice that rating reads (with the account's
# billing day and the tiers): everything but the ids, the name and the invoice grouping.
ID, ACCOUNT, SUBSCRIPTION, NAME, CHARGE_TYPE, CHARGE_MODEL = range(6)
INVOICE_SEPARATELY = 18
RATING_INPUTS = slice(4, 18)
# load_billable_charges returns compact rows: the first six CHARGE_COLUMNS (same
# positions), then every rating input as ONE string (RATING_KEY: equal strings, equal
# inputs), then the invoice grouping. Building 14 Python values a charge cost more than
# SQLite's whole query; rating needs the typed inputs once per distinct key, which
# ``load_charge_rows`` reads in full.
RATING_KEY, COMPACT_SEPARATELY = 6, 7


class ChargeRow(NamedTuple):
    """A CHARGE_COLUMNS row with Python types (what ``to_charge_terms`` reads)."""

    id: int
    account_id: int
    subscription_id: int
    name: str
    charge_type: str
    charge_model: str
    billing_period: str | None
    specific_billing_period: int | None
    billing_timing: str
    bill_cycle_day: int | None
    weekly_bill_cycle_day: str | None
    currency: str
    quantity: Decimal
    price: Decimal | None
    effective_start_date: date
    effective_end_date: date | None
    grid_start_date: date | None
    billed_through: date | None
    invoice_separately: bool


def _sqlite_charge(row: Sequence[Any]) -> ChargeRow:
    def day(value: str | None) -> date | None:
        return None if value is None else date.fromisoformat(value)

    def number(value: str | None) -> Decimal | None:
        return None if value is None else Decimal(value).normalize()

    start = date.fromisoformat(row[14])
    quantity = number(row[12])
    assert quantity is not None  # NOT NULL column
    return ChargeRow(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        quantity,
        number(row[13]),
        start,
        day(row[15]),
        day(row[16]),
        day(row[17]),
        bool(row[18]),
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
    here and then sees the first one's watermarks. PostgreSQL locks the account rows;
    SQLite has one writer, so taking its write lock before reading does the same."""
    if not is_postgres(session):
        begin_sqlite_write(dbapi(session))
        return
    session.connection().execute(
        select(_account.id)
        .where(_account.tenant_id == tenant_id, _ids_condition(_account.id, account_ids))
        .order_by(_account.id)
        .with_for_update()
    ).all()


class AccountRow(NamedTuple):
    id: int
    currency: str
    bill_cycle_day: int
    payment_term: str


def load_accounts(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> dict[int, AccountRow]:
    rows = fetch_rows(
        session,
        select(
            _account.id,
            _account.currency,
            _account.bill_cycle_day,
            _account.payment_term,
        ).where(_account.tenant_id == tenant_id, _ids_condition(_account.id, account_ids)),
    )
    wanted = set(account_ids)
    new = tuple.__new__  # AccountRow(*row) without its argument handling, per account
    return {row[0]: new(AccountRow, row) for row in rows if row[0] in wanted}


def _rating_key(postgres: bool) -> Any:
    """One string of every rating input, NULLs distinct from any value: each input
    quoted as an SQL literal (NULL bare), joined by ``|``."""
    inputs: tuple[Any, ...] = tuple(CHARGE_COLUMNS)[RATING_INPUTS]
    if postgres:
        return func.concat_ws("|", *(func.quote_nullable(column) for column in inputs))
    return func.printf("|".join("%Q" for _ in inputs), *inputs)


def load_billable_charges(
    session: Session,
    tenant_id: int,
    account_ids: Sequence[int],
    target_date: date,
    *,
    subscription_ids: Sequence[int] | None = None,
    exclude_charge_types: Iterable[str] = (),
) -> list[Sequence[Any]]:
    """Charge segments that may have something to bill (or credit) by ``target_date``,
    as compact rows (the first six CHARGE_COLUMNS, RATING_KEY, COMPACT_SEPARATELY) in
    the database's own form: ``load_charge_rows`` gives the full rows rating reads.

    The filter is deliberately coarse (rating makes the exact call) but prunes the
    common case: a segment already billed past the target date, or fully billed.
    """
    stmt = _charges_query(
        select(
            *CHARGE_COLUMNS[:RATING_KEY],
            _rating_key(is_postgres(session)),
            _sub.invoice_separately,
        ),
        tenant_id,
    ).where(
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
    if subscription_ids is not None:
        stmt = stmt.where(_charge.subscription_id.in_(subscription_ids))
    excluded = list(exclude_charge_types)
    if excluded:
        stmt = stmt.where(_charge.charge_type.not_in(excluded))
    stmt = stmt.order_by(_charge.account_id, _charge.subscription_id, _charge.id)
    wanted = set(account_ids)
    # Raw DBAPI rows: most rows only feed the rating memo's key; the typed view
    # (``RowFormat.charge`` of a full row) is built once per distinct key.
    return [row for row in fetch_rows(session, stmt) if row[ACCOUNT] in wanted]


def _charges_query(stmt: Any, tenant_id: int) -> Any:
    return stmt.join(Subscription, _sub.id == _charge.subscription_id).where(
        _charge.tenant_id == tenant_id
    )


def load_charge_rows(
    session: Session, tenant_id: int, charge_ids: Iterable[int]
) -> dict[int, Sequence[Any]]:
    """Full CHARGE_COLUMNS rows (database form) of ``charge_ids``, by id."""
    ids = sorted(set(charge_ids))
    found: dict[int, Sequence[Any]] = {}
    for start in range(0, len(ids), 5_000):
        rows = fetch_rows(
            session,
            _charges_query(select(*CHARGE_COLUMNS), tenant_id).where(
                _charge.id.in_(ids[start : start + 5_000])
            ),
        )
        found.update((row[ID], row) for row in rows)
    return found


def load_tiers(session: Session, charge_ids: Sequence[int]) -> dict[int, list[AnyRow]]:
    """Tenant: ``charge_ids`` come from load_billable_charges, filtered on the tenant."""
    if not charge_ids:
        return {}
    rows = (
        session.connection()
        .execute(
            select(
                _tier.subscription_charge_id,
                _tier.starting_unit,
                _tier.ending_unit,
                _tier.price,
                _tier.price_format,
            )
            .where(_tier.subscription_charge_id.in_(charge_ids))
            .order_by(_tier.subscription_charge_id, _tier.tier)
        )
        .all()
    )
    grouped: dict[int, list[AnyRow]] = defaultdict(list)
    for row in rows:
        grouped[row.subscription_charge_id].append(row)
    return grouped


def discount_terms(
    session: Session, charge_ids: Sequence[int]
) -> dict[int, tuple[int, str | None, str | None, int | None]]:
    """(rate plan, discount level, apply-discount-to, up-to-periods) of each charge
    segment, for a chunk that holds discount charges.

    Tenant: the charge ids come from load_billable_charges, filtered on the tenant.
    """
    found: dict[int, tuple[int, str | None, str | None, int | None]] = {}
    ids = sorted(set(charge_ids))
    for start in range(0, len(ids), 5_000):
        rows = session.connection().execute(
            select(
                _charge.id,
                _charge.subscription_rate_plan_id,
                _charge.discount_level,
                _charge.apply_discount_to,
                _charge.up_to_periods,
            ).where(_charge.id.in_(ids[start : start + 5_000]))
        )
        for row in rows:
            found[row[0]] = (row[1], row[2], row[3], row[4])
    return found


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


def allocate_invoice_ids(session: Session, count: int) -> list[int]:
    """Ids for ``count`` new invoices, taken before inserting so rows can be streamed
    (COPY) without RETURNING. PostgreSQL draws them from the table's sequence; SQLite
    continues after the current maximum, which is safe because the caller already holds
    SQLite's single write lock (taken by the invoice-number reservation).

    PostgreSQL: the sequence is found once, by an uncorrelated subquery (an InitPlan) that
    yields its ``regclass``; written ``nextval(pg_get_serial_sequence(...))`` the look-up
    by name ran again for every id (40,000 ids: ~180-240 ms against ~20-35 ms, idle).

    Tenant: invoice ids come from one sequence that every tenant shares.
    """
    if count <= 0:
        return []
    if is_postgres(session):
        return list(
            session.scalars(
                text(
                    "SELECT nextval((SELECT pg_get_serial_sequence('invoices', 'id')::regclass)) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
        )
    top = session.scalar(text("SELECT COALESCE(MAX(id), 0) FROM invoices")) or 0
    return list(range(int(top) + 1, int(top) + 1 + count))


class RowFormat(Protocol):
    """A chunk's rows in the shape of the database's fastest bulk path, formatted once.

    Generation builds millions of rows whose values mostly repeat (the same periods and
    prices), so an item's charge-independent part (its "tail") is formatted once per
    rating shape and reused; only ids and names are formatted per row.
    """

    name: str

    def charge(self, row: Sequence[Any]) -> ChargeRow:
        """The typed view of a row from ``load_billable_charges``."""
        ...

    def item_tail(
        self,
        service_start: date,
        service_end: date,
        quantity: Decimal,
        unit_price: Decimal,
        amount_minor: int,
        is_credit: bool,
    ) -> Any: ...

    def item_head(
        self,
        tenant_id: int,
        invoice_id: int,
        subscription_id: int,
        charge_id: int,
        charge_name: str,
        charge_type: str,
    ) -> Any:
        """An item's charge-dependent part: ``head + tail`` is the whole row."""
        ...

    def invoice_stamper(self, shared: InvoiceShared) -> InvoiceStamper:
        """A chunk's invoice template: the columns its invoices share, formatted once;
        the stamper fills in the few that differ (see InvoiceStamper)."""
        ...

    def insert(self, session: Session, invoices: list[Any], items: list[Any]) -> None: ...


class InvoiceShared(NamedTuple):
    """The INVOICE_COLUMNS a chunk's invoices share."""

    tenant_id: int
    status: str
    invoice_date: date
    target_date: date
    tax_amount_minor: int
    bill_run_id: int | None
    source: str
    now: datetime


class InvoiceStamper(Protocol):
    def __call__(
        self,
        invoice_id: int,
        account_id: int,
        number: str,
        due_date: date,
        currency: str,
        amount_minor: int,
    ) -> Any:
        """One invoice row in the format's bulk form (INVOICE_COLUMNS order)."""
        ...


class _CopyFormat:
    """PostgreSQL: COPY text lines (tab-separated, backslash escapes, \\N for NULL)."""

    name = "postgresql"

    def charge(self, row: Sequence[Any]) -> ChargeRow:
        return ChargeRow._make(row)  # psycopg already typed its values

    def item_tail(
        self,
        service_start: date,
        service_end: date,
        quantity: Decimal,
        unit_price: Decimal,
        amount_minor: int,
        is_credit: bool,
    ) -> str:
        return (
            f"{service_start}\t{service_end}\t{format(quantity, 'f')}\t"
            f"{format(unit_price, 'f')}\t{amount_minor}\t{'t' if is_credit else 'f'}\tf\n"
        )

    def item_head(
        self,
        tenant_id: int,
        invoice_id: int,
        subscription_id: int,
        charge_id: int,
        charge_name: str,
        charge_type: str,
    ) -> str:
        # ITEM_COLUMNS order; the tail ends the line.
        return (
            f"{tenant_id}\t{invoice_id}\t{subscription_id}\t{charge_id}\t"
            f"{copy_text(charge_name)}\t{copy_text(charge_type)}\t"
        )

    def invoice_stamper(self, shared: InvoiceShared) -> InvoiceStamper:
        # A chunk's invoices share their status, dates, run, source and timestamps: the
        # line's shared stretches are formatted once (a due date once per distinct one).
        tenant = f"\t{shared.tenant_id}\t"
        status = f"\t{copy_text(shared.status)}\t{copy_value(shared.invoice_date)}\t"
        target = f"\t{copy_value(shared.target_date)}\t"
        tail = "\t" + "\t".join(
            copy_value(v)
            for v in (
                shared.tax_amount_minor,
                shared.bill_run_id,
                shared.source,
                shared.now,
                shared.now,
            )
        )
        dues: dict[date, str] = {}

        def stamp(
            invoice_id: int,
            account_id: int,
            number: str,
            due_date: date,
            currency: str,
            amount_minor: int,
        ) -> str:
            due = dues.get(due_date)
            if due is None:
                due = dues[due_date] = copy_value(due_date)
            return (
                f"{invoice_id}{tenant}{account_id}\t{copy_text(number)}{status}{due}{target}"
                f"{copy_text(currency)}\t{amount_minor}{tail}\n"
            )

        return stamp

    def insert(self, session: Session, invoices: list[str], items: list[str]) -> None:
        if invoices:
            copy_lines(dbapi(session), "invoices", INVOICE_COLUMNS, ["".join(invoices)])
        phases.lap("write invoices")
        if items:
            copy_lines(dbapi(session), "invoice_items", ITEM_COLUMNS, ["".join(items)])
        phases.lap("write items")


class _SqliteFormat:
    """SQLite: tuples already in SQLAlchemy's storage forms, for the DBAPI's executemany
    (binding through SQLAlchemy's type processors cost more than SQLite's own insert)."""

    name = "sqlite"
    charge = staticmethod(_sqlite_charge)
    _insert_invoices = sqlite_insert("invoices", INVOICE_COLUMNS)
    _insert_items = sqlite_insert("invoice_items", ITEM_COLUMNS)

    def item_tail(
        self,
        service_start: date,
        service_end: date,
        quantity: Decimal,
        unit_price: Decimal,
        amount_minor: int,
        is_credit: bool,
    ) -> tuple[Any, ...]:
        return (
            service_start.isoformat(),
            service_end.isoformat(),
            format(quantity.normalize(), "f"),
            format(unit_price.normalize(), "f"),
            amount_minor,
            int(is_credit),
            0,
        )

    def item_head(
        self,
        tenant_id: int,
        invoice_id: int,
        subscription_id: int,
        charge_id: int,
        charge_name: str,
        charge_type: str,
    ) -> tuple[Any, ...]:
        return (tenant_id, invoice_id, subscription_id, charge_id, charge_name, charge_type)

    def invoice_stamper(self, shared: InvoiceShared) -> InvoiceStamper:
        # The shared columns in their storage forms, converted once a chunk.
        tenant, status = shared.tenant_id, shared.status
        invoice_date = sqlite_storage_value(shared.invoice_date)
        target_date = sqlite_storage_value(shared.target_date)
        now = sqlite_storage_value(shared.now)
        tax, run, source = shared.tax_amount_minor, shared.bill_run_id, shared.source
        dues: dict[date, str] = {}

        def stamp(
            invoice_id: int,
            account_id: int,
            number: str,
            due_date: date,
            currency: str,
            amount_minor: int,
        ) -> tuple[Any, ...]:
            due = dues.get(due_date)
            if due is None:
                due = dues[due_date] = sqlite_storage_value(due_date)
            return (
                invoice_id,
                tenant,
                account_id,
                number,
                status,
                invoice_date,
                due,
                target_date,
                currency,
                amount_minor,
                tax,
                run,
                source,
                now,
                now,
            )

        return stamp

    def insert(
        self, session: Session, invoices: list[tuple[Any, ...]], items: list[tuple[Any, ...]]
    ) -> None:
        raw = dbapi(session)
        if invoices:
            raw.executemany(self._insert_invoices, invoices)
        phases.lap("write invoices")
        if items:
            raw.executemany(self._insert_items, items)
        phases.lap("write items")


_COPY_FORMAT = _CopyFormat()
_SQLITE_FORMAT = _SqliteFormat()


def row_format(session: Session) -> RowFormat:
    return _COPY_FORMAT if is_postgres(session) else _SQLITE_FORMAT


def advance_watermarks(
    session: Session, watermarks: list[tuple[int, date | None]], now: datetime
) -> None:
    """Set each charge segment's billed-through date: one statement on PostgreSQL
    (UPDATE ... FROM unnest), an executemany on SQLite.

    Tenant: the charge ids come from load_billable_charges, filtered on the tenant.
    """
    if not watermarks:
        return
    if is_postgres(session):
        session.execute(
            text(
                "UPDATE subscription_charges AS c SET billed_through = v.bt, last_billed_at = :now "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:bts AS date[])) AS v(id, bt) "
                "WHERE c.id = v.id"
            ),
            {"ids": [w[0] for w in watermarks], "bts": [w[1] for w in watermarks], "now": now},
        )
        return
    stamp = sqlite_storage_value(now)
    # A chunk's watermarks take few distinct dates: each converted once.
    stored: dict[date, str] = {}
    rows: list[tuple[str | None, str, int]] = []
    for cid, bt in watermarks:
        value = None if bt is None else stored.get(bt)
        if value is None and bt is not None:
            value = stored[bt] = sqlite_storage_value(bt)
        rows.append((value, stamp, cid))
    dbapi(session).executemany(
        "UPDATE subscription_charges SET billed_through = ?, last_billed_at = ? WHERE id = ?",
        rows,
    )
