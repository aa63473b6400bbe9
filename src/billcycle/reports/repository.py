"""All SQL of the read models. Lists are keyset-paged: a page is "the next ``limit`` rows
after (sort value, id)" in the chosen order, which an index answers as fast on the last
page as on the first (no OFFSET)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, case, cast, func, or_, select, text
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account, Contact
from billcycle.audit.models import AuditEvent
from billcycle.billruns.models import BillRun
from billcycle.bulkjobs.models import BulkJob, BulkJobRecord
from billcycle.collections.models import CollectionAccount, CollectionEvent
from billcycle.events.models import Event
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.ledger.models import LedgerEntry
from billcycle.ledger.open_balances_repository import OpenAccountBalance, OpenBalance
from billcycle.notifications.models import InvoiceEmail
from billcycle.paymentruns.models import PaymentRun
from billcycle.payments.models import Payment
from billcycle.payments.statuses import PaymentStatus

Cursor = tuple[Any, int]


def _keyset(
    session: Session,
    stmt: Any,
    sort: ColumnElement[Any],
    id_col: ColumnElement[Any],
    *,
    descending: bool,
    after: Cursor | None,
    limit: int,
    scalars: bool = False,
) -> list[Any]:
    """The next ``limit`` rows after ``after`` in (sort, id) order.

    After a cursor (value, last id) this reads two index ranges, one after the other:
    the rest of the rows whose sort value equals ``value`` (id past the last id), then the
    rows past ``value``; each is an exact seek on a ``(tenant_id, sort, id)`` index. As
    one condition (``sort > value OR (sort = value AND id > last)``, or a row-value
    ``(sort, id) > (value, last)``) both SQLite and PostgreSQL seek only on ``sort`` and
    filter the rest, so with many equal sort values (a million invoices of one date) a
    late page read every row before it: ~1 s on SQLite."""

    def run(query: Any, n: int) -> list[Any]:
        query = query.limit(n)
        return list(session.scalars(query) if scalars else session.execute(query).all())

    if sort is id_col:
        order = id_col.desc() if descending else id_col.asc()
        if after is not None:
            last_id = after[1]
            stmt = stmt.where(id_col < last_id if descending else id_col > last_id)
        return run(stmt.order_by(order), limit)
    ordered = (sort.desc(), id_col.desc()) if descending else (sort.asc(), id_col.asc())
    if after is None:
        return run(stmt.order_by(*ordered), limit)
    value, last_id = after
    rest_of_value = stmt.where(
        sort == value, id_col < last_id if descending else id_col > last_id
    ).order_by(*ordered)
    rows = run(rest_of_value, limit)
    if len(rows) < limit:
        past = stmt.where(sort < value if descending else sort > value).order_by(*ordered)
        rows += run(past, limit - len(rows))
    return rows


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


# -- accounts ------------------------------------------------------------------------------

ACCOUNT_SORTS: dict[str, ColumnElement[Any]] = {
    "number": Account.account_number,  # type: ignore[dict-item]
    "name": Account.name,  # type: ignore[dict-item]
    "created": Account.id,  # type: ignore[dict-item]
}


def list_accounts(
    session: Session,
    tenant_id: int,
    *,
    query: str | None,
    status: str | None,
    sort: str,
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> list[Any]:
    stmt = (
        select(
            Account.id,
            Account.account_number,
            Account.name,
            Account.currency,
            Account.status,
            Contact.work_email,
        )
        .outerjoin(
            Contact,
            and_(Contact.id == Account.bill_to_contact_id, Contact.tenant_id == tenant_id),
        )
        .where(Account.tenant_id == tenant_id)
    )
    if query:
        pattern = _like(query)
        stmt = stmt.where(
            or_(
                func.lower(Account.name).like(pattern, escape="\\"),
                func.lower(Account.account_number).like(pattern, escape="\\"),
                func.lower(Contact.work_email).like(pattern, escape="\\"),
                func.lower(Contact.personal_email).like(pattern, escape="\\"),
            )
        )
    if status:
        stmt = stmt.where(Account.status == status)
    return _keyset(
        session,
        stmt,
        ACCOUNT_SORTS[sort],
        Account.id,  # type: ignore[arg-type]
        descending=descending,
        after=after,
        limit=limit,
    )


# -- invoices ------------------------------------------------------------------------------

INVOICE_SORTS: dict[str, ColumnElement[Any]] = {
    "date": Invoice.invoice_date,  # type: ignore[dict-item]
    "due": Invoice.due_date,  # type: ignore[dict-item]
    "number": Invoice.invoice_number,  # type: ignore[dict-item]
    "amount": Invoice.amount_minor,  # type: ignore[dict-item]
    "created": Invoice.id,  # type: ignore[dict-item]
}


def _applied(tenant_id: int) -> Any:
    return (
        select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
        .where(LedgerEntry.invoice_id == Invoice.id, LedgerEntry.tenant_id == tenant_id)
        .correlate(Invoice)
        .scalar_subquery()
    )


def list_invoices(
    session: Session,
    tenant_id: int,
    *,
    status: str | None,
    account_id: int | None,
    bill_run_id: int | None,
    currency: str | None,
    number: str | None,
    due_from: date | None = None,
    due_to: date | None = None,
    open_only: bool = False,
    sort: str,
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> list[Any]:
    """Invoices with their account's number and name and their balance (amount less what
    the ledger applied; a draft or cancelled invoice shows its amount and owes nothing)."""
    applied = _applied(tenant_id)
    stmt = (
        select(
            Invoice.id,
            Invoice.invoice_number,
            Invoice.status,
            Invoice.invoice_date,
            Invoice.due_date,
            Invoice.currency,
            Invoice.amount_minor,
            (Invoice.amount_minor - applied).label("balance_minor"),
            Invoice.account_id,
            Account.account_number,
            Account.name.label("account_name"),
            Invoice.bill_run_id,
        )
        .join(Account, and_(Account.id == Invoice.account_id, Account.tenant_id == tenant_id))
        .where(Invoice.tenant_id == tenant_id)
    )
    if status:
        stmt = stmt.where(Invoice.status == status)
    if account_id is not None:
        stmt = stmt.where(Invoice.account_id == account_id)
    if bill_run_id is not None:
        stmt = stmt.where(Invoice.bill_run_id == bill_run_id)
    if currency:
        stmt = stmt.where(Invoice.currency == currency)
    if number:
        stmt = stmt.where(func.lower(Invoice.invoice_number).like(_like(number), escape="\\"))
    if due_from is not None:
        stmt = stmt.where(Invoice.due_date >= due_from)
    if due_to is not None:
        stmt = stmt.where(Invoice.due_date <= due_to)
    if open_only:
        stmt = stmt.where(Invoice.status == InvoiceStatus.POSTED, Invoice.amount_minor > applied)
    return _keyset(
        session,
        stmt,
        INVOICE_SORTS[sort],
        Invoice.id,  # type: ignore[arg-type]
        descending=descending,
        after=after,
        limit=limit,
    )


# -- payments ------------------------------------------------------------------------------

PAYMENT_SORTS: dict[str, ColumnElement[Any]] = {
    "date": Payment.effective_date,  # type: ignore[dict-item]
    "number": Payment.number,  # type: ignore[dict-item]
    "amount": Payment.amount_minor,  # type: ignore[dict-item]
}


# The predicate of the partial index ix_payments_failed, written as SQL text: SQLite uses a
# partial index only for a query whose WHERE holds the index's own term (a bound
# parameter cannot be matched when the statement is prepared).
_FAILED = text(f"payments.status = '{PaymentStatus.ERROR.value}'")


def _payment_status(status: str) -> Any:
    return _FAILED if status == PaymentStatus.ERROR else Payment.status == status


def list_payments(
    session: Session,
    tenant_id: int,
    *,
    status: str | None,
    account_id: int | None,
    currency: str | None,
    sort: str,
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> list[Any]:
    stmt = (
        select(
            Payment.id,
            Payment.number,
            Payment.status,
            Payment.effective_date,
            Payment.currency,
            Payment.amount_minor,
            Payment.payment_type,
            Payment.gateway_response,
            Payment.account_id,
            Account.account_number,
            Account.name.label("account_name"),
        )
        .join(Account, and_(Account.id == Payment.account_id, Account.tenant_id == tenant_id))
        .where(Payment.tenant_id == tenant_id, Payment.deleted_at.is_(None))
    )
    if status:
        stmt = stmt.where(_payment_status(status))
    if account_id is not None:
        stmt = stmt.where(Payment.account_id == account_id)
    if currency:
        stmt = stmt.where(Payment.currency == currency)
    return _keyset(
        session,
        stmt,
        PAYMENT_SORTS[sort],
        Payment.id,  # type: ignore[arg-type]
        descending=descending,
        after=after,
        limit=limit,
    )


# -- bill runs and bulk jobs ---------------------------------------------------------------

BILL_RUN_SORTS: dict[str, ColumnElement[Any]] = {
    "created": BillRun.id,  # type: ignore[dict-item]
    "number": BillRun.bill_run_number,  # type: ignore[dict-item]
    "target": BillRun.target_date,  # type: ignore[dict-item]
}


def list_bill_runs(
    session: Session,
    tenant_id: int,
    *,
    statuses: Sequence[str],
    scheduled: bool | None,
    sort: str,
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> list[BillRun]:
    stmt = select(BillRun).where(BillRun.tenant_id == tenant_id)
    if statuses:
        stmt = stmt.where(BillRun.status.in_(statuses))
    if scheduled is not None:
        # A scheduled run's occurrences carry their series id (``schedule`` is JSON, where
        # "no schedule" may be stored as JSON null rather than SQL NULL).
        stmt = stmt.where(
            BillRun.series_id.is_not(None) if scheduled else BillRun.series_id.is_(None)
        )
    return _keyset(
        session,
        stmt,
        BILL_RUN_SORTS[sort],
        BillRun.id,  # type: ignore[arg-type]
        descending=descending,
        after=after,
        limit=limit,
        scalars=True,
    )


def list_bulk_jobs(
    session: Session,
    tenant_id: int,
    *,
    statuses: Sequence[str],
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> list[BulkJob]:
    stmt = select(BulkJob).where(BulkJob.tenant_id == tenant_id)
    if statuses:
        stmt = stmt.where(BulkJob.status.in_(statuses))
    return _keyset(
        session,
        stmt,
        BulkJob.id,  # type: ignore[arg-type]
        BulkJob.id,  # type: ignore[arg-type]
        descending=descending,
        after=after,
        limit=limit,
        scalars=True,
    )


def list_payment_runs(
    session: Session,
    tenant_id: int,
    *,
    statuses: Sequence[str],
    after: Cursor | None,
    limit: int,
) -> list[PaymentRun]:
    """The tenant's payment runs, newest first (keyset on the primary key)."""
    stmt = select(PaymentRun).where(PaymentRun.tenant_id == tenant_id)
    if statuses:
        stmt = stmt.where(PaymentRun.status.in_(statuses))
    return _keyset(
        session,
        stmt,
        PaymentRun.id,  # type: ignore[arg-type]
        PaymentRun.id,  # type: ignore[arg-type]
        descending=True,
        after=after,
        limit=limit,
        scalars=True,
    )


