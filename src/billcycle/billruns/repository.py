"""All SQL of bill runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Row,
    Select,
    String,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import CompoundSelect
from sqlalchemy.sql.visitors import replacement_traverse

from billcycle.accounts.models import Account
from billcycle.billruns.models import BillRun, BillRunFailure, BillRunTotal
from billcycle.billruns.selection import Selection
from billcycle.billruns.statuses import BillRunStatus
from billcycle.db.bulk import fetch_rows
from billcycle.db.direct import DirectReads, DirectSelect, LoopReads
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.jobs.chunks import PENDING, ChunkRange
from billcycle.jobs.models import WorkChunk
from billcycle.ledger.models import LedgerEntry
from billcycle.tenancy.repository import client_generation_column, sandbox_tenant_ids

_run = BillRun.__table__.c
_acc = Account.__table__.c
_inv = Invoice.__table__.c
_chunk = WorkChunk.__table__.c


def add_run(session: Session, run: BillRun) -> BillRun:
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, tenant_id: int, run_id: int, *, lock: bool = False) -> BillRun | None:
    stmt = select(BillRun).where(BillRun.tenant_id == tenant_id, BillRun.id == run_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


# The read path of GET /bill-runs/{key}: plain rows, no ORM objects (nothing is changed),
# statements built once (only their parameters vary).
_RUN_BY_NUMBER = select(BillRun.__table__).where(
    _run.tenant_id == bindparam("tenant_id"), _run.bill_run_number == bindparam("number")
)
_RUN_VIEWS: dict[tuple[str, bool], Select[Any]] = {}


def _json_rows(dialect: str, *values: ColumnElement[Any]) -> ColumnElement[Any]:
    """A JSON array holding one JSON array of ``values`` per row (NULL or [] for none)."""
    if dialect == "postgresql":
        return func.json_agg(func.json_build_array(*values))
    return func.json_group_array(func.json_array(*values))


def _run_view_statement(dialect: str, with_client: bool) -> Select[Any]:
    """The run's columns with its totals and first failures as JSON: one query (with the
    calling OAuth client's generation as ``client_generation`` when ``with_client``)."""
    tot = BillRunTotal.__table__.c
    fail = BillRunFailure.__table__.c
    first_failures = (
        select(fail.id, fail.account_id, fail.message)
        .where(fail.bill_run_id == bindparam("run_id"))
        .order_by(fail.id)
        .limit(bindparam("failure_limit"))
        .subquery("first_failures")
    )
    totals = (
        select(_json_rows(dialect, tot.currency, tot.amount_minor))
        .where(tot.bill_run_id == bindparam("run_id"))
        .scalar_subquery()
    )
    failures = select(
        _json_rows(
            dialect, first_failures.c.id, first_failures.c.account_id, first_failures.c.message
        )
    ).scalar_subquery()
    statement = select(
        BillRun.__table__,
        type_coerce(totals, JSON).label("progress_totals"),
        type_coerce(failures, JSON).label("progress_failures"),
    ).where(_run.tenant_id == bindparam("tenant_id"), _run.id == bindparam("run_id"))
    if with_client:
        statement = statement.add_columns(client_generation_column().label("client_generation"))
    return statement


def run_view(
    session: Session,
    tenant_id: int,
    *,
    run_id: int | None,
    number: str,
    failure_limit: int,
    client: tuple[str, int] | None = None,
) -> tuple[Row[Any], dict[str, int], list[tuple[int, str]]] | None:
    """The run (by id, else by number) as a row named like BillRun's attributes, its
    totals per currency (in currency order) and its first failures (oldest first).

    ``client`` (an OAuth client id and its own tenant), by id only: the same statement
    also reads the client's generation, as the row's ``client_generation`` (None when
    the client is gone), so that a request's token check costs no round trip of its own.
    """
    connection = session.connection()
    if run_id is None:
        row = connection.execute(_RUN_BY_NUMBER, {"tenant_id": tenant_id, "number": number}).first()
        return None if row is None else (row, *progress(session, row.id, failure_limit))
    key = (connection.dialect.name, client is not None)
    statement = _RUN_VIEWS.get(key)
    if statement is None:
        statement = _RUN_VIEWS[key] = _run_view_statement(*key)
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "run_id": run_id,
        "failure_limit": failure_limit,
    }
    if client is not None:
        params["client_id"], params["client_tenant_id"] = client
    row = connection.execute(statement, params).first()
    if row is None:
        return None
    return _with_progress(row)


