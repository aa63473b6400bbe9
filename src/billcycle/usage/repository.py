"""All SQL of usage: units of measure, records, imports, and the set-based statements
the bill run uses to sum, bind and free usage."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account
from billcycle.db.bulk import (
    copy_lines,
    copy_rows,
    copy_text,
    copy_value,
    dbapi,
    is_postgres,
    sqlite_insert,
    sqlite_storage_value,
)
from billcycle.db.engine import begin_sqlite_write
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.subscriptions.models import Subscription, SubscriptionCharge, SubscriptionChargeTier
from billcycle.usage.models import UnitOfMeasure, UsageImport, UsageImportPart, UsageRecord

_rec = UsageRecord.__table__.c
_charge = SubscriptionCharge.__table__.c
_sub = Subscription.__table__.c
_acct = Account.__table__.c
_item = InvoiceItem.__table__.c
_inv = Invoice.__table__.c
_tier = SubscriptionChargeTier.__table__.c

# -- units of measure ---------------------------------------------------------------------


def list_uoms(session: Session, tenant_id: int) -> list[UnitOfMeasure]:
    return list(
        session.scalars(
            select(UnitOfMeasure)
            .where(UnitOfMeasure.tenant_id == tenant_id)
            .order_by(UnitOfMeasure.name)
        )
    )


def find_uom(session: Session, tenant_id: int, name: str) -> UnitOfMeasure | None:
    """Case-insensitive, as Zuora matches units of measure."""
    return session.scalars(
        select(UnitOfMeasure).where(
            UnitOfMeasure.tenant_id == tenant_id,
            func.lower(UnitOfMeasure.name) == name.lower(),
        )
    ).first()


def uoms_by_name(session: Session, tenant_id: int) -> dict[str, UnitOfMeasure]:
    """The tenant's active units by lower-case name."""
    return {u.name.lower(): u for u in list_uoms(session, tenant_id) if u.active}


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def delete_uom(session: Session, uom: UnitOfMeasure) -> None:
    session.delete(uom)
    session.flush()


def uom_in_use(session: Session, tenant_id: int, name: str) -> bool:
    return (
        session.scalar(
            select(_rec.id)
            .where(_rec.tenant_id == tenant_id, func.lower(_rec.uom) == name.lower())
            .limit(1)
        )
        is not None
    )


# -- looking up what a record names -------------------------------------------------------


class UsageCharge(NamedTuple):
    """A usage charge segment as validation needs it."""

    id: int
    account_id: int
    subscription_id: int
    subscription_number: str
    charge_number: str
    uom: str | None
    effective_start_date: date
    effective_end_date: date | None
    billed_through: date | None


def accounts_by_number(session: Session, tenant_id: int, numbers: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(numbers), 5_000):
        part = list(numbers[start : start + 5_000])
        rows = session.execute(
            select(_acct.account_number, _acct.id).where(
                _acct.tenant_id == tenant_id, _acct.account_number.in_(part)
            )
        )
        found.update({number: account_id for number, account_id in rows})
    return found


def account_numbers(session: Session, tenant_id: int, account_ids: Sequence[int]) -> dict[int, str]:
    if not account_ids:
        return {}
    rows = session.execute(
        select(_acct.id, _acct.account_number).where(
            _acct.tenant_id == tenant_id, _acct.id.in_(list(set(account_ids)))
        )
    )
    return {account_id: number for account_id, number in rows}


