"""All SQL of bulk jobs and their records.

Everything that touches many records is set-based: records are inserted from a JSON
array in one statement per batch, a chunk's records are validated by ONE query joining
them to their invoices, accounts and ledger balances, and results are written by a few
grouped UPDATEs. Job counters move by ``SET x = x + n`` in the transaction that wrote
the records they count, so a client polling between commits always sees true numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from typing import cast as typed

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account
from billcycle.bulkjobs import statuses as st
from billcycle.bulkjobs.models import BulkJob, BulkJobRecord
from billcycle.bulkjobs.records import WRITABLE_ACCOUNT_STATUSES, InvoiceFacts
from billcycle.bulkjobs.statuses import BulkJobStatus, RecordStatus
from billcycle.db.bulk import dbapi, is_postgres
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.jobs.chunks import ChunkRange
from billcycle.ledger.repository import applied_sum
from billcycle.tenancy.models import Tenant

_jobs = typed(Table, BulkJob.__table__)
_records = typed(Table, BulkJobRecord.__table__)
_job = _jobs.c
_rec = _records.c
_inv = typed(Table, Invoice.__table__).c
_acc = typed(Table, Account.__table__).c
_tenants = typed(Table, Tenant.__table__)

# Records per INSERT (one JSON parameter) and ids per IN (...) list.
INSERT_BATCH = 50_000
ID_CHUNK = 1_000


def _id_chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[start : start + ID_CHUNK] for start in range(0, len(ids), ID_CHUNK)]


# -- locks -------------------------------------------------------------------------------------


def lock_tenant(session: Session, tenant_id: int) -> None:
    """Serialise job creation per tenant, so two concurrent creates cannot both see "no
    open job". PostgreSQL: the tenant's row lock. SQLite: a no-op write takes the
    database's single write lock now, before the caller reads."""
    if is_postgres(session):
        session.execute(select(_tenants.c.id).where(_tenants.c.id == tenant_id).with_for_update())
    else:
        session.execute(
            update(_tenants).where(_tenants.c.id == tenant_id).values(name=_tenants.c.name)
        )


# The job lock: an advisory lock on (class, job) in PostgreSQL's two-key space. Chunks
# take it shared, so chunks of one job run side by side; cancels, process requests and
# chunks that give up take it exclusive. It is a queue, not a row lock: a waiting
# exclusive request holds back new shared ones, so a cancel gets in after the chunks in
# flight even while several workers keep starting new ones (a row's FOR KEY SHARE would
# let them overtake it until the job was done).
_JOB_LOCK_CLASS = 0x42554C4B  # "BULK"
_JOB_LOCK = text("SELECT pg_advisory_xact_lock(CAST(:cls AS INTEGER), CAST(:obj AS INTEGER))")
_JOB_LOCK_SHARED = text(
    "SELECT pg_advisory_xact_lock_shared(CAST(:cls AS INTEGER), CAST(:obj AS INTEGER))"
)


def _job_lock(session: Session, tenant_id: int, job_id: int, *, shared: bool) -> None:
    """PostgreSQL: the job's advisory lock until the transaction ends. SQLite: a no-op
    write on the job takes the database's single write lock, which serialises anyway."""
    if is_postgres(session):
        stmt = _JOB_LOCK_SHARED if shared else _JOB_LOCK
        session.execute(stmt, {"cls": _JOB_LOCK_CLASS, "obj": job_id % 2**31})
    else:
        session.execute(
            update(_jobs)
            .where(_job.tenant_id == tenant_id, _job.id == job_id)
            .values(modified_at=_job.modified_at)
            .execution_options(synchronize_session=False)
        )


