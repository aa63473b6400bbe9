"""All SQL of payment runs: the runs, the set-based selection of receivables, the
chunks' records, and the aggregates the summary shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account
from billcycle.accounts.statuses import AccountStatus
from billcycle.db.bulk import PG_JSON_ROWS_NUMBERED, is_postgres, json_text
from billcycle.db.types import UtcDateTime
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.jobs.chunks import ChunkRange
from billcycle.jobs.models import WorkChunk
from billcycle.ledger.repository import balance_column
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.statuses import PaymentMethodStatus
from billcycle.paymentruns.models import PaymentRun, PaymentRunData
from billcycle.paymentruns.statuses import PaymentRunStatus, RecordResult
from billcycle.payments import pending_repository
from billcycle.payments.models import Payment, PendingApplication
from billcycle.payments.statuses import SETTLED_STATUSES, PaymentStatus
from billcycle.tenancy.repository import sandbox_tenant_ids

_run = PaymentRun.__table__.c
_data = PaymentRunData.__table__.c
_acc = Account.__table__.c
_inv = Invoice.__table__.c
_pm = PaymentMethod.__table__.c
_pay = Payment.__table__.c

CHUNK_KIND_PREFIX = "payment_run"


# -- runs ------------------------------------------------------------------------------------


def add_run(session: Session, run: PaymentRun) -> PaymentRun:
    session.add(run)
    session.flush()
    return run


# Built once (a payment run's collecting thread reads the run every slice).
_RUN = select(PaymentRun).where(
    PaymentRun.tenant_id == bindparam("t"), PaymentRun.id == bindparam("run_id")
)
_RUN_LOCKED = _RUN.with_for_update()


def get_run(
    session: Session, tenant_id: int, run_id: int, *, lock: bool = False
) -> PaymentRun | None:
    stmt = _RUN_LOCKED if lock else _RUN
    return session.scalars(stmt, {"t": tenant_id, "run_id": run_id}).first()


def find_run_by_number(session: Session, tenant_id: int, number: str) -> PaymentRun | None:
    return session.scalars(
        select(PaymentRun).where(
            PaymentRun.tenant_id == tenant_id, PaymentRun.payment_run_number == number
        )
    ).first()


def lock_run(session: Session, run: PaymentRun) -> PaymentRun:
    """Re-read the run under a row lock (PostgreSQL); SQLite serialises writers, and the
    conditional UPDATE of ``transition`` guards it too."""
    session.refresh(run, with_for_update=session.get_bind().dialect.name == "postgresql")
    return run


def transition(
    session: Session, run: PaymentRun, allowed: Sequence[str], to_status: str, **values: Any
) -> bool:
    """Move ``run`` to ``to_status`` only if it is in one of ``allowed`` now.

    Tenant: ``run`` was loaded under the caller's tenant.
    """
    result = session.execute(
        update(PaymentRun)
        .where(PaymentRun.id == run.id, PaymentRun.status.in_(allowed))
        .values(status=to_status, **values)
        .execution_options(synchronize_session=False)
    )
    moved = bool(result.rowcount)  # type: ignore[attr-defined]
    if moved:
        session.refresh(run)
    return moved


@dataclass(frozen=True, slots=True)
class RunFilters:
    status: str | None = None
    target_date: date | None = None
    created_date: date | None = None
    updated_date: date | None = None


def list_runs(
    session: Session, tenant_id: int, filters: RunFilters, offset: int, limit: int
) -> tuple[list[PaymentRun], bool]:
    """Newest number first (Zuora's default order)."""
    stmt = select(PaymentRun).where(PaymentRun.tenant_id == tenant_id)
    if filters.status:
        stmt = stmt.where(PaymentRun.status == filters.status)
    if filters.target_date:
        stmt = stmt.where(PaymentRun.target_date == filters.target_date)
    for column, day in (
        (PaymentRun.created_at, filters.created_date),
        (PaymentRun.updated_at, filters.updated_date),
    ):
        if day is not None:
            start = datetime.combine(day, time(), tzinfo=UTC)
            stmt = stmt.where(column >= start, column < start + timedelta(days=1))
    rows = list(
        session.scalars(stmt.order_by(PaymentRun.id.desc()).offset(offset).limit(limit + 1))
    )
    return rows[:limit], len(rows) > limit


def delete_run(session: Session, tenant_id: int, run_id: int) -> None:
    """The run, its records (cascade), its chunks. Payments it made stay: they are money."""
    session.execute(delete(PaymentRunData).where(PaymentRunData.payment_run_id == run_id))
    session.execute(
        delete(WorkChunk).where(
            WorkChunk.parent_id == run_id, WorkChunk.kind.like(f"{CHUNK_KIND_PREFIX}%")
        )
    )
    session.execute(
        delete(PaymentRun).where(PaymentRun.tenant_id == tenant_id, PaymentRun.id == run_id)
    )


def due_scheduled_runs(
    session: Session, now: datetime, limit: int = 100, *, tenant_id: int | None = None
) -> list[tuple[int, int]]:
    """(tenant, run) of Pending scheduled runs whose time has come, oldest first: of the
    installation's production tenants (the scheduler; a sandbox tenant's runs start when
    its test clock is advanced), or of the one ``tenant_id`` (such an advance).

    Tenant: the scheduler serves the whole installation; each row names its tenant.
    """
    query = select(_run.tenant_id, _run.id).where(
        _run.status == PaymentRunStatus.PENDING, _run.run_date <= now
    )
    if tenant_id is None:
        query = query.where(_run.tenant_id.not_in(sandbox_tenant_ids()))
    else:
        query = query.where(_run.tenant_id == tenant_id)
    rows = session.execute(query.order_by(_run.run_date, _run.id).limit(limit)).all()
    return [(t, r) for t, r in rows]


def next_scheduled_time(session: Session, tenant_id: int, after: datetime) -> datetime | None:
    """The earliest time after ``after`` at which one of the tenant's Pending scheduled
    runs starts."""
    found: datetime | None = session.scalar(
        select(func.min(_run.run_date)).where(
            _run.tenant_id == tenant_id,
            _run.status == PaymentRunStatus.PENDING,
            _run.run_date > after,
        )
    )
    return found


def pending_unscheduled_runs(
    session: Session, created_before: datetime, limit: int = 100
) -> list[tuple[int, int]]:
    """Run-now Pending runs older than ``created_before`` (their start task was lost).

    Tenant: the scheduler serves the whole installation; each row names its tenant.
    """
    rows = session.execute(
        select(_run.tenant_id, _run.id)
        .where(
            _run.status == PaymentRunStatus.PENDING,
            _run.run_date.is_(None),
            _run.created_at < created_before,
        )
        .order_by(_run.id)
        .limit(limit)
    ).all()
    return [(t, r) for t, r in rows]


def record_chunk(
    session: Session, run_id: int, *, processed: int, failed: int, payments: int, now: datetime
) -> tuple[int, int]:
    """Add a finished chunk's counts; returns (chunks done, chunks total). The row lock
    this takes orders the chunks' commits, so exactly one sees done == total.

    Tenant: the caller took ``run_id`` from its chunk, which carries the tenant.
    """
    row = session.execute(
        update(PaymentRun)
        .where(PaymentRun.id == run_id)
        .values(
            receivables_processed=_run.receivables_processed + processed,
            receivables_failed=_run.receivables_failed + failed,
            payments_created=_run.payments_created + payments,
            chunks_done=_run.chunks_done + 1,
            updated_at=now,
        )
        .returning(_run.chunks_done, _run.chunks_total)
        .execution_options(synchronize_session=False)
    ).one()
    return int(row[0]), int(row[1])


# add_progress's statement, built once: a Core UPDATE of the table (no ORM bulk-update
# machinery each call) whose compiled form SQLAlchemy caches; a run's chunk calls it
# twice a slice (the ORM ``update(PaymentRun)`` built and dispatched anew cost ~1 ms a
# call in the 100,000-payment profile, more than the statement).
_RUNS = PaymentRun.__table__
assert isinstance(_RUNS, Table)
_ADD_PROGRESS = (
    update(_RUNS)
    .where(_run.id == bindparam("run_id"))
    .values(
        receivables_processed=_run.receivables_processed + bindparam("processed"),
        receivables_failed=_run.receivables_failed + bindparam("failed"),
        payments_created=_run.payments_created + bindparam("payments"),
        unapplied_payments_used=_run.unapplied_payments_used + bindparam("unapplied"),
        updated_at=bindparam("now", type_=UtcDateTime),
    )
)


def add_progress(
    session: Session,
    run_id: int,
    *,
    processed: int,
    failed: int,
    payments: int,
    unapplied: int,
    now: datetime,
) -> None:
    """Counts of records finished before their chunk is (progress shown while charging).

    Tenant: the caller took ``run_id`` from its chunk, which carries the tenant.
    """
    session.execute(
        _ADD_PROGRESS,
        {
            "run_id": run_id,
            "processed": processed,
            "failed": failed,
            "payments": payments,
            "unapplied": unapplied,
            "now": now,
        },
    )


# -- selecting receivables ----------------------------------------------------------------


def _not_collecting_elsewhere(tenant_id: int, postgres: bool) -> Any:
    """No Processing payment intends to pay the invoice (one that does: collected again
    only once that payment settles, its intention deleted then). The shapes of an
    intention: a row, a payment run's payment holding it (``payments.pending_invoice_id``),
    as two ANDed ``NOT EXISTS`` (PostgreSQL plans each as an anti-join; a negated OR of
    the two it would evaluate per invoice), and another run's slice in flight (its
    payments not written yet: ``payments_in_flight``, one uncorrelated subquery)."""
    return and_(
        _inv.id.not_in(pending_repository.in_flight_invoice_ids(tenant_id, postgres)),
        ~exists(
            select(literal(1)).where(
                PendingApplication.tenant_id == tenant_id,
                PendingApplication.invoice_id == _inv.id,
            )
        ),
        ~exists(
            select(literal(1)).where(
                Payment.tenant_id == tenant_id, Payment.pending_invoice_id == _inv.id
            )
        ),
    )


@dataclass(frozen=True, slots=True)
class Selection:
    target_date: date
    account_id: int | None
    batch: int | None
    bill_cycle_day: int | None
    billing_run_id: int | None
    currency: str | None
    payment_gateway_id: int | None
    default_gateway_id: int | None  # the tenant's: what a method without a gateway uses
    include_closed_methods: bool
    # organizationLabels (multi-org): accounts of these organizations only (None: any),
    # never of the excluded ones.
    organization_ids: tuple[int, ...] | None = None
    excluded_organization_ids: tuple[int, ...] = ()
    # Invoices posted by this time only (the run's start: a chunk selects its records
    # when it starts, and an invoice posted after the run started is not the run's, as
    # when every record was selected at the start); None: any. An invoice without a
    # posting time counts as posted before.
    posted_by: datetime | None = None


def _account_conditions(
    tenant_id: int, selection: Selection, account_id: Any, *, method: bool = True
) -> list[Any]:
    """The selection's conditions on the account (``account_id``: the column naming it
    in the statement, for the payment method's correlation); ``method``: with the
    default payment method's."""
    method_status = [PaymentMethodStatus.ACTIVE.value]
    if selection.include_closed_methods:
        method_status.append(PaymentMethodStatus.CLOSED.value)
    default = [
        _pm.tenant_id == tenant_id,
        _pm.account_id == account_id,
        _pm.is_default.is_(True),
        _pm.status.in_(method_status),
    ]
    if selection.payment_gateway_id is not None:
        by_gateway = _pm.gateway_id == selection.payment_gateway_id
        if selection.payment_gateway_id == selection.default_gateway_id:
            by_gateway = or_(by_gateway, _pm.gateway_id.is_(None))
        default.append(by_gateway)
    conditions: list[Any] = [
        _acc.tenant_id == tenant_id,
        _acc.status == AccountStatus.ACTIVE,
        _acc.auto_pay.is_(True),
    ]
    if method:
        conditions.append(
            exists(select(literal(1)).select_from(PaymentMethod.__table__).where(*default))
        )
    if selection.account_id is not None:
        conditions.append(account_id == selection.account_id)
    if selection.batch is not None:
        conditions.append(_acc.batch == selection.batch)
    if selection.bill_cycle_day is not None:
        conditions.append(_acc.bill_cycle_day == selection.bill_cycle_day)
    if selection.organization_ids is not None:
        conditions.append(_acc.organization_id.in_(selection.organization_ids))
    if selection.excluded_organization_ids:
        conditions.append(
            or_(
                _acc.organization_id.is_(None),
                _acc.organization_id.not_in(selection.excluded_organization_ids),
            )
        )
    return conditions


def _invoice_conditions(tenant_id: int, selection: Selection) -> list[Any]:
    """The selection's conditions on the invoice that need no other table."""
    conditions: list[Any] = [
        _inv.tenant_id == tenant_id,
        _inv.status == InvoiceStatus.POSTED,
        _inv.due_date <= selection.target_date,
    ]
    if selection.billing_run_id is not None:
        conditions.append(_inv.bill_run_id == selection.billing_run_id)
    if selection.currency is not None:
        conditions.append(_inv.currency == selection.currency)
    if selection.posted_by is not None:
        conditions.append(or_(_inv.posted_at.is_(None), _inv.posted_at <= selection.posted_by))
    return conditions


def select_receivables(
    session: Session,
    tenant_id: int,
    run_id: int,
    selection: Selection,
    accounts: tuple[int, int] | None = None,
) -> int:
    """Insert the run's records in one INSERT ... SELECT: posted invoices with a balance,
    due on or before the target date, of Active autopay accounts with a default payment
    method, none of them being collected by a Processing payment; of the accounts
    ``accounts`` (first, last id) only when given (a chunk's); returns how many."""
    conditions: list[Any] = [
        *_invoice_conditions(tenant_id, selection),
        *_account_conditions(tenant_id, selection, _inv.account_id),
        balance_column(tenant_id) > 0,
        _not_collecting_elsewhere(tenant_id, is_postgres(session)),
    ]
    if accounts is not None:
        # On both tables: the accounts read by their key range, not all of them hashed.
        conditions.append(_inv.account_id.between(accounts[0], accounts[1]))
        conditions.append(_acc.id.between(accounts[0], accounts[1]))
    rows = (
        select(
            literal(tenant_id),
            literal(run_id),
            _inv.account_id,
            _inv.id,
            _inv.currency,
            literal(False),
            literal(0),
        )
        .select_from(Invoice.__table__.join(Account.__table__, _acc.id == _inv.account_id))
        .where(*conditions)
        .order_by(_inv.account_id, _inv.due_date, _inv.id)
    )
    result = session.execute(
        insert(PaymentRunData)
        .from_select(
            [
                "tenant_id",
                "payment_run_id",
                "account_id",
                "invoice_id",
                "currency",
                "from_input",
                "amount_collected_minor",
            ],
            rows,
        )
        # The count of an INSERT is kept only when asked for (else -1 on PostgreSQL).
        .execution_options(preserve_rowcount=True)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def selection_account_ranges(
    session: Session, tenant_id: int, selection: Selection, accounts_per_chunk: int
) -> list[ChunkRange]:
    """The accounts a run may collect cut into ranges of ids, ``accounts_per_chunk``
    accounts each, before any record is written (size = accounts): the selection's
    conditions on the account itself (tenant, Active, autopay, batch, bill cycle day,
    organizations), and, when the run names a bill run or a currency, a posted invoice of
    it due by the target date (without those, an account seldom lacks one, and reading
    every invoice would cost the start more than the ranges it spares). Neither the
    payment methods, the invoices' balances nor their pending payments are read here:
    each chunk selects its records itself (:func:`select_receivables` over its range),
    so a range may yield fewer records than accounts, or none. One query: a window over
    the account ids (one scan of the tenant's accounts) that returns only each range's
    first and last account (their row numbers give its size): no grouping of every
    account by its range (SQLite sorted all of them again for the ``GROUP BY``: 0.16 s
    of the writer's CPU at 100,000 accounts, ~0.09 s without)."""
    conditions = _account_conditions(tenant_id, selection, _acc.id, method=False)
    if selection.billing_run_id is not None or selection.currency is not None:
        conditions.append(
            exists(
                select(literal(1))
                .select_from(Invoice.__table__)
                .where(*_invoice_conditions(tenant_id, selection), _inv.account_id == _acc.id)
            )
        )
    per = accounts_per_chunk
    numbered = (
        select(_acc.id.label("account_id"), func.row_number().over(order_by=_acc.id).label("rn"))
        .where(*conditions)
        .subquery()
    )
    n = numbered.c
    rows = session.execute(
        select(n.account_id, n.rn).where(or_((n.rn - 1) % per == 0, n.rn % per == 0)).order_by(n.rn)
    ).all()
    ranges: list[ChunkRange] = []
    first = first_rn = 0
    for account_id, rn in rows:
        if (rn - 1) % per == 0:
            first, first_rn = account_id, rn
        if rn % per == 0:
            ranges.append(ChunkRange(first, account_id, per))
    if rows and rows[-1][1] % per:
        # The last range is short: it ends at the last account.
        last, count = session.execute(
            select(func.max(_acc.id), func.count()).where(*conditions)
        ).one()
        ranges.append(ChunkRange(first, int(last), int(count) - first_rn + 1))
    return ranges


def _bucket_ranges(session: Session, numbered: Any) -> list[ChunkRange]:
    """``numbered``'s (``account_id``, ``bucket``) rows as one range of account ids a
    bucket, in bucket order; size = its rows."""
    rows = session.execute(
        select(func.min(numbered.c.account_id), func.max(numbered.c.account_id), func.count())
        .group_by(numbered.c.bucket)
        .order_by(numbered.c.bucket)
    ).all()
    return [ChunkRange(lo, hi, n) for lo, hi, n in rows]


def has_records(
    session: Session, tenant_id: int, run_id: int, first_account: int, last_account: int
) -> bool:
    """Whether the run has any record of the accounts ``first_account``..``last_account``
    (a chunk whose records were selected already)."""
    found = session.scalar(
        select(_data.id)
        .where(
            _data.tenant_id == tenant_id,
            _data.payment_run_id == run_id,
            _data.account_id.between(first_account, last_account),
        )
        .limit(1)
    )
    return found is not None


def add_receivables(session: Session, run_id: int, count: int) -> None:
    """Count ``count`` more records in the run's ``receivables_total`` (a chunk's, once
    it selected them).

    Tenant: the caller took ``run_id`` from its chunk, which carries the tenant.
    """
    session.execute(
        update(PaymentRun)
        .where(PaymentRun.id == run_id)
        .values(receivables_total=_run.receivables_total + count)
        .execution_options(synchronize_session=False)
    )


def insert_records(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """A run's explicit data[] records (checked by the service).

    Tenant: each row carries the tenant the service resolved its account and invoice in.
    """
    if rows:
        session.execute(insert(PaymentRunData), list(rows))


def delete_records(session: Session, tenant_id: int, run_id: int) -> None:
    session.execute(
        delete(PaymentRunData).where(
            PaymentRunData.tenant_id == tenant_id, PaymentRunData.payment_run_id == run_id
        )
    )


def record_count(session: Session, tenant_id: int, run_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(PaymentRunData)
            .where(PaymentRunData.tenant_id == tenant_id, PaymentRunData.payment_run_id == run_id)
        )
        or 0
    )


def account_ranges(
    session: Session, tenant_id: int, run_id: int, accounts_per_chunk: int
) -> list[ChunkRange]:
    """The run's records cut into ranges of account ids, ``accounts_per_chunk`` accounts
    each (one account's records always in one chunk); size = records. One query: a
    window over the account ids."""
    numbered = (
        select(
            _data.account_id.label("account_id"),
            ((func.dense_rank().over(order_by=_data.account_id) - 1) // accounts_per_chunk).label(
                "bucket"
            ),
        )
        .where(_data.tenant_id == tenant_id, _data.payment_run_id == run_id)
        .subquery()
    )
    return _bucket_ranges(session, numbered)


# Rows ANALYZE samples per index (SQLite's analysis_limit): enough to tell a tenant
# index from a primary key, a few milliseconds whatever the table's size.
_ANALYSIS_LIMIT = 1000
# The tables a payment run's slice reads by ``tenant_id = ? AND id IN (...)``.
_ANALYZED = (
    "payments",
    "payment_pending_applications",
    "payment_methods",
    "payment_run_data",
    "ledger_entries",
)


# PostgreSQL: the tables a slice reads whose statistics a run outgrows (it writes
# payments, ledger entries, applications and its records; the invoices and methods it
# reads may be freshly loaded), and how far: ANALYZE once the rows changed since the last
# one exceed ``_GROWTH`` times the rows it counted, plus ``_GROWTH_FLOOR`` (a table
# never analysed counts none). Autovacuum's own threshold (10% + 50 rows) is lower, so
# where it runs this rarely fires; where it is off or behind, a run analyses each table
# a handful of times (about 1,000, 4,000, 16,000, ... rows: ~6 times up to 1,000,000).
# (Not payment_pending_applications: its rows live from a slice's start to its
# settle, so its statistics would count a moment's handful and mislead.)
_ANALYZED_POSTGRES = (
    "payments",
    "payment_methods",
    "payment_run_data",
    "ledger_entries",
    "invoices",
    "accounts",
)
_GROWTH = 3
_GROWTH_FLOOR = 1000
# The statistics target of the run's own ANALYZEs (``SET LOCAL``, this transaction
# only): 10 samples 3,000 rows (the server's default 100: 30,000), enough to tell a
# tenant index from a key as SQLite's 1,000-row ``analysis_limit`` is, at a tenth of the
# CPU (payments at 100,000 rows: ~0.33 s -> ~0.03 s of the server's a time; a 100,000
# run analysed ~0.8 s in all). A column's own target (``ALTER TABLE ... SET STATISTICS``)
# still wins, and the next ANALYZE by autovacuum or by hand writes full statistics again.
_STATISTICS_TARGET = 10
_OUTGROWN = """
SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.relid = ANY(CAST(:tables AS regclass[]))
  AND s.n_mod_since_analyze > GREATEST(c.reltuples, 0) * :growth + :floor
ORDER BY s.relname
"""


def refresh_planner_statistics(session: Session) -> None:
    """Refresh the statistics of the tables a chunk's statements read, at its start.

    SQLite: without them SQLite assumes ``tenant_id = ?`` on a tenant index is selective
    and prefers it to a slice's ids: ``payments WHERE tenant_id = ? AND id IN (...)``
    walked ``ix_payments_tenant_amount`` over every payment of the tenant, each slice, in
    every statement that reads payments by id (locking, events, collections): quadratic
    in the run's size. A run writes the payments it then reads, so the statistics are
    refreshed per chunk (sampled: ``analysis_limit``).

    PostgreSQL: only the tables whose statistics the run has outgrown
    (``_OUTGROWN``), ``ANALYZE (SKIP_LOCKED)`` (a table another worker is analysing is
    left to it). Without statistics every condition is guessed at a fixed selectivity,
    so the tenant index and ``ix_payments_gateway_order`` tie for the gateway-order
    look-up and the tenant index won: each slice read every payment before it (~0.75 s a
    slice at 100,000 payments); the run's records were hashed from every record whose
    payment was still NULL; and a plan cached while a table was small is kept until an
    ANALYZE invalidates it. The statements whose plan must not depend on statistics at
    all are written so (LATERAL look-ups, correlated subqueries)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        outgrown = session.execute(
            text(_OUTGROWN),
            {"tables": list(_ANALYZED_POSTGRES), "growth": _GROWTH, "floor": _GROWTH_FLOOR},
        )
        tables = outgrown.scalars().all()
        if tables:
            session.execute(text(f"SET LOCAL default_statistics_target = {_STATISTICS_TARGET}"))
        for table in tables:
            session.execute(text(f"ANALYZE (SKIP_LOCKED) {table}"))
        return
    if dialect != "sqlite":
        return
    session.execute(text(f"PRAGMA analysis_limit = {_ANALYSIS_LIMIT}"))
    for table in _ANALYZED:
        session.execute(text(f"ANALYZE {table}"))


def open_slices(
    session: Session,
    tenant_id: int,
    run_id: int,
    first_account: int,
    last_account: int,
    records_per_slice: int,
) -> list[tuple[int, int]]:
    """A chunk's accounts with records still open, cut into account ranges of about
    ``records_per_slice`` records (an account's records in one slice), in order."""
    rows = session.execute(
        select(_data.account_id, func.count())
        .where(
            _data.tenant_id == tenant_id,
            _data.payment_run_id == run_id,
            _data.account_id.between(first_account, last_account),
            _data.result.is_(None),
        )
        .group_by(_data.account_id)
        .order_by(_data.account_id)
    ).all()
    slices: list[tuple[int, int]] = []
    start: int | None = None
    size = 0
    for account_id, count in rows:
        if start is None:
            start = account_id
        size += count
        if size >= records_per_slice:
            slices.append((start, account_id))
            start, size = None, 0
    if start is not None:
        slices.append((start, rows[-1][0]))
    return slices


def open_records(
    session: Session, tenant_id: int, run_id: int, first_account: int, last_account: int
) -> list[PaymentRunData]:
    """A chunk's records without an outcome yet, by account then id."""
    return list(
        session.scalars(
            select(PaymentRunData)
            .where(
                PaymentRunData.tenant_id == tenant_id,
                PaymentRunData.payment_run_id == run_id,
                PaymentRunData.account_id.between(first_account, last_account),
                PaymentRunData.result.is_(None),
            )
            .order_by(PaymentRunData.account_id, PaymentRunData.id)
        )
    )


# Records claimed from ONE JSON parameter (an array of [record id, payment id, amount]).
# SQLite: ``+payment_id`` keeps the planner off ``ix_payment_run_data_payment`` (it took
# ``payment_id IS NULL`` there for the outer loop: every unclaimed record of every run,
# for each JSON row; ~5 ms a record at 20,000), so the JSON rows drive, by primary key.
def claim_many(session: Session, claims: Sequence[tuple[int, int, int | None]]) -> bool:
    """Name the payment that collects each record and the amount it was decided to
    collect, (record id, payment id, amount to collect) in ONE ``UPDATE ... FROM`` a JSON
    array (no statement or parameters processed per record), only where no payment
    does yet: all of them, or False when any record was claimed by another worker
    meanwhile (one that lost its chunk to another must roll back its charges). The
    row-by-row path's claims, as :func:`claim_columns` writes a set-based slice's.

    Tenant: the records were read under the caller's tenant.
    """
    if not claims:
        return True
    record_ids, payment_ids, amounts = zip(*claims, strict=True)
    return claim_columns(session, record_ids, payment_ids, amounts)


# A set-based slice's claims (``claim_columns``): ONE JSON array of [record id, amount]
# (plus the payment id when the slice's ids are not one run: ``{payment}``).
_CLAIM_COLUMNS_SQLITE = """
UPDATE payment_run_data SET payment_id = {payment},
    amount_to_collect_minor = json_extract(j.value, '$[1]')
FROM json_each(:rows) j
WHERE payment_run_data.id = json_extract(j.value, '$[0]')
  AND +payment_run_data.payment_id IS NULL
"""
_CLAIM_COLUMNS_POSTGRES = """
UPDATE payment_run_data SET payment_id = {payment},
    amount_to_collect_minor = (j.e->>1)::bigint
FROM {rows}
WHERE payment_run_data.id = (j.e->>0)::bigint AND payment_run_data.payment_id IS NULL
"""


# SQLite, a slice whose claimed records AND payment ids are each one run of ids (the
# usual set-based slice: a chunk's records are written by one INSERT in account order,
# a slice is a range of its accounts, and each record decided to be charged gets the
# next payment id): ONE JSON array of the amounts, the record and the payment each the
# first plus the row's place; no ``json_extract`` and half the text (~40% of the
# statement's CPU: 0.18 s at 100,000 records).
_CLAIM_RUNS_SQLITE = """
UPDATE payment_run_data SET payment_id = (:first + j.key), amount_to_collect_minor = j.value
FROM json_each(:rows) j
WHERE payment_run_data.id = (:first_record + j.key)
  AND +payment_run_data.payment_id IS NULL
"""


def _one_run(ids: Sequence[int]) -> bool:
    """Whether ``ids`` are consecutive integers, ascending."""
    return list(ids) == list(range(ids[0], ids[0] + len(ids)))


def claim_columns(
    session: Session,
    record_ids: Sequence[int],
    payment_ids: Sequence[int],
    amounts: Sequence[int | None],
) -> bool:
    """:func:`claim_many` for claims given as parallel columns (a set-based slice's):
    record ``record_ids[i]`` is collected by ``payment_ids[i]`` for ``amounts[i]``.
    Payment ids allocated in one run (always so on SQLite, where the slice's are a
    block after the maximum) are the first plus the row's place in the array rather
    than a JSON value a claim: less text to write and, on SQLite, one ``json_extract``
    of each row less (~0.3 µs a claim); others (the row-by-row path's, several records
    to one payment) are each row's third value.

    Tenant: the records were read under the caller's tenant.
    """
    if not record_ids:
        return True
    postgres = session.get_bind().dialect.name == "postgresql"
    params: dict[str, Any] = {}
    one_run = _one_run(payment_ids)
    if one_run and not postgres and _one_run(record_ids):
        result = session.execute(
            text(_CLAIM_RUNS_SQLITE),
            {"first": payment_ids[0], "first_record": record_ids[0], "rows": json_text(amounts)},
        )
        return int(result.rowcount) == len(record_ids)  # type: ignore[attr-defined]
    if one_run:
        params["first"] = payment_ids[0]
        rows: list[Any] = list(zip(record_ids, amounts, strict=True))
        # PostgreSQL's ordinality counts from 1, SQLite's json_each key from 0.
        payment = "(:first + j.n - 1)" if postgres else "(:first + j.key)"
    else:
        rows = list(zip(record_ids, amounts, payment_ids, strict=True))
        payment = "(j.e->>2)::bigint" if postgres else "json_extract(j.value, '$[2]')"
    statement = (
        _CLAIM_COLUMNS_POSTGRES.format(payment=payment, rows=PG_JSON_ROWS_NUMBERED)
        if postgres
        else _CLAIM_COLUMNS_SQLITE.format(payment=payment)
    )
    params["rows"] = json_text(rows)
    result = session.execute(text(statement), params)
    return int(result.rowcount) == len(set(record_ids))  # type: ignore[attr-defined]


def balances(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> dict[int, int]:
    from billcycle.ledger.repository import balances as ledger_balances

    return ledger_balances(session, tenant_id, invoice_ids)


def payment_statuses(
    session: Session, tenant_id: int, payment_ids: Sequence[int]
) -> dict[int, tuple[str, str | None, str | None]]:
    """(status, gateway code, gateway message) of each payment."""
    if not payment_ids:
        return {}
    rows = session.execute(
        select(_pay.id, _pay.status, _pay.gateway_response_code, _pay.gateway_response).where(
            _pay.tenant_id == tenant_id, _pay.id.in_(sorted(set(payment_ids)))
        )
    ).all()
    return {int(r[0]): (r[1], r[2], r[3]) for r in rows}


# -- reads: records and summary ------------------------------------------------------------


def records_page(
    session: Session, tenant_id: int, run_id: int, offset: int, limit: int
) -> list[PaymentRunData]:
    return list(
        session.scalars(
            select(PaymentRunData)
            .where(PaymentRunData.tenant_id == tenant_id, PaymentRunData.payment_run_id == run_id)
            .order_by(PaymentRunData.id)
            .offset(offset)
            .limit(limit)
        )
    )


def numbers_of(
    session: Session, tenant_id: int, account_ids: Sequence[int], invoice_ids: Sequence[int]
) -> tuple[dict[int, str], dict[int, str]]:
    """Account and invoice numbers of a page of records (two queries)."""
    accounts: dict[int, str] = {}
    invoices: dict[int, str] = {}
    if account_ids:
        accounts = {
            int(r[0]): r[1]
            for r in session.execute(
                select(_acc.id, _acc.account_number).where(
                    _acc.tenant_id == tenant_id, _acc.id.in_(sorted(set(account_ids)))
                )
            )
        }
    if invoice_ids:
        invoices = {
            int(r[0]): r[1]
            for r in session.execute(
                select(_inv.id, _inv.invoice_number).where(
                    _inv.tenant_id == tenant_id, _inv.id.in_(sorted(set(invoice_ids)))
                )
            )
        }
    return accounts, invoices


@dataclass(frozen=True, slots=True)
class CurrencyTotals:
    currency: str
    receivables: int
    receivables_minor: int
    processed_minor: int
    errors: int
    errors_minor: int
    unprocessed: int
    unprocessed_minor: int
    collected_minor: int


def summary_totals(session: Session, tenant_id: int, run_id: int) -> list[CurrencyTotals]:
    """Per currency, in one grouped query over the run's records. A record with no
    result written counts as its payment's outcome (what ``service.records`` shows):
    settled, Processed with the amount it was to collect; Error, an error; else open."""
    settled = [status.value for status in sorted(SETTLED_STATUSES)]
    # The record's payment, joined only for records with no result written (one join:
    # as a scalar subquery PostgreSQL evaluated it at each of its references, ~16 s for
    # 100,000 records against 0.2 s).
    inner = (
        select(
            _data.currency.label("currency"),
            _data.amount_to_collect_minor.label("to_collect_minor"),
            _data.amount_minor.label("amount_minor"),
            _data.amount_collected_minor.label("collected_minor"),
            _data.result.label("result"),
            _pay.status.label("payment_status"),
        )
        .select_from(
            PaymentRunData.__table__.outerjoin(
                Payment.__table__,
                and_(
                    _pay.id == _data.payment_id,
                    _data.result.is_(None),
                    _pay.tenant_id == tenant_id,
                ),
            )
        )
        .where(_data.tenant_id == tenant_id, _data.payment_run_id == run_id)
        .subquery()
    )
    d = inner.c
    derived_settled = d.payment_status.in_(settled)
    result = case(
        (d.result.is_not(None), d.result),
        (derived_settled, RecordResult.PROCESSED.value),
        (d.payment_status == PaymentStatus.ERROR.value, RecordResult.ERROR.value),
        else_=None,
    )
    collected = case(
        (derived_settled, func.coalesce(d.to_collect_minor, d.collected_minor)),
        else_=d.collected_minor,
    )
    to_collect = func.coalesce(d.to_collect_minor, d.amount_minor, 0)
    is_error = result == RecordResult.ERROR.value
    unprocessed = or_(result.is_(None), collected < to_collect)
    rows = session.execute(
        select(
            d.currency,
            func.count(),
            func.sum(to_collect),
            func.sum(case((result == RecordResult.PROCESSED.value, to_collect), else_=0)),
            func.sum(case((is_error, 1), else_=0)),
            func.sum(case((is_error, to_collect), else_=0)),
            func.sum(case((and_(~is_error, unprocessed), 1), else_=0)),
            func.sum(
                case(
                    (and_(~is_error, unprocessed), to_collect - collected),
                    else_=0,
                )
            ),
            func.sum(collected),
        )
        .group_by(d.currency)
        .order_by(d.currency)
    ).all()
    return [CurrencyTotals(r[0], *(int(v or 0) for v in r[1:])) for r in rows]


def payment_count(session: Session, tenant_id: int, run_id: int) -> int:
    """Distinct payments the run charged (a consolidated payment covers several records)."""
    return int(
        session.scalar(
            select(func.count(func.distinct(_data.payment_id))).where(
                _data.tenant_id == tenant_id,
                _data.payment_run_id == run_id,
                _data.payment_id.is_not(None),
            )
        )
        or 0
    )


def records_by_id(
    session: Session, tenant_id: int, record_ids: Sequence[int]
) -> list[PaymentRunData]:
    if not record_ids:
        return []
    return list(
        session.scalars(
            select(PaymentRunData)
            .where(PaymentRunData.tenant_id == tenant_id, PaymentRunData.id.in_(list(record_ids)))
            .order_by(PaymentRunData.id)
        )
    )


def finishing_rows(session: Session, tenant_id: int, record_ids: Sequence[int]) -> list[Any]:
    """The columns a slice's finish reads of its records, as plain rows (id, payment id,
    result, amount to collect, amount collected, transactions), in id order: no ORM
    object per record."""
    found: list[Any] = []
    ordered = sorted(set(record_ids))
    for start in range(0, len(ordered), 500):
        found.extend(
            session.execute(
                select(
                    _data.id,
                    _data.payment_id,
                    _data.result,
                    _data.amount_to_collect_minor,
                    _data.amount_collected_minor,
                    _data.transactions,
                )
                .where(_data.tenant_id == tenant_id, _data.id.in_(ordered[start : start + 500]))
                .order_by(_data.id)
            ).all()
        )
    return found


def write_results(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Many records' outcomes in one executemany: each dict names ``b_id`` and the new
    ``result``, ``error_code``, ``error_message``, ``amount_collected_minor``,
    ``transactions`` and ``processed_at``. A record whose result is already written
    keeps it (an outcome is written once).

    Tenant: the ids were read under the caller's tenant (:func:`finishing_rows`).
    """
    if not rows:
        return
    table = PaymentRunData.__table__
    assert isinstance(table, Table)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.result.is_(None))
        .values(
            result=bindparam("result"),
            error_code=bindparam("error_code"),
            error_message=bindparam("error_message"),
            amount_collected_minor=bindparam("amount_collected_minor"),
            transactions=bindparam("transactions"),
            processed_at=bindparam("processed_at"),
        ),
        list(rows),
    )