def job_records(
    session: Session, tenant_id: int, job_id: int, *, status: str | None, after_seq: int, limit: int
) -> list[Any]:
    """(seq, status, data, details, created entity) of a job's records in seq order."""
    stmt = select(
        BulkJobRecord.seq,
        BulkJobRecord.status,
        BulkJobRecord.data,
        BulkJobRecord.details,
        BulkJobRecord.created_entity_id,
    ).where(
        BulkJobRecord.tenant_id == tenant_id,
        BulkJobRecord.bulk_job_id == job_id,
        BulkJobRecord.seq > after_seq,
    )
    if status:
        stmt = stmt.where(BulkJobRecord.status == status)
    return list(session.execute(stmt.order_by(BulkJobRecord.seq).limit(limit)).all())


# -- collections ---------------------------------------------------------------------------


def accounts_by_standing(
    session: Session,
    tenant_id: int,
    *,
    standings: Sequence[str],
    after: Cursor | None,
    limit: int,
) -> list[Any]:
    """Accounts in the given standings with the date they fell out of good standing and
    their last collection event's date."""
    last_event = (
        select(func.max(CollectionEvent.business_date))
        .where(
            CollectionEvent.tenant_id == tenant_id,
            CollectionEvent.account_id == CollectionAccount.account_id,
        )
        .correlate(CollectionAccount)
        .scalar_subquery()
    )
    stmt = (
        select(
            Account.id,
            Account.account_number,
            Account.name,
            CollectionAccount.standing,
            CollectionAccount.poor_standing_since,
            CollectionAccount.suspended_on,
            last_event.label("last_event_on"),
        )
        .join(
            Account,
            and_(Account.id == CollectionAccount.account_id, Account.tenant_id == tenant_id),
        )
        .where(CollectionAccount.tenant_id == tenant_id, CollectionAccount.standing.in_(standings))
    )
    return _keyset(
        session,
        stmt,
        Account.id,  # type: ignore[arg-type]
        Account.id,  # type: ignore[arg-type]
        descending=False,
        after=after,
        limit=limit,
    )