def usage_charges(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> dict[int, list[UsageCharge]]:
    """Every usage charge segment of ``account_ids``, by account."""
    found: dict[int, list[UsageCharge]] = {}
    ids = sorted(set(account_ids))
    for start in range(0, len(ids), 5_000):
        rows = session.execute(
            select(
                _charge.id,
                _charge.account_id,
                _charge.subscription_id,
                _sub.subscription_number,
                _charge.charge_number,
                _charge.uom,
                _charge.effective_start_date,
                _charge.effective_end_date,
                _charge.billed_through,
            )
            .join(Subscription, _sub.id == _charge.subscription_id)
            .where(
                _charge.tenant_id == tenant_id,
                _charge.account_id.in_(ids[start : start + 5_000]),
                _charge.charge_type == "Usage",
            )
            .order_by(_charge.account_id, _charge.id)
        )
        for row in rows:
            found.setdefault(row.account_id, []).append(UsageCharge(*row))
    return found


def lock_account(session: Session, tenant_id: int, account_id: int) -> bool:
    """Wait for a bill run generating this account's invoice (it holds the account row),
    so a record is either summed and bound by that run or left for the next one."""
    if not is_postgres(session):
        begin_sqlite_write(dbapi(session))
    found = session.execute(
        select(_acct.id)
        .where(_acct.tenant_id == tenant_id, _acct.id == account_id)
        .with_for_update(read=True)
    ).first()
    return found is not None


def lock_accounts(session: Session, tenant_id: int, account_ids: Sequence[int]) -> None:
    """The import's accounts, shared-locked like :func:`lock_account`."""
    if not is_postgres(session):
        begin_sqlite_write(dbapi(session))
        return
    ids = sorted(set(account_ids))
    for start in range(0, len(ids), 5_000):
        session.execute(
            select(_acct.id)
            .where(_acct.tenant_id == tenant_id, _acct.id.in_(ids[start : start + 5_000]))
            .order_by(_acct.id)
            .with_for_update(read=True)
        ).all()


# -- records ------------------------------------------------------------------------------


def get_record(session: Session, tenant_id: int, record_id: int) -> UsageRecord | None:
    return session.scalars(
        select(UsageRecord).where(UsageRecord.tenant_id == tenant_id, UsageRecord.id == record_id)
    ).first()


def delete_record(session: Session, record: UsageRecord) -> None:
    session.delete(record)
    session.flush()


class RecordView(NamedTuple):
    record: UsageRecord
    account_number: str
    subscription_number: str
    charge_number: str
    billed_by: int | None  # the invoice item that billed it (``billing_items``)


def record_views(
    session: Session, tenant_id: int, records: Sequence[UsageRecord]
) -> list[RecordView]:
    if not records:
        return []
    charge_ids = {r.subscription_charge_id for r in records}
    rows = session.execute(
        select(_charge.id, _acct.account_number, _sub.subscription_number, _charge.charge_number)
        .join(Subscription, _sub.id == _charge.subscription_id)
        .join(Account, _acct.id == _charge.account_id)
        .where(_charge.tenant_id == tenant_id, _charge.id.in_(charge_ids))
    )
    names = {row[0]: (row[1], row[2], row[3]) for row in rows}
    billed = billing_items(session, tenant_id, [r.id for r in records])
    return [
        RecordView(r, *names[r.subscription_charge_id], billed_by=billed.get(r.id)) for r in records
    ]


def account_records(
    session: Session, tenant_id: int, account_id: int, *, offset: int, limit: int
) -> list[UsageRecord]:
    return list(
        session.scalars(
            select(UsageRecord)
            .where(UsageRecord.tenant_id == tenant_id, UsageRecord.account_id == account_id)
            .order_by(UsageRecord.id)
            .offset(offset)
            .limit(limit)
        )
    )


RECORD_COLUMNS = (
    "tenant_id",
    "account_id",
    "subscription_id",
    "subscription_charge_id",
    "uom",
    "quantity",
    "start_date_time",
    "end_date_time",
    "usage_date",
    "description",
    "source",
    "import_id",
    "late",
    "created_at",
    "updated_at",
)
_INSERT_RECORDS = sqlite_insert("usage_records", RECORD_COLUMNS)


def insert_records(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows in RECORD_COLUMNS order, Python values: COPY on PostgreSQL, executemany on
    SQLite (values converted to SQLAlchemy's storage forms).

    Tenant: every row carries its tenant, checked by the caller's lookups.
    """
    if not rows:
        return
    if is_postgres(session):
        copy_rows(dbapi(session), "usage_records", RECORD_COLUMNS, rows)
        return
    store = sqlite_storage_value
    dbapi(session).executemany(
        _INSERT_RECORDS,
        [
            (
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                store(r[5]),
                store(r[6]),
                None if r[7] is None else store(r[7]),
                store(r[8]),
                r[9],
                r[10],
                r[11],
                r[12],
                store(r[13]),
                store(r[14]),
            )
            for r in rows
        ],
    )


_NULL = "\\N"


class RecordBatch:
    """Usage records of an import in the database's fastest bulk form, written in
    batches: COPY text lines on PostgreSQL, storage-form tuples for SQLite's
    executemany. Dates and quantities repeat across a file, so each is formatted once.

    Tenant: every row carries the import's tenant; the caller resolved its accounts and
    charges under that tenant.
    """

    def __init__(
        self, session: Session, tenant_id: int, import_id: int, now: datetime, source: str
    ) -> None:
        self.session = session
        self.postgres = is_postgres(session)
        self.rows: list[Any] = []
        self.count = 0
        self._days: dict[date, tuple[str, str]] = {}
        self._units: dict[str, str] = {}
        if self.postgres:
            stamp = copy_value(now)
            self._tails = {
                late: f"\t{copy_text(source)}\t{import_id}\t{'t' if late else 'f'}\t"
                f"{stamp}\t{stamp}\n"
                for late in (False, True)
            }
        else:
            stamp = sqlite_storage_value(now)
            self._constants = {
                late: (source, import_id, int(late), stamp, stamp) for late in (False, True)
            }
        self._tenant = tenant_id

    def day(self, value: date) -> tuple[str, str]:
        """(start instant, date) as stored: midnight UTC of the usage date."""
        found = self._days.get(value)
        if found is None:
            if self.postgres:
                found = (f"{value.isoformat()} 00:00:00+00", value.isoformat())
            else:
                found = (f"{value.isoformat()} 00:00:00.000000", value.isoformat())
            self._days[value] = found
        return found

    def add(
        self,
        account_id: int,
        subscription_id: int,
        charge_id: int,
        uom: str,
        quantity: str,
        start: date,
        end: date | None,
        description: str | None,
        late: bool = False,
    ) -> None:
        start_at, day = self.day(start)
        end_at = None if end is None else self.day(end)[0]
        if self.postgres:
            unit = self._units.get(uom)
            if unit is None:
                unit = self._units[uom] = copy_text(uom)
            self.rows.append(
                f"{self._tenant}\t{account_id}\t{subscription_id}\t{charge_id}\t"
                f"{unit}\t{quantity}\t{start_at}\t{end_at or _NULL}\t{day}\t"
                f"{_NULL if description is None else copy_text(description)}{self._tails[late]}"
            )
        else:
            self.rows.append(
                (
                    self._tenant,
                    account_id,
                    subscription_id,
                    charge_id,
                    uom,
                    quantity,
                    start_at,
                    end_at,
                    day,
                    description,
                    *self._constants[late],
                )
            )

    def flush(self) -> None:
        if not self.rows:
            return
        if self.postgres:
            copy_lines(dbapi(self.session), "usage_records", RECORD_COLUMNS, ["".join(self.rows)])
        else:
            dbapi(self.session).executemany(_INSERT_RECORDS, self.rows)
        self.count += len(self.rows)
        self.rows = []


# -- imports -------------------------------------------------------------------------------


def get_import(
    session: Session, tenant_id: int, import_id: int, *, lock: bool = False
) -> UsageImport | None:
    stmt = select(UsageImport).where(
        UsageImport.tenant_id == tenant_id, UsageImport.id == import_id
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalars(stmt).first()


def add_part(session: Session, tenant_id: int, import_id: int, seq: int, data: bytes) -> None:
    session.execute(
        insert(UsageImportPart).values(
            tenant_id=tenant_id, usage_import_id=import_id, seq=seq, data=data
        )
    )


def parts(session: Session, tenant_id: int, import_id: int) -> Iterator[bytes]:
    """The file's pieces in order, one query each (the whole file is never in memory)."""
    part = UsageImportPart.__table__.c
    seqs = list(
        session.scalars(
            select(part.seq)
            .where(part.tenant_id == tenant_id, part.usage_import_id == import_id)
            .order_by(part.seq)
        )
    )
    for seq in seqs:
        data = session.scalar(
            select(part.data).where(
                part.tenant_id == tenant_id, part.usage_import_id == import_id, part.seq == seq
            )
        )
        if data is not None:
            yield bytes(data)


def drop_parts(session: Session, tenant_id: int, import_id: int) -> None:
    part = UsageImportPart.__table__.c
    session.execute(
        delete(UsageImportPart).where(
            part.tenant_id == tenant_id, part.usage_import_id == import_id
        )
    )


# -- bill runs: sum, bind, free ------------------------------------------------------------


class PeriodSum(NamedTuple):
    charge_id: int
    start: date
    quantity: Decimal
    records: int


# A charge's segments (an amendment splits a charge into segments that share its number,
# "siblings" below): a record stays on the segment it was created on, and is summed and
# bound by the segment whose period holds its date.
def sum_periods(
    session: Session, periods: Sequence[tuple[int, date, date]]
) -> dict[tuple[int, date], tuple[Decimal, int]]:
    """Unbilled usage of each (charge segment, [start, end)) in one GROUP BY.

    The periods are unbilled (the charges' watermarks say so), so every on-time record
    dated in them is unbilled: only late records carry a binding to check (they may be
    bound to a later item already, see ``bind_records``).

    PostgreSQL sums the NUMERIC quantities; SQLite stores them as decimal strings (its
    SUM would go through float), so it concatenates each group's values and Python adds
    them exactly.

    Tenant: the charge ids come from the bill run's charges, loaded under its tenant.
    """
    if not periods:
        return {}
    found: dict[tuple[int, date], tuple[Decimal, int]] = {}
    if is_postgres(session):
        rows = session.execute(
            text(
                "SELECT p.cid, p.lo, COALESCE(SUM(u.quantity), 0), COUNT(u.id) "
                "FROM unnest(CAST(:cids AS bigint[]), CAST(:los AS date[]), "
                "CAST(:his AS date[])) AS p(cid, lo, hi) "
                "JOIN subscription_charges seg ON seg.id = p.cid "
                "JOIN subscription_charges sib ON sib.tenant_id = seg.tenant_id "
                "AND sib.charge_number = seg.charge_number "
                "JOIN usage_records u ON u.subscription_charge_id = sib.id "
                "AND u.usage_date >= p.lo AND u.usage_date < p.hi "
                "AND (NOT u.late OR u.invoice_item_id IS NULL) "
                "GROUP BY p.cid, p.lo"
            ),
            {
                "cids": [p[0] for p in periods],
                "los": [p[1] for p in periods],
                "his": [p[2] for p in periods],
            },
        )
        for cid, lo, quantity, count in rows:
            found[(cid, lo)] = (Decimal(quantity), int(count))
        return found
    payload = json.dumps([[cid, lo.isoformat(), hi.isoformat()] for cid, lo, hi in periods])
    cursor = dbapi(session).execute(
        "WITH p AS (SELECT json_extract(value, '$[0]') AS cid, "
        "json_extract(value, '$[1]') AS lo, json_extract(value, '$[2]') AS hi "
        "FROM json_each(?)) "
        "SELECT p.cid, p.lo, group_concat(u.quantity), COUNT(u.id) FROM p "
        "JOIN subscription_charges seg ON seg.id = p.cid "
        "JOIN subscription_charges sib ON sib.tenant_id = seg.tenant_id "
        "AND sib.charge_number = seg.charge_number "
        "JOIN usage_records u ON u.subscription_charge_id = sib.id "
        "AND u.usage_date >= p.lo AND u.usage_date < p.hi "
        "AND (NOT u.late OR u.invoice_item_id IS NULL) "
        "GROUP BY p.cid, p.lo",
        (payload,),
    )
    for cid, lo, quantities, count in cursor.fetchall():
        total = sum((Decimal(q) for q in quantities.split(",")), Decimal(0))
        found[(cid, date.fromisoformat(lo))] = (total, int(count))
    return found


def sum_late(
    session: Session, firsts: Sequence[tuple[int, date]]
) -> dict[tuple[int, date], tuple[Decimal, int]]:
    """Late usage of each (charge segment, first period start): its unbilled late
    records dated before that start, which is the segment's watermark. The bill run adds
    them to that first period. One GROUP BY over the small partial index of late records
    (probing the (charge, date) index instead would read every billed record of the
    charge's history, to check it is bound).

    Tenant: the charge ids come from the bill run's charges, loaded under its tenant.
    """
    if not firsts:
        return {}
    found: dict[tuple[int, date], tuple[Decimal, int]] = {}
    if is_postgres(session):
        rows = session.execute(
            text(
                "SELECT p.cid, p.lo, SUM(u.quantity), COUNT(u.id) "
                "FROM unnest(CAST(:cids AS bigint[]), CAST(:los AS date[])) AS p(cid, lo) "
                "JOIN usage_records u ON u.subscription_charge_id = p.cid AND u.late "
                "AND u.usage_date < p.lo AND u.invoice_item_id IS NULL "
                "GROUP BY p.cid, p.lo"
            ),
            {"cids": [f[0] for f in firsts], "los": [f[1] for f in firsts]},
        )
        for cid, lo, quantity, count in rows:
            found[(cid, lo)] = (Decimal(quantity), int(count))
        return found
    payload = json.dumps([[cid, lo.isoformat()] for cid, lo in firsts])
    cursor = dbapi(session).execute(
        "WITH p AS (SELECT json_extract(value, '$[0]') AS cid, "
        "json_extract(value, '$[1]') AS lo FROM json_each(?)) "
        "SELECT p.cid, p.lo, group_concat(u.quantity), COUNT(u.id) FROM p "
        "JOIN usage_records u ON u.subscription_charge_id = p.cid AND u.late "
        "AND u.usage_date < p.lo AND u.invoice_item_id IS NULL "
        "GROUP BY p.cid, p.lo",
        (payload,),
    )
    for cid, lo, quantities, count in cursor.fetchall():
        total = sum((Decimal(q) for q in quantities.split(",")), Decimal(0))
        found[(cid, date.fromisoformat(lo))] = (total, int(count))
    return found


def included_units(session: Session, charge_ids: Sequence[int]) -> dict[int, Decimal | None]:
    """Tenant: the charge ids come from the bill run's charges, loaded under its tenant."""
    if not charge_ids:
        return {}
    rows = session.execute(
        select(_charge.id, _charge.included_units, _charge.uom).where(
            _charge.id.in_(list(charge_ids))
        )
    )
    return {cid: units for cid, units, _uom in rows}


def bind_records(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> None:
    """Bind the late records the usage items just written on ``invoice_ids`` summed.

    On-time records are not written at all: a record that was not late when created is
    billed by the live usage item of its charge whose period holds its date (a range,
    see ``billing_items``), so a bill run rewrites no record and cancelling or deleting
    it frees them with no write either. Late records (few, ``ix_usage_records_late``)
    are bound one by one, since the item that bills them is not the one whose period
    holds their date: a late record dated in a period being billed (again, after a
    cancel) to that period's item, one dated before the segment's first period on these
    invoices to that first item (``sum_late`` summed it there).
    """
    if not invoice_ids:
        return
    for start in range(0, len(invoice_ids), 10_000):
        part = list(invoice_ids[start : start + 10_000])
        stmt = text(
            "UPDATE usage_records SET invoice_item_id = i.id "
            "FROM invoice_items AS i "
            "JOIN subscription_charges AS seg ON seg.id = i.subscription_charge_id "
            "JOIN subscription_charges AS sib ON sib.tenant_id = seg.tenant_id "
            "AND sib.charge_number = seg.charge_number "
            "WHERE i.tenant_id = :tenant AND i.invoice_id IN :ids AND i.charge_type = 'Usage' "
            "AND NOT i.voided AND usage_records.late AND usage_records.invoice_item_id IS NULL "
            "AND usage_records.subscription_charge_id = sib.id "
            "AND usage_records.usage_date >= i.service_start "
            "AND usage_records.usage_date < i.service_end"
        ).bindparams(bindparam("ids", expanding=True))
        session.execute(stmt, {"tenant": tenant_id, "ids": part})
        late = text(
            "UPDATE usage_records SET invoice_item_id = i.id "
            "FROM invoice_items AS i "
            "WHERE i.tenant_id = :tenant AND i.invoice_id IN :ids AND i.charge_type = 'Usage' "
            "AND NOT i.voided AND usage_records.late AND usage_records.invoice_item_id IS NULL "
            "AND usage_records.subscription_charge_id = i.subscription_charge_id "
            "AND usage_records.usage_date < i.service_start "
            "AND NOT EXISTS (SELECT 1 FROM invoice_items AS j "
            "WHERE j.invoice_id = i.invoice_id "
            "AND j.subscription_charge_id = i.subscription_charge_id "
            "AND j.charge_type = 'Usage' AND NOT j.voided "
            "AND j.service_start < i.service_start)"
        ).bindparams(bindparam("ids", expanding=True))
        session.execute(late, {"tenant": tenant_id, "ids": part})


# The item that billed each record: a late record's own binding; an on-time record's,
# the live usage item of a segment of its charge whose period holds its date (the
# partial unique index on (charge, period start) finds it).
_BILLING_ITEMS = text(
    "SELECT u.id, CASE WHEN u.late THEN u.invoice_item_id ELSE ("
    "SELECT i.id FROM subscription_charges AS sib "
    "JOIN subscription_charges AS seg ON seg.tenant_id = sib.tenant_id "
    "AND seg.charge_number = sib.charge_number "
    "JOIN invoice_items AS i ON i.subscription_charge_id = seg.id "
    "WHERE sib.id = u.subscription_charge_id AND NOT i.voided "
    "AND i.charge_type = 'Usage' AND i.service_start <= u.usage_date "
    "AND i.service_end > u.usage_date ORDER BY i.id LIMIT 1) END "
    "FROM usage_records AS u WHERE u.tenant_id = :tenant AND u.id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def billing_items(
    session: Session, tenant_id: int, record_ids: Sequence[int]
) -> dict[int, int | None]:
    """The invoice item that billed each record (None: unbilled), for the record views
    (``RbeStatus``) and the check that billed usage no longer changes."""
    found: dict[int, int | None] = {}
    for start in range(0, len(record_ids), 1_000):
        part = list(record_ids[start : start + 1_000])
        rows = session.execute(_BILLING_ITEMS, {"tenant": tenant_id, "ids": part})
        for record_id, item_id in rows:
            found[record_id] = item_id
    return found


# How many of a tenant's records are billed (the usage bench's check), by the same rule.
COUNT_BILLED = (
    "SELECT count(*) FROM usage_records AS u WHERE u.tenant_id = :tenant AND CASE "
    "WHEN u.late THEN u.invoice_item_id IS NOT NULL ELSE EXISTS ("
    "SELECT 1 FROM subscription_charges AS sib "
    "JOIN subscription_charges AS seg ON seg.tenant_id = sib.tenant_id "
    "AND seg.charge_number = sib.charge_number "
    "JOIN invoice_items AS i ON i.subscription_charge_id = seg.id "
    "WHERE sib.id = u.subscription_charge_id AND NOT i.voided "
    "AND i.charge_type = 'Usage' AND i.service_start <= u.usage_date "
    "AND i.service_end > u.usage_date) END"
)


def late_records(session: Session, tenant_id: int, item_id: int, before: date) -> Decimal:
    """The quantity of late usage an item billed: its records dated before its period."""
    values = session.scalars(
        select(_rec.quantity).where(
            _rec.tenant_id == tenant_id,
            _rec.invoice_item_id == item_id,
            _rec.usage_date < before,
            text("usage_records.late"),
        )
    )
    return sum(values, Decimal(0))


def free_records(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> None:
    """Unbind the late records billed by items of ``invoice_ids`` (cancelled invoices),
    so the next bill run rates them again. On-time records need no write: once the items
    are voided (or deleted with their invoices) no live item covers them."""
    for start in range(0, len(invoice_ids), 10_000):
        part = list(invoice_ids[start : start + 10_000])
        items = select(_item.id).where(_item.tenant_id == tenant_id, _item.invoice_id.in_(part))
        seg = SubscriptionCharge.__table__.alias("seg")
        sib = SubscriptionCharge.__table__.alias("sib")
        charges = (
            select(sib.c.id)
            .join(
                seg,
                (seg.c.tenant_id == sib.c.tenant_id) & (seg.c.charge_number == sib.c.charge_number),
            )
            .where(
                seg.c.id.in_(
                    select(_item.subscription_charge_id).where(
                        _item.tenant_id == tenant_id, _item.invoice_id.in_(part)
                    )
                )
            )
        )
        # Narrowed by charge first, over the partial index of late records.
        session.execute(
            update(UsageRecord)
            .where(
                _rec.tenant_id == tenant_id,
                _rec.subscription_charge_id.in_(charges),
                text("usage_records.late"),
                _rec.invoice_item_id.in_(items),
            )
            .values(invoice_item_id=None)
        )


# -- rate detail ---------------------------------------------------------------------------


class BilledItem(NamedTuple):
    item_id: int
    invoice_id: int
    invoice_number: str
    charge_id: int
    charge_number: str
    charge_type: str
    service_start: date
    service_end: date
    quantity: Decimal
    amount_minor: int
    currency: str


def billed_item(session: Session, tenant_id: int, item_id: int) -> BilledItem | None:
    row = session.execute(
        select(
            _item.id,
            _item.invoice_id,
            _inv.invoice_number,
            _item.subscription_charge_id,
            _charge.charge_number,
            _item.charge_type,
            _item.service_start,
            _item.service_end,
            _item.quantity,
            _item.amount_minor,
            _inv.currency,
        )
        .join(Invoice, _inv.id == _item.invoice_id)
        .join(SubscriptionCharge, _charge.id == _item.subscription_charge_id)
        .where(_item.tenant_id == tenant_id, _item.id == item_id)
    ).first()
    return None if row is None else BilledItem(*row)


def charge_segment(session: Session, tenant_id: int, charge_id: int) -> SubscriptionCharge | None:
    return session.scalars(
        select(SubscriptionCharge).where(
            SubscriptionCharge.tenant_id == tenant_id, SubscriptionCharge.id == charge_id
        )
    ).first()


def account_bill_cycle_day(session: Session, tenant_id: int, account_id: int) -> int:
    day = session.scalar(
        select(_acct.bill_cycle_day).where(_acct.tenant_id == tenant_id, _acct.id == account_id)
    )
    return int(day or 1)