def _with_progress(row: Any) -> tuple[Any, dict[str, int], list[tuple[int, str]]]:
    totals = sorted((str(currency), int(amount)) for currency, amount in row.progress_totals or ())
    failures = sorted(
        (int(id_), int(account_id), str(message))
        for id_, account_id, message in row.progress_failures or ()
    )
    return row, dict(totals), [(account_id, message) for _, account_id, message in failures]


# The same read by id on a DB-API connection (db.direct), per dialect.
_DIRECT_VIEWS: dict[str, DirectSelect] = {}


def _direct_view(reads: DirectReads | LoopReads) -> DirectSelect:
    statement = _DIRECT_VIEWS.get(reads.dialect_name)
    if statement is None:
        statement = _DIRECT_VIEWS[reads.dialect_name] = DirectSelect(
            _run_view_statement(reads.dialect_name, True), reads.dialect
        )
    return statement


def run_view_direct(
    reads: DirectReads, tenant_id: int, run_id: int, failure_limit: int, client: tuple[str, int]
) -> tuple[Any, ...] | None:
    """:func:`run_view` by id with the client's generation, on a connection of ``reads``:
    the driver's row as it came (see :func:`direct_generation`, :func:`direct_view`).
    Equal rows give equal views (the view is a function of the row alone)."""
    return reads.first(
        _direct_view(reads),
        {
            "tenant_id": tenant_id,
            "run_id": run_id,
            "failure_limit": failure_limit,
            "client_id": client[0],
            "client_tenant_id": client[1],
        },
    )


# The keys of a batch of the read by id (PostgreSQL): one array per key, one row each.
_BATCH_KEYS = ("tenant_id", "run_id", "client_id", "client_tenant_id")
_BATCH_TYPES = (BigInteger, BigInteger, String, BigInteger)
_DIRECT_BATCHES: dict[str, DirectSelect] = {}


def _direct_batch(reads: DirectReads | LoopReads) -> DirectSelect:
    """:func:`_direct_view` for many keys at once (PostgreSQL): the keys unnested ``WITH
    ORDINALITY``, and for each, ``LATERAL``, the same statement with the key's columns in
    place of its parameters: ``k.ord`` then the single statement's columns, one row per
    key that finds a run. One statement and one round trip for the GETs that came
    together (db.direct.ReadBatches)."""
    statement = _DIRECT_BATCHES.get(reads.dialect_name)
    if statement is None:
        if reads.dialect_name != "postgresql":
            raise ValueError("batched bill-run reads are PostgreSQL's (unnest, LATERAL)")
        keys = (
            func.unnest(
                *(
                    bindparam(f"{name}s", type_=postgresql.ARRAY(type_))
                    for name, type_ in zip(_BATCH_KEYS, _BATCH_TYPES, strict=True)
                )
            )
            .table_valued(*_BATCH_KEYS, with_ordinality="ord")
            .render_derived()
            .alias("k")
        )
        # By name, not as keys.c: a column object would pull ``k`` into the FROM list of
        # the statement's own scalar subqueries instead of correlating them.
        by_key: dict[str, ColumnElement[Any]] = {
            name: literal_column(f"k.{name}") for name in _BATCH_KEYS
        }

        def _keyed(element: Any, **_kw: Any) -> Any:
            if isinstance(element, BindParameter) and element.key in by_key:
                return by_key[element.key]
            return None

        one: Select[Any] = replacement_traverse(  # type: ignore[assignment]
            _run_view_statement("postgresql", True), {}, _keyed
        )
        view = one.lateral("v")
        statement = _DIRECT_BATCHES[reads.dialect_name] = DirectSelect(
            select(keys.c.ord, view).select_from(keys.join(view, true())), reads.dialect
        )
    return statement