def collection_events(session: Session, tenant_id: int, account_id: int, limit: int) -> list[Any]:
    return list(
        session.execute(
            select(
                CollectionEvent.business_date,
                CollectionEvent.event_type,
                CollectionEvent.from_value,
                CollectionEvent.to_value,
                CollectionEvent.message,
                CollectionEvent.invoice_id,
            )
            .where(CollectionEvent.tenant_id == tenant_id, CollectionEvent.account_id == account_id)
            .order_by(CollectionEvent.id.desc())
            .limit(limit)
        ).all()
    )


# -- dashboard -----------------------------------------------------------------------------


def count_runs(session: Session, tenant_id: int, statuses: Sequence[str]) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(BillRun)
            .where(BillRun.tenant_id == tenant_id, BillRun.status.in_(statuses))
        )
        or 0
    )


def count_payments(session: Session, tenant_id: int, status: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Payment)
            .where(Payment.tenant_id == tenant_id, _payment_status(status))
        )
        or 0
    )


def count_standing(session: Session, tenant_id: int, standings: Sequence[str]) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(CollectionAccount)
            .where(
                CollectionAccount.tenant_id == tenant_id,
                CollectionAccount.standing.in_(standings),
            )
        )
        or 0
    )


# -- receivables ---------------------------------------------------------------------------


