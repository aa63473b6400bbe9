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
from typing import Any
from typing import cast as typed

from sqlalchemy import (
    BigInteger,
    Integer,
    Table,
    and_,
    any_,
    bindparam,
    cast,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account
from billcycle.bulkjobs import statuses as st
from billcycle.bulkjobs.models import BulkJob, BulkJobRecord
from billcycle.bulkjobs.records import InvoiceFacts
from billcycle.invoicing.models import Invoice
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


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _id_chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[start : start + ID_CHUNK] for start in range(0, len(ids), ID_CHUNK)]


# -- locks -------------------------------------------------------------------------------------


def lock_tenant(session: Session, tenant_id: int) -> None:
    """Serialise job creation per tenant, so two concurrent creates cannot both see "no
    open job". PostgreSQL: the tenant's row lock. SQLite: a no-op write takes the
    database's single write lock now, before the caller reads."""
    if _is_postgres(session):
        session.execute(select(_tenants.c.id).where(_tenants.c.id == tenant_id).with_for_update())
    else:
        session.execute(
            update(_tenants).where(_tenants.c.id == tenant_id).values(name=_tenants.c.name)
        )


def lock_job(session: Session, tenant_id: int, job_id: int) -> BulkJob | None:
    """The job re-read under its row lock (PostgreSQL ``FOR UPDATE``; on SQLite a no-op
    write first takes the write lock). Cancels and chunk workers both take it before
    writing records, so a chunk's work commits either wholly before a cancel or not at
    all; taking it FIRST (before any record row) keeps the lock order, and so deadlocks,
    out."""
    stmt = (
        select(BulkJob)
        .where(BulkJob.tenant_id == tenant_id, BulkJob.id == job_id)
        .execution_options(populate_existing=True)
    )
    if _is_postgres(session):
        stmt = stmt.with_for_update()
    else:
        session.execute(
            update(_jobs)
            .where(_job.tenant_id == tenant_id, _job.id == job_id)
            .values(modified_at=_job.modified_at)
            .execution_options(synchronize_session=False)
        )
    return session.scalars(stmt).first()


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
    session.execute(
        update(_jobs)
        .where(_job.id == job_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def transition(
    session: Session, job_id: int, allowed: Sequence[str], to_status: str, **values: Any
) -> bool:
    """Move the job to ``to_status`` only from one of ``allowed``."""
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
    chunk sees the last count."""
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
    session: Session, tenant_id: int, job_id: int, data: Sequence[str], status: str
) -> None:
    """Records 1..n (``seq``) with the given data, one INSERT ... SELECT per batch over a
    JSON array parameter: no row travels as its own statement or parameter set."""
    stmt = _INSERT_POSTGRES if _is_postgres(session) else _INSERT_SQLITE
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
    only the whole list shows them); validation turns it into FailedValidation."""
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
    records, in one query (a window over the seqs)."""
    numbered = (
        select(
            _rec.seq.label("seq"),
            ((func.row_number().over(order_by=_rec.seq) - 1) // chunk_size).label("bucket"),
        )
        .where(_rec.bulk_job_id == job_id, _rec.status == st.PASSED_VALIDATION)
        .subquery()
    )
    rows = session.execute(
        select(func.min(numbered.c.seq), func.max(numbered.c.seq), func.count())
        .group_by(numbered.c.bucket)
        .order_by(numbered.c.bucket)
    ).all()
    return [ChunkRange(int(lo), int(hi), int(n)) for lo, hi, n in rows]


# -- records: reads ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordRow:
    id: int
    bulk_job_id: int
    status: str
    data: str
    details: str | None
    created_entity_id: int | None


def records_of(session: Session, job_id: int) -> list[RecordRow]:
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
    )
    return [RecordRow(*row) for row in rows]


def status_counts(session: Session, job_id: int) -> dict[str, int]:
    rows = session.execute(
        select(_rec.status, func.count()).where(_rec.bulk_job_id == job_id).group_by(_rec.status)
    )
    return {status: int(count) for status, count in rows}


def _in_range(job_id: int, first_seq: int, last_seq: int) -> list[Any]:
    """A chunk's records by (job, seq): the unique index answers it whatever the
    statistics say. The status is filtered in Python, not SQL: right after a big job is
    loaded or validated, stale statistics would make the planner read the whole job
    through the (job, status) index for every chunk."""
    return [_rec.bulk_job_id == job_id, _rec.seq.between(first_seq, last_seq)]


def validation_facts(
    session: Session, tenant_id: int, job_id: int, first_seq: int, last_seq: int
) -> list[InvoiceFacts]:
    """Each pending record of the range with its invoice's status, its customer's status
    and its balance: ONE query (records left-joined to invoices and accounts, the balance
    a correlated sum over the ledger's invoice index). Another tenant's invoice does not
    join, so it reads as unknown."""
    invoice_id = cast(_rec.data, BigInteger)
    balance = _inv.amount_minor - applied_sum(tenant_id)
    stmt = (
        select(_rec.id, _rec.status, _rec.details, _inv.id, _inv.status, _acc.status, balance)
        .select_from(
            _records.outerjoin(
                Invoice.__table__, and_(_inv.tenant_id == tenant_id, _inv.id == invoice_id)
            ).outerjoin(
                Account.__table__, and_(_acc.tenant_id == tenant_id, _acc.id == _inv.account_id)
            )
        )
        .where(*_in_range(job_id, first_seq, last_seq))
        .order_by(_rec.seq)
    )
    return [
        InvoiceFacts(
            record_id=int(rid),
            preset_failure=details,
            invoice_id=int(iid) if iid is not None else None,
            invoice_status=invoice_status,
            account_status=account_status,
            balance_minor=int(balance_minor) if balance_minor is not None else None,
        )
        for (
            rid,
            status,
            details,
            iid,
            invoice_status,
            account_status,
            balance_minor,
        ) in session.execute(stmt)
        if status == st.PENDING
    ]


def records_in_range(
    session: Session, job_id: int, first_seq: int, last_seq: int, status: str
) -> list[tuple[int, int]]:
    """(record id, invoice id) of the range's records in ``status``, in seq order."""
    rows = session.execute(
        select(_rec.id, _rec.data, _rec.status)
        .where(*_in_range(job_id, first_seq, last_seq))
        .order_by(_rec.seq)
    )
    return [(int(rid), int(data)) for rid, data, current in rows if current == status]


def invoices_with_owner_status(
    session: Session, tenant_id: int, invoice_ids: Sequence[int]
) -> dict[int, tuple[Invoice, str]]:
    """The invoices (fresh from the database) and their accounts' statuses."""
    found: dict[int, tuple[Invoice, str]] = {}
    for chunk in _id_chunks(sorted(set(invoice_ids))):
        rows = session.execute(
            select(Invoice, Account.status)
            .join(Account, and_(Account.tenant_id == tenant_id, Account.id == Invoice.account_id))
            .where(Invoice.tenant_id == tenant_id, Invoice.id.in_(chunk))
            .execution_options(populate_existing=True)
        ).all()
        found.update((invoice.id, (invoice, status)) for invoice, status in rows)
    return found


# -- records: writes -----------------------------------------------------------------------


def _in_list(session: Session, column: Any, values: Sequence[int], type_: Any) -> Any:
    """``column IN values``: one array parameter on PostgreSQL (a thousand-value IN list
    costs more to send and parse than to run)."""
    if _is_postgres(session):
        return column == any_(bindparam(None, list(values), type_=ARRAY(type_)))
    return column.in_(values)


def set_status(
    session: Session, record_ids: Sequence[int], status: str, details: str | None
) -> None:
    for chunk in _id_chunks(record_ids):
        session.execute(
            update(_records)
            .where(_in_list(session, _rec.id, chunk, BigInteger))
            .values(status=status, details=details)
        )


def set_processed(session: Session, created: Sequence[tuple[int, int]]) -> None:
    """Mark records Processed with the id of what they created: (record id, entity id)."""
    if not created:
        return
    session.connection().execute(
        update(_records)
        .where(_rec.id == bindparam("record_id"))
        .values(
            status=st.RECORD_PROCESSED,
            details=None,
            created_entity_id=bindparam("entity_id"),
        ),
        [{"record_id": rid, "entity_id": eid} for rid, eid in created],
    )


def fail_range(
    session: Session,
    job_id: int,
    first_seq: int,
    last_seq: int,
    from_status: str,
    to_status: str,
    details: str,
) -> int:
    """Fail what is left of a chunk (a chunk that failed every attempt)."""
    left = [rid for rid, _ in records_in_range(session, job_id, first_seq, last_seq, from_status)]
    set_status(session, left, to_status, details)
    return len(left)


def fail_incomplete(session: Session, job_id: int, details: str) -> int:
    """A cancel: every record not yet in a final state becomes FailedProcessing."""
    result = session.execute(
        update(_records)
        .where(_rec.bulk_job_id == job_id, _rec.status.in_(st.INCOMPLETE))
        .values(status=st.FAILED_PROCESSING, details=details)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