async def run_views_direct(
    reads: LoopReads,
    keys: Sequence[tuple[int, int, tuple[str, int]]],
    failure_limit: int,
) -> list[tuple[Any, ...] | None]:
    """:func:`run_view_direct` for each of ``keys`` (tenant, run, client) in one statement
    (PostgreSQL), on the running event loop's connections: per key, in order, the row
    :func:`run_view_direct` returns for it (the same columns, values and types) or None.
    Tenant: each row is its own key's tenant's."""
    batch = _direct_batch(reads)
    rows = await reads.all(
        batch,
        {
            "tenant_ids": [key[0] for key in keys],
            "run_ids": [key[1] for key in keys],
            "client_ids": [key[2][0] for key in keys],
            "client_tenant_ids": [key[2][1] for key in keys],
            "failure_limit": failure_limit,
        },
    )
    single = _direct_view(reads)
    if single.processors is None and batch.processors is not None:
        single.processors = batch.processors[1:]  # the same columns after k.ord
    found: list[tuple[Any, ...] | None] = [None] * len(keys)
    for row in rows:
        found[int(row[0]) - 1] = tuple(row[1:])
    return found


def direct_generation(reads: DirectReads, raw: tuple[Any, ...]) -> int | None:
    """The calling client's generation in a row of :func:`run_view_direct` (an integer
    column: no result processing)."""
    value = raw[_direct_view(reads).position["client_generation"]]
    return None if value is None else int(value)


def same_direct_rows(reads: DirectReads, a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Whether two rows of :func:`run_view_direct` give the same view (same values, type
    for type)."""
    return _direct_view(reads).same_row(a, b)


def direct_view(
    reads: DirectReads, raw: tuple[Any, ...]
) -> tuple[Any, dict[str, int], list[tuple[int, str]]]:
    """:func:`run_view`'s answer from a row of :func:`run_view_direct`."""
    return _with_progress(_direct_view(reads).processed(raw))


def find_run_by_number(
    session: Session, tenant_id: int, number: str, *, lock: bool = False
) -> BillRun | None:
    stmt = select(BillRun).where(BillRun.tenant_id == tenant_id, BillRun.bill_run_number == number)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def lock_run(session: Session, run: BillRun) -> BillRun:
    """Re-read the run under a row lock (PostgreSQL) so a transition is decided on fresh
    state; SQLite serialises writers, and the conditional UPDATE below guards it too."""
    session.refresh(run, with_for_update=session.get_bind().dialect.name == "postgresql")
    return run


def transition(
    session: Session,
    run: BillRun,
    allowed: Sequence[str],
    to_status: str,
    **values: Any,
) -> bool:
    """Move ``run`` to ``to_status`` only if it is in one of ``allowed`` now: a
    concurrent transition makes this one a no-op (False).

    Tenant: ``run`` was loaded under the caller's tenant.
    """
    result = session.execute(
        update(BillRun)
        .where(BillRun.id == run.id, BillRun.status.in_(allowed))
        .values(status=to_status, **values)
        .execution_options(synchronize_session=False)
    )
    moved = bool(result.rowcount)  # type: ignore[attr-defined]
    if moved:
        session.refresh(run)
    return moved


def count_pending_api_runs(session: Session, tenant_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(BillRun)
            .where(
                BillRun.tenant_id == tenant_id,
                BillRun.status == BillRunStatus.PENDING,
                BillRun.created_via_api.is_(True),
            )
        )
        or 0
    )