def _bucket(today: date, edges: Sequence[date], due_date: Any = Invoice.due_date) -> Any:
    """0 current (not yet due), 1: 1-30 days past due, 2: 31-60, 3: 61-90, 4: over 90;
    ``edges`` are today less 30, 60 and 90 days."""
    d30, d60, d90 = edges
    return case(
        (due_date >= today, 0),
        (due_date >= d30, 1),
        (due_date >= d60, 2),
        (due_date >= d90, 3),
        else_=4,
    )


def _applied_per_invoice(tenant_id: int) -> Any:
    """What the ledger applied to each of the tenant's invoices, in one grouped pass over
    the ledger (a hash join for the report, instead of one correlated sum per invoice)."""
    return (
        select(
            LedgerEntry.invoice_id.label("invoice_id"),
            func.sum(LedgerEntry.amount_minor).label("applied"),
        )
        .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.invoice_id.is_not(None))
        .group_by(LedgerEntry.invoice_id)
        .subquery()
    )


def _open_posted(tenant_id: int, today: date, edges: Sequence[date], *columns: Any) -> Any:
    """Posted invoices with their bucket and what they still owe (``owed``)."""
    applied = _applied_per_invoice(tenant_id)
    owed = (Invoice.amount_minor - func.coalesce(applied.c.applied, 0)).label("owed")
    return (
        select(*columns, _bucket(today, edges).label("bucket"), owed)
        .select_from(Invoice)
        .outerjoin(applied, applied.c.invoice_id == Invoice.id)
        .where(Invoice.tenant_id == tenant_id, Invoice.status == InvoiceStatus.POSTED)
    )


def aging(
    session: Session, tenant_id: int, today: date, edges: Sequence[date]
) -> list[tuple[str, int, int, int]]:
    """(currency, bucket, open balance, invoices) over the posted invoices with a balance,
    read from their summary per (currency, due date) that the ledger's write paths keep
    (``ledger.open_balances_repository``): a few thousand rows, however many invoices are open
    (with the changes its unit of work holds until the commit written first)."""
    open_balances.write_pending(session)
    summary = OpenBalance.__table__.c
    inner = (
        select(
            summary.currency,
            _bucket(today, edges, summary.due_date).label("bucket"),
            summary.balance_minor,
            summary.invoices,
        )
        .where(summary.tenant_id == tenant_id, summary.invoices != 0)
        .subquery()
    )
    rows = session.execute(
        select(
            inner.c.currency,
            inner.c.bucket,
            func.sum(inner.c.balance_minor),
            func.sum(inner.c.invoices),
        )
        .group_by(inner.c.currency, inner.c.bucket)
        .order_by(inner.c.currency, inner.c.bucket)
    ).all()
    return [(str(c), int(b), int(s), int(n)) for c, b, s, n in rows]


def aging_as_of(session: Session, tenant_id: int) -> date:
    """The business date the per-account aging buckets are counted at."""
    return open_balances.as_of(session, tenant_id)


def age_accounts(session: Session, tenant_id: int, today: date) -> int:
    """Move the per-account aging buckets to ``today`` (a write; see
    ``ledger.open_balances_repository.age_to``)."""
    return open_balances.age_to(session, tenant_id, today)