def lock_job(session: Session, tenant_id: int, job_id: int) -> BulkJob | None:
    """The job re-read under its exclusive lock (and, on PostgreSQL, its row lock):
    cancels, process requests and giving up take it before writing records or chunks,
    so no chunk is writing meanwhile, and a chunk that starts afterwards sees what they
    did (``share_job``). Taking it FIRST keeps the lock order, and so deadlocks, out."""
    _job_lock(session, tenant_id, job_id, shared=False)
    stmt = (
        select(BulkJob)
        .where(BulkJob.tenant_id == tenant_id, BulkJob.id == job_id)
        .execution_options(populate_existing=True)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def plan_chunk_as_lookups(session: Session) -> None:
    """Make this transaction's joins nested loops of index lookups (PostgreSQL).

    Every join of a chunk leads from its thousand-odd records to their invoices and
    accounts by primary key. PostgreSQL's default costs (a random page four times a
    sequential one) price that above reading the whole ``invoices`` or ``accounts`` table
    into a hash whenever the table is under a few hundred thousand rows, or whenever
    statistics that predate a big load say it is: measured at 100,000 invoices, 35 ms
    per chunk for the hash instead of 2 ms for the lookups, and the accounts table was
    hashed for every chunk at any size. ``set_config(..., true)`` ends with the
    transaction.
    """
    if is_postgres(session):
        session.execute(
            text(
                "SELECT set_config('enable_hashjoin', 'off', true), "
                "set_config('enable_mergejoin', 'off', true)"
            )
        )


@dataclass(frozen=True, slots=True)
class JobHeader:
    status: str
    reference: str | None


def share_job(session: Session, tenant_id: int, job_id: int) -> JobHeader | None:
    """The job's status and reference, read under the job's lock taken shared, which a
    chunk holds until it commits (see ``_JOB_LOCK_CLASS``): a cancel never commits while
    a chunk that saw the job running is writing, and a chunk that starts after a cancel
    sees it. The chunk's counter increments then queue on the job's row, briefly."""
    _job_lock(session, tenant_id, job_id, shared=True)
    row = session.execute(
        select(_job.status, _job.reference).where(_job.tenant_id == tenant_id, _job.id == job_id)
    ).first()
    return JobHeader(row[0], row[1]) if row is not None else None


# -- jobs --------------------------------------------------------------------------------------


def get_job(session: Session, tenant_id: int, job_id: int) -> BulkJob | None:
    return session.scalars(
        select(BulkJob)
        .where(BulkJob.tenant_id == tenant_id, BulkJob.id == job_id)
        .execution_options(populate_existing=True)
    ).first()


def open_job(session: Session, tenant_id: int) -> BulkJob | None:
    return session.scalars(
        select(BulkJob)
        .where(BulkJob.tenant_id == tenant_id, BulkJob.status.in_(st.OPEN))
        .order_by(BulkJob.id)
        .limit(1)
    ).first()


def record_limit(session: Session, tenant_id: int) -> int:
    value = session.scalar(
        select(_tenants.c.bulk_job_record_limit).where(_tenants.c.id == tenant_id)
    )
    return int(value or 0)


def add_job(session: Session, job: BulkJob) -> BulkJob:
    session.add(job)
    session.flush()
    return job


def list_jobs(
    session: Session, tenant_id: int, *, offset: int, limit: int, ascending: bool
) -> tuple[list[BulkJob], int]:
    total = int(
        session.scalar(select(func.count()).select_from(_jobs).where(_job.tenant_id == tenant_id))
        or 0
    )
    order = BulkJob.id.asc() if ascending else BulkJob.id.desc()
    rows = session.scalars(
        select(BulkJob)
        .where(BulkJob.tenant_id == tenant_id)
        .order_by(order)
        .offset(offset)
        .limit(limit)
    )
    return list(rows), total


def update_job(session: Session, job_id: int, **values: Any) -> None:
    """Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk)."""
    session.execute(
        update(_jobs)
        .where(_job.id == job_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def transition(
    session: Session,
    job_id: int,
    allowed: Sequence[BulkJobStatus],
    to_status: BulkJobStatus,
    **values: Any,
) -> bool:
    """Move the job to ``to_status`` only from one of ``allowed``.

    Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk).
    """
    result = session.execute(
        update(_jobs)
        .where(_job.id == job_id, _job.status.in_(allowed))
        .values(status=to_status, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Counts:
    total_records: int
    successful_records: int
    failed_records: int
    total_processed_records: int
    processed_records: int
    failed_processed_records: int

    @property
    def validated(self) -> int:
        return self.successful_records + self.failed_records


_COUNT_COLUMNS = (
    _job.total_records,
    _job.successful_records,
    _job.failed_records,
    _job.total_processed_records,
    _job.processed_records,
    _job.failed_processed_records,
)


def add_counts(
    session: Session,
    job_id: int,
    *,
    now: datetime,
    passed: int = 0,
    failed: int = 0,
    processed: int = 0,
    failed_processing: int = 0,
) -> Counts:
    """Add a chunk's outcome to the job's counters; returns them all as they now are.
    The UPDATE takes the job's row lock, which orders the chunks' commits, so exactly one
    chunk sees the last count.

    Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk).
    """
    row = session.execute(
        update(_jobs)
        .where(_job.id == job_id)
        .values(
            successful_records=_job.successful_records + passed,
            failed_records=_job.failed_records + failed,
            processed_records=_job.processed_records + processed,
            failed_processed_records=_job.failed_processed_records + failed_processing,
            total_processed_records=_job.total_processed_records + processed + failed_processing,
            modified_at=now,
        )
        .returning(*_COUNT_COLUMNS)
        .execution_options(synchronize_session=False)
    ).one()
    return Counts(*(int(value) for value in row))


# -- records: creation ---------------------------------------------------------------------


_INSERT_SQLITE = text(
    "INSERT INTO bulk_job_records (tenant_id, bulk_job_id, seq, status, data) "
    "SELECT :tenant_id, :job_id, :first_seq + CAST(key AS INTEGER), :status, value "
    "FROM json_each(:data)"
)
_INSERT_POSTGRES = text(
    "INSERT INTO bulk_job_records (tenant_id, bulk_job_id, seq, status, data) "
    "SELECT CAST(:tenant_id AS BIGINT), CAST(:job_id AS BIGINT), "
    "CAST(:first_seq AS INTEGER) + CAST(t.ord AS INTEGER) - 1, CAST(:status AS VARCHAR), "
    "t.value FROM jsonb_array_elements_text(CAST(:data AS JSONB)) WITH ORDINALITY "
    "AS t(value, ord)"
)


def insert_records(
    session: Session, tenant_id: int, job_id: int, data: Sequence[str], status: RecordStatus
) -> None:
    """Records 1..n (``seq``) with the given data, one INSERT ... SELECT per batch over a
    JSON array parameter: no row travels as its own statement or parameter set."""
    stmt = _INSERT_POSTGRES if is_postgres(session) else _INSERT_SQLITE
    for start in range(0, len(data), INSERT_BATCH):
        session.execute(
            stmt,
            {
                "tenant_id": tenant_id,
                "job_id": job_id,
                "first_seq": start + 1,
                "status": status,
                "data": json.dumps(list(data[start : start + INSERT_BATCH])),
            },
        )


def preset_details(session: Session, job_id: int, seqs: Sequence[int], details: str) -> None:
    """Note, on still-pending records, a failure already known at creation (duplicates:
    only the whole list shows them); validation turns it into FailedValidation.

    Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk).
    """
    for chunk in _id_chunks(seqs):
        session.execute(
            update(_records)
            .where(_rec.bulk_job_id == job_id, _in_list(session, _rec.seq, chunk, Integer))
            .values(details=details)
        )


def seq_ranges(total: int, chunk_size: int) -> list[ChunkRange]:
    """Seqs 1..total cut into chunks (seqs are dense, so no query is needed)."""
    return [
        ChunkRange(first, min(first + chunk_size - 1, total), min(chunk_size, total - first + 1))
        for first in range(1, total + 1, chunk_size)
    ]


def passed_ranges(session: Session, job_id: int, chunk_size: int) -> list[ChunkRange]:
    """The records that passed validation, cut into seq ranges of ``chunk_size`` such
    records, in one query (a window over the seqs).

    Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk).
    """
    numbered = (
        select(
            _rec.seq.label("seq"),
            ((func.row_number().over(order_by=_rec.seq) - 1) // chunk_size).label("bucket"),
        )
        .where(_rec.bulk_job_id == job_id, _rec.status == RecordStatus.PASSED_VALIDATION)
        .subquery()
    )
    rows = session.execute(
        select(func.min(numbered.c.seq), func.max(numbered.c.seq), func.count())
        .group_by(numbered.c.bucket)
        .order_by(numbered.c.bucket)
    ).all()
    return [ChunkRange(int(lo), int(hi), int(n)) for lo, hi, n in rows]


# -- records: reads ------------------------------------------------------------------------


class RecordRow(NamedTuple):
    """A record as the API shows it (a tuple: a million-record job builds a million)."""

    id: int
    bulk_job_id: int
    status: str
    data: str
    details: str | None
    created_entity_id: int | None


def records_of(session: Session, job_id: int) -> list[RecordRow]:
    """Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk)."""
    rows = session.execute(
        select(
            _rec.id,
            _rec.bulk_job_id,
            _rec.status,
            _rec.data,
            _rec.details,
            _rec.created_entity_id,
        )
        .where(_rec.bulk_job_id == job_id)
        .order_by(_rec.seq)
    ).all()
    return list(map(RecordRow._make, rows))


def record_page(
    session: Session, job_id: int, *, after_seq: int, limit: int
) -> list[tuple[int, RecordRow]]:
    """The job's next ``limit`` records after ``after_seq`` as (seq, record), in seq order:
    one keyset page, so a million-record job is read in bounded memory. On the DB-API
    cursor (plain tuples: a million-record answer reads a million).

    Tenant: the caller has already found the job in its tenant (records carry no tenant
    of their own to check)."""
    p = "%s" if is_postgres(session) else "?"
    cursor = dbapi(session).cursor()
    try:
        cursor.execute(
            "SELECT seq, id, bulk_job_id, status, data, details, created_entity_id "  # noqa: S608 (ints written in)
            f"FROM bulk_job_records WHERE bulk_job_id = {p} AND seq > {p} "
            f"ORDER BY seq LIMIT {int(limit)}",
            (job_id, after_seq),
        )
        rows = cursor.fetchall()
    finally:
        cursor.close()
    make = RecordRow._make
    return [(row[0], make(row[1:])) for row in rows]


def renders_records(session: Session) -> bool:
    """Whether :func:`rendered_record_page` writes records as text here (SQLite)."""
    return not is_postgres(session)


def rendered_record_page(
    session: Session, job_id: int, *, after_seq: int, limit: int, template: str
) -> list[tuple[int, str]]:
    """SQLite: :func:`record_page`'s records as (seq, text), each record's text written by
    SQLite's ``printf(template, bulk job id, status, data, details, created entity, id)``,
    the three texts as JSON strings (``json_quote``: the escapes Python's JSON encoder
    writes for a quote, a backslash and the control characters, every other character as
    it is) and a missing details or entity as ``null``. A million-record answer is then
    written by SQLite's C rather than by a Python format a record (session 8: about half
    of a page's CPU).

    Tenant: the caller has already found the job in its tenant."""
    cursor = dbapi(session).cursor()
    try:
        cursor.execute(
            "SELECT seq, printf(?, bulk_job_id, json_quote(status), json_quote(data), "
            "CASE WHEN details IS NULL THEN 'null' ELSE json_quote(details) END, "
            "COALESCE(created_entity_id, 'null'), id) FROM bulk_job_records "
            "WHERE bulk_job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (template, job_id, after_seq, int(limit)),
        )
        return list(cursor.fetchall())
    finally:
        cursor.close()


def status_counts(session: Session, job_id: int) -> dict[str, int]:
    """Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk)."""
    rows = session.execute(
        select(_rec.status, func.count()).where(_rec.bulk_job_id == job_id).group_by(_rec.status)
    )
    return {status: int(count) for status, count in rows}


def _literal(value: int) -> Any:
    """An integer written into the SQL text rather than bound (see ``_in_range``)."""
    return bindparam(None, value, type_=Integer, literal_execute=True)


def _in_range(job_id: int, first_seq: int, last_seq: int, status: RecordStatus) -> list[Any]:
    """A chunk's records in ``status``, by (job, seq): the only index on the job's
    records, so the planner reads just the range.

    The range is written into the statement's text, so each chunk's statement is new to
    psycopg, which therefore never prepares it: PostgreSQL plans it for these values. A
    prepared statement gets a generic plan after five runs, which assumes a ``BETWEEN``
    of parameters matches a handful of rows; with the statistics of a job loaded minutes
    ago it then nested loops over the whole range once per record (80 ms instead of 3 ms
    per thousand). Forcing custom plans for the transaction instead would also re-plan
    every foreign-key check, one per inserted row.
    """
    return [
        _rec.bulk_job_id == job_id,
        _rec.seq.between(_literal(first_seq), _literal(last_seq)),
        _rec.status == status,
    ]


def _invoice_of_record() -> Any:
    return cast(_rec.data, BigInteger)


def _records_with_invoices(*, outer: bool) -> Any:
    """A chunk's records joined to their invoices (by id, in the records' tenant) and the
    invoices' accounts (by id: an invoice's account is its tenant's).

    Every join condition leaves PostgreSQL one sensible plan, a unique-key lookup per
    record, however stale its statistics: the chunk's transaction turns hash and merge
    joins off (``plan_chunk_as_lookups``), and nothing may be compared to a constant
    tenant, directly or through the join (PostgreSQL would carry it over): with
    statistics taken before a big load, an index that leads with the tenant looked
    cheaper than the primary key, and the planner read the tenant's every invoice, or
    paired every record with every account, for each chunk. Another tenant's invoice
    does not join, so it reads as unknown. The job's records are the tenant's: the job
    was found by tenant, and its records take its tenant.
    """
    invoices = and_(_inv.id == _invoice_of_record(), _inv.tenant_id == _rec.tenant_id)
    accounts = _acc.id == _inv.account_id
    if outer:
        return _records.outerjoin(Invoice.__table__, invoices).outerjoin(
            Account.__table__, accounts
        )
    return _records.join(Invoice.__table__, invoices).join(Account.__table__, accounts)


def _facts_stmt(tenant_id: int) -> Select[Any]:
    """Records with what the rules look at: their invoices' and accounts' statuses and
    the invoices' balances."""
    balance = _inv.amount_minor - applied_sum(tenant_id)
    return select(_rec.id, _rec.details, _inv.id, _inv.status, _acc.status, balance).select_from(
        _records_with_invoices(outer=True)
    )


def _facts(session: Session, stmt: Select[Any]) -> list[InvoiceFacts]:
    return [
        InvoiceFacts(
            record_id=int(rid),
            preset_failure=details,
            invoice_id=int(iid) if iid is not None else None,
            invoice_status=invoice_status,
            account_status=account_status,
            balance_minor=int(balance_minor) if balance_minor is not None else None,
        )
        for rid, details, iid, invoice_status, account_status, balance_minor in session.execute(
            stmt
        ).all()
    ]


def validation_suspects(
    session: Session, tenant_id: int, job_id: int, first_seq: int, last_seq: int
) -> list[InvoiceFacts]:
    """The range's pending records that may fail validation, with what the rules look at:
    all but those with no preset failure whose invoice is posted, whose customer may be
    written off and whose balance is positive. ONE query, which the database answers
    for every record; Python judges only what it returns (usually nothing)."""
    balance = _inv.amount_minor - applied_sum(tenant_id)
    suspect = or_(
        _rec.details.is_not(None),
        _inv.id.is_(None),
        _inv.status != InvoiceStatus.POSTED,
        _acc.status.is_(None),
        _acc.status.not_in(WRITABLE_ACCOUNT_STATUSES),
        balance <= 0,
    )
    stmt = (
        _facts_stmt(tenant_id)
        .where(*_in_range(job_id, first_seq, last_seq, RecordStatus.PENDING), suspect)
        .order_by(_rec.seq)
    )
    return _facts(session, stmt)


def pass_pending(session: Session, job_id: int, first_seq: int, last_seq: int) -> int:
    """Every record of the range still pending passes validation (the caller failed the
    others first); returns how many.

    Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk).
    """
    result = session.execute(
        update(_records)
        .where(*_in_range(job_id, first_seq, last_seq, RecordStatus.PENDING))
        .values(status=RecordStatus.PASSED_VALIDATION, details=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def passed_records(
    session: Session, tenant_id: int, job_id: int, first_seq: int, last_seq: int
) -> dict[int, int]:
    """Invoice id -> record id of the range's records awaiting processing whose invoice
    exists. On PostgreSQL the invoices are locked (in id order, as everywhere), so no
    payment or write-off can change their balances before this transaction ends; on
    SQLite the caller already holds the database's write lock."""
    stmt = (
        select(_inv.id, _rec.id)
        .select_from(
            _records.join(
                Invoice.__table__,
                and_(_inv.id == _invoice_of_record(), _inv.tenant_id == _rec.tenant_id),
            )
        )
        .where(*_in_range(job_id, first_seq, last_seq, RecordStatus.PASSED_VALIDATION))
        .order_by(_inv.id)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(of=Invoice.__table__)
    return {int(iid): int(rid) for iid, rid in session.execute(stmt).all()}


def writable_invoices(tenant_id: int, job_id: int, first_seq: int, last_seq: int) -> Select[Any]:
    """The invoices of the range's records awaiting processing whose customer may be
    written off, as a query driven by the records (for the ledger, which checks the
    invoices' own status and balance)."""
    return (
        select(_inv.id)
        .select_from(_records_with_invoices(outer=False))
        .where(
            *_in_range(job_id, first_seq, last_seq, RecordStatus.PASSED_VALIDATION),
            _acc.status.in_(WRITABLE_ACCOUNT_STATUSES),
        )
    )


def unprocessed_facts(
    session: Session, tenant_id: int, job_id: int, first_seq: int, last_seq: int
) -> list[InvoiceFacts]:
    """The range's records still awaiting processing, with their invoices' facts as they
    are now (after the chunk's write-offs: these are the ones that could not be)."""
    stmt = (
        _facts_stmt(tenant_id)
        .where(*_in_range(job_id, first_seq, last_seq, RecordStatus.PASSED_VALIDATION))
        .order_by(_rec.seq)
    )
    return _facts(session, stmt)


# -- records: writes -----------------------------------------------------------------------


def _in_list(session: Session, column: Any, values: Sequence[int], type_: Any) -> Any:
    """``column IN values``: one array parameter on PostgreSQL (a thousand-value IN list
    costs more to send and parse than to run)."""
    if is_postgres(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(type_)))
    return column.in_(values)


def set_status(
    session: Session, record_ids: Sequence[int], status: RecordStatus, details: str | None
) -> None:
    """Tenant: ``record_ids`` were read from a job resolved under the caller's tenant."""
    for chunk in _id_chunks(record_ids):
        session.execute(
            update(_records)
            .where(_in_list(session, _rec.id, chunk, BigInteger))
            .values(status=status, details=details)
        )


def records_charging(session: Session, record_ids: Sequence[int]) -> dict[int, int | None]:
    """Of ``record_ids``, those still awaiting processing: record id -> the payment
    charging it (``created_entity_id``: a CreditCard or ACH record's charge begun, its
    outcome not yet recorded), None when none does.

    Tenant: ``record_ids`` were read from a job resolved under the caller's tenant."""
    found: dict[int, int | None] = {}
    for chunk in _id_chunks(list(record_ids)):
        for rid, entity in session.execute(
            select(_rec.id, _rec.created_entity_id).where(
                _in_list(session, _rec.id, chunk, BigInteger),
                _rec.status == RecordStatus.PASSED_VALIDATION,
            )
        ):
            found[int(rid)] = int(entity) if entity is not None else None
    return found


def name_charges(session: Session, pairs: Sequence[tuple[int, int]]) -> bool:
    """Name the payment that charges each record, ``(record id, payment id)``, in one
    statement, only where the record awaits processing and names none yet: all of them,
    or False (another worker charged some meanwhile: the caller rolls back).

    Tenant: the records were read from a job resolved under the caller's tenant.
    """
    if not pairs:
        return True
    named = dict(pairs)
    result = session.execute(
        update(_records)
        .where(
            _rec.id.in_(list(named)),
            _rec.created_entity_id.is_(None),
            _rec.status == RecordStatus.PASSED_VALIDATION,
        )
        .values(created_entity_id=case(named, value=_rec.id))
    )
    return int(result.rowcount) == len(named)  # type: ignore[attr-defined]


def fail_charged(
    session: Session, record_ids: Sequence[int], status: RecordStatus, details: str | None
) -> None:
    """:func:`set_status` for records whose charge failed: the failed attempt made no
    payment the record shows (``created_entity_id`` cleared, as Fusebill creates none).

    Tenant: ``record_ids`` were read from a job resolved under the caller's tenant."""
    for chunk in _id_chunks(list(record_ids)):
        session.execute(
            update(_records)
            .where(_in_list(session, _rec.id, chunk, BigInteger))
            .values(status=status, details=details, created_entity_id=None)
        )


# One statement for a chunk's records, whose plan cannot go wrong: PostgreSQL reads the
# range and looks each record's entity up in a JSON object (a join with an array of pairs
# was planned, on stale statistics, as a nested loop of the whole range per pair); SQLite
# walks the JSON array and finds each record by its rowid.
_PROCESSED_POSTGRES = text(
    "UPDATE bulk_job_records SET status = :status, details = NULL, "
    "created_entity_id = CAST(CAST(:entities AS JSONB) ->> CAST(id AS TEXT) AS BIGINT) "
    "WHERE bulk_job_id = :job_id AND seq BETWEEN :first_seq AND :last_seq "
    "AND status = :from_status AND CAST(:entities AS JSONB) ? CAST(id AS TEXT)"
).bindparams(
    bindparam("first_seq", type_=Integer, literal_execute=True),
    bindparam("last_seq", type_=Integer, literal_execute=True),
)
_PROCESSED_SQLITE = text(
    "UPDATE bulk_job_records SET status = :status, details = NULL, "
    "created_entity_id = json_extract(u.value, '$[1]') "
    "FROM json_each(:pairs) AS u WHERE bulk_job_records.id = json_extract(u.value, '$[0]') "
    "AND bulk_job_records.status = :from_status"
)
# SQLite, the common case of a set-based chunk: records with consecutive ids created
# consecutive ids (SQLite's payment ids continue after the largest), so each record's
# entity id is its own id shifted, and no JSON list of pairs is built or read. The range
# is the rowid's: ``+bulk_job_id`` keeps SQLite off the job's (job, seq) index, which it
# otherwise prefers and walks every record of the job in every chunk (quadratic: 18 s
# of CPU at a million records).
_PROCESSED_SQLITE_RUN = text(
    "UPDATE bulk_job_records SET status = :status, details = NULL, "
    "created_entity_id = id + :shift "
    "WHERE id BETWEEN :first_id AND :last_id AND +bulk_job_id = :job_id "
    "AND status = :from_status"
)


def _consecutive(ids: list[int]) -> bool:
    return ids == list(range(ids[0], ids[0] + len(ids)))


def set_processed(
    session: Session,
    job_id: int,
    first_seq: int,
    last_seq: int,
    created: Sequence[tuple[int, int]],
) -> int:
    """Mark records of the range awaiting processing Processed with the id of what they
    created, ``(record id, entity id)`` pairs, in ONE statement; returns how many.

    Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk).
    """
    if not created:
        return 0
    params: dict[str, Any] = {
        "status": RecordStatus.PROCESSED,
        "from_status": RecordStatus.PASSED_VALIDATION,
    }
    if is_postgres(session):
        stmt = _PROCESSED_POSTGRES
        params |= {
            "entities": json.dumps({str(rid): eid for rid, eid in created}),
            "job_id": job_id,
            "first_seq": first_seq,
            "last_seq": last_seq,
        }
    else:
        record_ids = [rid for rid, _ in created]
        entity_ids = [eid for _, eid in created]
        if _consecutive(record_ids) and _consecutive(entity_ids):
            stmt = _PROCESSED_SQLITE_RUN
            params |= {
                "shift": entity_ids[0] - record_ids[0],
                "first_id": record_ids[0],
                "last_id": record_ids[-1],
                "job_id": job_id,
            }
        else:
            stmt = _PROCESSED_SQLITE
            params["pairs"] = json.dumps(created)
    result = session.execute(stmt, params)
    return int(result.rowcount)  # type: ignore[attr-defined]


def fail_range(
    session: Session,
    job_id: int,
    first_seq: int,
    last_seq: int,
    from_status: RecordStatus,
    to_status: RecordStatus,
    details: str,
) -> int:
    """Fail what is left of a chunk (a chunk that failed every attempt).

    Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk).
    """
    result = session.execute(
        update(_records)
        .where(*_in_range(job_id, first_seq, last_seq, from_status))
        .values(status=to_status, details=details)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def fail_incomplete(session: Session, job_id: int, details: str) -> int:
    """A cancel: every record not yet in a final state becomes FailedProcessing.

    Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk).
    """
    result = session.execute(
        update(_records)
        .where(_rec.bulk_job_id == job_id, _rec.status.in_(st.INCOMPLETE))
        .values(status=RecordStatus.FAILED_PROCESSING, details=details)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- BulkPayment records -------------------------------------------------------------------


def records_with_data(
    session: Session, job_id: int, first_seq: int, last_seq: int, status: RecordStatus
) -> list[tuple[int, str]]:
    """``(record id, data)`` of the range's records in ``status``, in seq order (on the
    DB-API cursor: thousands of rows, no type to convert). The range is written into
    the statement's text for the reason ``_in_range`` gives.

    Tenant: the caller resolved ``job_id`` under its tenant (or took it from its chunk).
    """
    p = "%s" if is_postgres(session) else "?"
    cursor = dbapi(session).cursor()
    try:
        cursor.execute(
            "SELECT id, data FROM bulk_job_records "  # noqa: S608 (ints written in)
            f"WHERE bulk_job_id = {p} AND seq BETWEEN {int(first_seq)} AND {int(last_seq)} "
            f"AND status = {p} ORDER BY seq",
            (job_id, str(status)),
        )
        rows: list[tuple[int, str]] = cursor.fetchall()
    finally:
        cursor.close()
    return rows


def customer_facts(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> dict[int, tuple[str, str]]:
    """Account id -> (currency, status) of the tenant's accounts among ``account_ids``:
    one statement on the DB-API cursor (as ``payments.activity_repository.invoice_facts``:
    a chunk's thousands of ids bound one each through SQLAlchemy cost more than the
    lookups)."""
    unique = sorted(set(account_ids))
    if not unique:
        return {}
    cursor = dbapi(session).cursor()
    try:
        if is_postgres(session):
            cursor.execute(_CUSTOMER_FACTS_POSTGRES, (tenant_id, unique))
        else:
            cursor.execute(_CUSTOMER_FACTS_SQLITE, (tenant_id, json.dumps(unique)))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return {int(i): (str(c), str(s)) for i, c, s in rows}


# ``tenant_id + 0``: looked up by primary key, not by scanning the tenant's accounts
# through an index that leads with the tenant (SQLite's choice).
_CUSTOMER_FACTS_SQLITE = (
    "SELECT id, currency, status FROM accounts "
    "WHERE tenant_id + 0 = ? AND id IN (SELECT value FROM json_each(?))"
)
_CUSTOMER_FACTS_POSTGRES = (
    "SELECT id, currency, status FROM accounts WHERE tenant_id + 0 = %s AND id = ANY(%s)"
)