def list_runs(
    session: Session, tenant_id: int, status: str | None, offset: int, limit: int
) -> tuple[list[BillRun], bool]:
    stmt = select(BillRun).where(BillRun.tenant_id == tenant_id)
    if status:
        stmt = stmt.where(BillRun.status == status)
    rows = list(session.scalars(stmt.order_by(BillRun.id.desc()).offset(offset).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def _account_filter(tenant_id: int, selection: Selection) -> list[Any]:
    conditions: list[Any] = [_acc.tenant_id == tenant_id, _acc.status == "Active"]
    if selection.account_ids is not None:
        conditions.append(_acc.id.in_(selection.account_ids))
    if selection.batches is not None:
        conditions.append(_acc.batch.in_(selection.batches))
    if selection.bill_cycle_days is not None:
        conditions.append(_acc.bill_cycle_day.in_(selection.bill_cycle_days))
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


def selection_ranges(
    session: Session, tenant_id: int, selection: Selection, chunk_size: int
) -> list[ChunkRange]:
    """The selected accounts cut into id ranges of ``chunk_size`` accounts, in one query
    (a window over the ids) rather than by streaming every id to Python."""
    refresh_planner_statistics(session)
    numbered = (
        select(
            _acc.id.label("id"),
            ((func.row_number().over(order_by=_acc.id) - 1) // chunk_size).label("bucket"),
        )
        .where(*_account_filter(tenant_id, selection))
        .subquery()
    )
    rows = session.execute(
        select(func.min(numbered.c.id), func.max(numbered.c.id), func.count())
        .group_by(numbered.c.bucket)
        .order_by(numbered.c.bucket)
    ).all()
    return [ChunkRange(lo, hi, n) for lo, hi, n in rows]


# Sampled rows per index: enough to see that one tenant's id is not selective, bounded so
# a run over millions of accounts spends milliseconds, not seconds, here.
_ANALYSIS_LIMIT = 20_000


def refresh_planner_statistics(session: Session) -> None:
    """SQLite only: refresh the statistics of the tables the chunk queries read.

    Without them SQLite assumes ``tenant_id = ?`` on a tenant index is selective and
    prefers it to the chunk's id range, so each chunk scans every account of the tenant:
    quadratic in the run's size. PostgreSQL keeps its statistics itself (autovacuum).
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    session.execute(text(f"PRAGMA analysis_limit = {_ANALYSIS_LIMIT}"))
    for table in ("accounts", "subscriptions", "subscription_charges"):
        session.execute(text(f"ANALYZE {table}"))


def selected_accounts(
    session: Session, tenant_id: int, selection: Selection, first_id: int, last_id: int
) -> list[int]:
    rows = fetch_rows(
        session,
        select(_acc.id)
        .where(*_account_filter(tenant_id, selection), _acc.id.between(first_id, last_id))
        .order_by(_acc.id),
    )
    return [row[0] for row in rows]


def next_chunk_range(
    session: Session, kind: str, run_id: int, after_seq: int
) -> tuple[int, int] | None:
    """(first, last) account id of the run's next pending chunk after ``after_seq``: the
    one this worker will most likely claim next (``billruns.pipeline`` prepares it).

    Tenant: the caller took ``run_id`` from its claimed chunk.
    """
    row = session.execute(
        select(_chunk.first_id, _chunk.last_id)
        .where(
            _chunk.kind == kind,
            _chunk.parent_id == run_id,
            _chunk.seq > after_seq,
            _chunk.status == PENDING,
        )
        .order_by(_chunk.seq)
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def record_chunk(
    session: Session,
    run_id: int,
    *,
    accounts: int,
    failed: int,
    invoices: int,
    items: int,
    now: datetime,
) -> tuple[int, int]:
    """Add a finished chunk's counts; returns (chunks done, chunks total). The row lock
    this takes orders the chunks' commits, so exactly one sees done == total.

    Tenant: the caller resolved ``run_id`` under its tenant (or took it from its chunk).
    """
    row = session.execute(
        update(BillRun)
        .where(BillRun.id == run_id)
        .values(
            accounts_processed=_run.accounts_processed + accounts,
            accounts_failed=_run.accounts_failed + failed,
            invoices_created=_run.invoices_created + invoices,
            items_created=_run.items_created + items,
            chunks_done=_run.chunks_done + 1,
            updated_at=now,
        )
        .returning(_run.chunks_done, _run.chunks_total)
        .execution_options(synchronize_session=False)
    ).one()
    return int(row[0]), int(row[1])


def add_totals(session: Session, run_id: int, amounts: dict[str, int]) -> None:
    """Tenant: the caller resolved ``run_id`` under its tenant (or took it from its chunk)."""
    if not amounts:
        return
    rows = [
        {"bill_run_id": run_id, "currency": currency, "amount_minor": amount}
        for currency, amount in sorted(amounts.items())
    ]
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(BillRunTotal).values(rows)
        stmt: Any = pg.on_conflict_do_update(
            index_elements=["bill_run_id", "currency"],
            set_={"amount_minor": BillRunTotal.amount_minor + pg.excluded.amount_minor},
        )
    else:
        lite = sqlite.insert(BillRunTotal).values(rows)
        stmt = lite.on_conflict_do_update(
            index_elements=["bill_run_id", "currency"],
            set_={"amount_minor": BillRunTotal.amount_minor + lite.excluded.amount_minor},
        )
    session.execute(stmt)


def totals(session: Session, run_id: int) -> dict[str, int]:
    """Tenant: the caller resolved ``run_id`` under its tenant (or took it from its chunk)."""
    rows = session.execute(
        select(BillRunTotal.currency, BillRunTotal.amount_minor)
        .where(BillRunTotal.bill_run_id == run_id)
        .order_by(BillRunTotal.currency)
    ).all()
    return {currency: int(amount) for currency, amount in rows}


def add_failures(
    session: Session, tenant_id: int, run_id: int, failures: dict[int, str], now: datetime
) -> None:
    if failures:
        session.execute(
            insert(BillRunFailure),
            [
                {
                    "tenant_id": tenant_id,
                    "bill_run_id": run_id,
                    "account_id": account_id,
                    "message": message[:4000],
                    "created_at": now,
                }
                for account_id, message in failures.items()
            ],
        )


def failures(session: Session, run_id: int, limit: int = 100) -> list[BillRunFailure]:
    """Tenant: the caller resolved ``run_id`` under its tenant (or took it from its chunk)."""
    return list(
        session.scalars(
            select(BillRunFailure)
            .where(BillRunFailure.bill_run_id == run_id)
            .order_by(BillRunFailure.id)
            .limit(limit)
        )
    )


def _progress_statement() -> CompoundSelect[Any]:
    tot = BillRunTotal.__table__.c
    fail = BillRunFailure.__table__.c
    first_failures = (
        select(fail.id, fail.account_id, fail.message)
        .where(fail.bill_run_id == bindparam("run_id"))
        .order_by(fail.id)
        .limit(bindparam("failure_limit"))
        .subquery()
    )
    return union_all(
        select(
            literal_column("0").label("kind"),
            literal_column("0").label("seq"),
            tot.amount_minor.label("number"),
            tot.currency.label("text"),
        ).where(tot.bill_run_id == bindparam("run_id")),
        select(
            literal_column("1"),
            first_failures.c.id,
            first_failures.c.account_id,
            first_failures.c.message,
        ),
    )


_PROGRESS = _progress_statement()


def progress(
    session: Session, run_id: int, failure_limit: int
) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """``totals`` (per currency, in currency order) and the first failures (oldest first),
    in one query.

    Tenant: the caller resolved ``run_id`` under its tenant (or took it from its chunk).
    """
    rows = session.connection().execute(
        _PROGRESS, {"run_id": run_id, "failure_limit": failure_limit}
    )
    totals: list[tuple[str, int]] = []
    failed: list[tuple[int, int, str]] = []
    for kind, seq, number, label in rows:
        if kind == 0:
            totals.append((label, int(number)))
        else:
            failed.append((seq, int(number), label))
    totals.sort()
    failed.sort()
    return dict(totals), [(account_id, message) for _, account_id, message in failed]


def invoice_ranges(
    session: Session, tenant_id: int, run_id: int, statuses: Sequence[str], chunk_size: int
) -> list[ChunkRange]:
    numbered = (
        select(
            _inv.id.label("id"),
            ((func.row_number().over(order_by=_inv.id) - 1) // chunk_size).label("bucket"),
        )
        .where(_inv.tenant_id == tenant_id, _inv.bill_run_id == run_id, _inv.status.in_(statuses))
        .subquery()
    )
    rows = session.execute(
        select(func.min(numbered.c.id), func.max(numbered.c.id), func.count())
        .group_by(numbered.c.bucket)
        .order_by(numbered.c.bucket)
    ).all()
    return [ChunkRange(lo, hi, n) for lo, hi, n in rows]


def invoice_ids(
    session: Session,
    tenant_id: int,
    run_id: int,
    statuses: Sequence[str],
    first_id: int | None = None,
    last_id: int | None = None,
) -> list[int]:
    stmt = select(_inv.id).where(
        _inv.tenant_id == tenant_id, _inv.bill_run_id == run_id, _inv.status.in_(statuses)
    )
    if first_id is not None and last_id is not None:
        stmt = stmt.where(_inv.id.between(first_id, last_id))
    return list(session.scalars(stmt.order_by(_inv.id)))


def has_posted_invoices(session: Session, tenant_id: int, run_id: int) -> bool:
    found = session.scalar(
        select(_inv.id)
        .where(
            _inv.tenant_id == tenant_id,
            _inv.bill_run_id == run_id,
            _inv.status == InvoiceStatus.POSTED,
        )
        .limit(1)
    )
    return found is not None


def delete_run(session: Session, tenant_id: int, run_id: int) -> None:
    """The run, its invoices (cascading to items and emails), their ledger entries, its
    chunks. The entries first, by the invoices' ids: no foreign key cascades to them
    (migration ``0046_pgbook_ledger_invoice_fk``)."""
    run_invoices = select(Invoice.id).where(
        Invoice.tenant_id == tenant_id, Invoice.bill_run_id == run_id
    )
    session.execute(
        delete(LedgerEntry).where(
            LedgerEntry.tenant_id == tenant_id,
            LedgerEntry.invoice_id.is_not(None),
            LedgerEntry.invoice_id.in_(run_invoices),
        )
    )
    session.execute(
        delete(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.bill_run_id == run_id)
    )
    session.execute(
        delete(WorkChunk).where(WorkChunk.parent_id == run_id, WorkChunk.kind.like("bill_run%"))
    )
    session.execute(delete(BillRun).where(BillRun.tenant_id == tenant_id, BillRun.id == run_id))


def due_scheduled_runs(
    session: Session, now: datetime, limit: int = 100, *, tenant_id: int | None = None
) -> list[tuple[int, int]]:
    """(tenant, run) of Pending scheduled occurrences whose time has come, oldest first:
    across the installation's production tenants (the scheduler; sandbox tenants' runs
    start only when their test clock is advanced), or of the one ``tenant_id`` (an advance
    of its test clock)."""
    query = select(_run.tenant_id, _run.id).where(
        _run.status == BillRunStatus.PENDING, _run.scheduled_execution_time <= now
    )
    if tenant_id is None:
        query = query.where(_run.tenant_id.not_in(sandbox_tenant_ids()))
    else:
        query = query.where(_run.tenant_id == tenant_id)
    rows = session.execute(
        query.order_by(_run.scheduled_execution_time, _run.id).limit(limit)
    ).all()
    return [(t, r) for t, r in rows]


def next_scheduled_time(session: Session, tenant_id: int, after: datetime) -> datetime | None:
    """The earliest time after ``after`` at which one of the tenant's Pending scheduled
    occurrences starts."""
    found: datetime | None = session.scalar(
        select(func.min(_run.scheduled_execution_time)).where(
            _run.tenant_id == tenant_id,
            _run.status == BillRunStatus.PENDING,
            _run.scheduled_execution_time > after,
        )
    )
    return found


def pending_unscheduled_runs(session: Session, limit: int = 100) -> list[tuple[int, int]]:
    """Ad hoc Pending runs (their start task may have been lost in a crash)."""
    rows = session.execute(
        select(_run.tenant_id, _run.id)
        .where(_run.status == BillRunStatus.PENDING, _run.scheduled_execution_time.is_(None))
        .order_by(_run.id)
        .limit(limit)
    ).all()
    return [(t, r) for t, r in rows]


def series_pending(session: Session, tenant_id: int, series_id: int) -> list[BillRun]:
    return list(
        session.scalars(
            select(BillRun).where(
                BillRun.tenant_id == tenant_id,
                BillRun.series_id == series_id,
                BillRun.status == BillRunStatus.PENDING,
            )
        )
    )


def occurrence_exists(session: Session, series_id: int, when: datetime) -> bool:
    """Tenant: ``series_id`` is a run the caller resolved under its tenant."""
    return (
        session.scalar(
            select(_run.id).where(
                _run.series_id == series_id, _run.scheduled_execution_time == when
            )
        )
        is not None
    )


def stuck_in_progress(
    session: Session, statuses: Sequence[str], limit: int = 100
) -> list[tuple[int, int, str]]:
    """Runs in an *InProgress state (their task may have died): the tick re-dispatches."""
    rows = session.execute(
        select(_run.tenant_id, _run.id, _run.status)
        .where(_run.status.in_(statuses))
        .order_by(_run.id)
        .limit(limit)
    ).all()
    return [(t, r, s) for t, r, s in rows]