def aging_accounts(
    session: Session,
    tenant_id: int,
    *,
    currency: str,
    bucket: int,
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> list[tuple[int, str, str, int, int]]:
    """(account id, number, name, open balance, invoices) in one currency and bucket
    (``open_balances.ALL``: every bucket), by open balance then account id, keyset-paged.

    Reads the per-account summary the ledger's write paths keep: a range of
    ``ix_open_account_balances_largest`` (the rows with a balance; an emptied bucket is
    deleted, or keeps a zero row below the range), then the page's accounts by primary key. The
    work is the page's, however many invoices are open."""
    summary = OpenAccountBalance.__table__.c
    base = select(summary.account_id, summary.balance_minor, summary.invoices).where(
        summary.tenant_id == tenant_id, summary.currency == currency, summary.bucket == bucket
    )
    balance, account = summary.balance_minor, summary.account_id
    order = (balance.desc(), account.desc()) if descending else (balance.asc(), account.asc())

    def run(*where: Any, n: int) -> list[Any]:
        return list(session.execute(base.where(*where).order_by(*order).limit(n)).all())

    # Written out rather than through _keyset: each range has exactly one bound per side
    # on the balance. "> 0" (the rows with a balance) only where the range would reach the
    # zero rows; after an ascending cursor it is implied, and SQLite, given both
    # "> 0" and "> value", read the bucket through the primary key (6.8 s at a million).
    if after is None:
        rows = run(balance > 0, n=limit)
    else:
        value, last = after
        rows = run(balance == value, account < last if descending else account > last, n=limit)
        if len(rows) < limit:
            past = (balance < value, balance > 0) if descending else (balance > value,)
            rows += run(*past, n=limit - len(rows))
    if not rows:
        return []
    names = {
        int(i): (str(n), str(m))
        for i, n, m in session.execute(
            select(Account.id, Account.account_number, Account.name).where(
                Account.tenant_id == tenant_id, Account.id.in_([r[0] for r in rows])
            )
        )
    }
    return [(int(a), *names.get(int(a), ("", "")), int(b), int(n)) for a, b, n in rows]


def run_emails(session: Session, tenant_id: int, run_id: int, limit: int) -> list[Any]:
    """The newest email deliveries of a bill run's invoices."""
    return list(
        session.execute(
            select(
                InvoiceEmail.created_at,
                InvoiceEmail.invoice_id,
                Invoice.invoice_number,
                InvoiceEmail.recipient,
                InvoiceEmail.status,
                InvoiceEmail.error,
            )
            .join(
                Invoice, and_(Invoice.id == InvoiceEmail.invoice_id, Invoice.tenant_id == tenant_id)
            )
            .where(InvoiceEmail.tenant_id == tenant_id, Invoice.bill_run_id == run_id)
            .order_by(InvoiceEmail.id.desc())
            .limit(limit)
        ).all()
    )


# -- an object's history -------------------------------------------------------------------


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def object_events(
    session: Session, tenant_id: int, object_type: str, object_id: int, limit: int
) -> list[Event]:
    """The newest outbox events about one object (``ix_events_tenant_object``)."""
    return list(
        session.scalars(
            select(Event)
            .where(
                Event.tenant_id == tenant_id,
                Event.object_type == object_type,
                Event.object_id == object_id,
            )
            .order_by(Event.id.desc())
            .limit(limit)
        )
    )


def object_actions(
    session: Session, tenant_id: int, ref: str, since: datetime | None, limit: int
) -> list[AuditEvent]:
    """The newest console actions recorded in the audit log on ``ref`` ("bill_run:5"):
    ``object_ids`` is a JSON list, matched as text (portable to both databases); the
    object's creation time bounds the rows read."""
    stmt = select(AuditEvent).where(
        AuditEvent.tenant_id == tenant_id,
        AuditEvent.action.startswith("console.", autoescape=True),
        cast(AuditEvent.object_ids, Text).like(f'%"{_escape_like(ref)}"%', escape="\\"),
    )
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    return list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit)))


def list_events(
    session: Session,
    tenant_id: int,
    *,
    event_type: str | None,
    object_type: str | None,
    object_id: int | None,
    since: datetime | None,
    after: Cursor | None,
    limit: int,
) -> list[Event]:
    """The tenant's outbox events, newest first, keyset on the id (``ix_events_tenant``,
    ``ix_events_tenant_type`` and ``ix_events_tenant_object`` answer the filters)."""
    stmt = select(Event).where(Event.tenant_id == tenant_id)
    if event_type:
        stmt = stmt.where(Event.type == event_type)
    if object_type:
        stmt = stmt.where(Event.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(Event.object_id == object_id)
    if since is not None:
        stmt = stmt.where(Event.occurred_at >= since)
    return _keyset(
        session,
        stmt,
        Event.id,  # type: ignore[arg-type]
        Event.id,  # type: ignore[arg-type]
        descending=True,
        after=after,
        limit=limit,
        scalars=True,
    )
