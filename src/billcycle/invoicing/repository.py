"""All SQL for invoices after generation: reads, locks, posting, cancelling.

State changes on many invoices (a bill run posting or cancelling its invoices) are
set-based: one guarded ``UPDATE`` per chunk of ids, the allowed source status in the
``WHERE`` clause, so two concurrent callers can never both move the same invoice.
Generation's SQL lives in :mod:`billcycle.invoicing.generator_repository`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Date,
    Table,
    TextClause,
    and_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import NamedFromClause

from billcycle.accounts.models import Account
from billcycle.db.bulk import is_postgres, pg_int_array
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.ledger import repository as ledger_repo
from billcycle.subscriptions.models import Subscription, SubscriptionCharge, SubscriptionRatePlan

# Ids per statement: well under both backends' bound-parameter limits.
ID_CHUNK = 1_000

_invoices = cast(Table, Invoice.__table__)
_items = cast(Table, InvoiceItem.__table__)
_charges = cast(Table, SubscriptionCharge.__table__)
_inv = _invoices.c
_item = _items.c
_acct = cast(Table, Account.__table__).c
_charge = _charges.c


def chunks(ids: Sequence[int], size: int = ID_CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _live(items: NamedFromClause) -> TextClause:
    """Items not voided, spelled exactly as the partial unique index's predicate: SQLite
    uses a partial index only when the query repeats its WHERE term (SQLAlchemy's
    ``voided = 0`` would scan the whole table)."""
    return text(f"NOT {items.name}.voided")


# -- reads -----------------------------------------------------------------------------


def get_invoice(session: Session, tenant_id: int, invoice_id: int) -> Invoice | None:
    return session.scalars(
        select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.id == invoice_id)
    ).first()


def find_invoice_by_number(session: Session, tenant_id: int, number: str) -> Invoice | None:
    return session.scalars(
        select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.invoice_number == number)
    ).first()


def reload_invoice(session: Session, tenant_id: int, invoice_id: int) -> Invoice | None:
    """The committed row, overwriting whatever the identity map held (read after a lock)."""
    return session.scalars(
        select(Invoice)
        .where(Invoice.tenant_id == tenant_id, Invoice.id == invoice_id)
        .execution_options(populate_existing=True)
    ).first()


def invoices_by_id(
    session: Session, tenant_id: int, invoice_ids: Sequence[int]
) -> dict[int, Invoice]:
    found: dict[int, Invoice] = {}
    for chunk in chunks(sorted(set(invoice_ids))):
        for invoice in session.scalars(
            select(Invoice)
            .where(Invoice.tenant_id == tenant_id, Invoice.id.in_(chunk))
            .execution_options(populate_existing=True)
        ):
            found[invoice.id] = invoice
    return found


def statuses(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in chunks(invoice_ids):
        rows = session.execute(
            select(_inv.id, _inv.status).where(_inv.tenant_id == tenant_id, _inv.id.in_(chunk))
        )
        found.update((row[0], row[1]) for row in rows)
    return found


def invoice_numbers(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in chunks(invoice_ids):
        rows = session.execute(
            select(_inv.id, _inv.invoice_number).where(
                _inv.tenant_id == tenant_id, _inv.id.in_(chunk)
            )
        )
        found.update((row[0], row[1]) for row in rows)
    return found


def charge_types(session: Session, tenant_id: int, invoice_id: int) -> set[str]:
    rows = session.scalars(
        select(_item.charge_type)
        .where(_item.tenant_id == tenant_id, _item.invoice_id == invoice_id)
        .distinct()
    )
    return set(rows)


@dataclass(frozen=True, slots=True)
class ItemRow:
    """An invoice item with what the wire shows about its charge and subscription."""

    id: int
    subscription_id: int | None
    subscription_number: str | None
    subscription_charge_id: int
    charge_number: str | None
    charge_name: str
    charge_type: str
    charge_description: str | None
    product_name: str | None
    product_sku: str | None
    product_rate_plan_charge_id: int | None
    uom: str | None
    service_start: date
    service_end: date
    quantity: Decimal
    unit_price: Decimal
    amount_minor: int
    is_credit: bool


def items_page(
    session: Session, tenant_id: int, invoice_id: int, *, offset: int, limit: int
) -> list[ItemRow]:
    stmt = (
        select(
            InvoiceItem.id,
            InvoiceItem.subscription_id,
            Subscription.subscription_number,
            InvoiceItem.subscription_charge_id,
            SubscriptionCharge.charge_number,
            InvoiceItem.charge_name,
            InvoiceItem.charge_type,
            SubscriptionCharge.description,
            SubscriptionRatePlan.product_name,
            SubscriptionRatePlan.product_sku,
            SubscriptionCharge.product_rate_plan_charge_id,
            SubscriptionCharge.uom,
            InvoiceItem.service_start,
            InvoiceItem.service_end,
            InvoiceItem.quantity,
            InvoiceItem.unit_price,
            InvoiceItem.amount_minor,
            InvoiceItem.is_credit,
        )
        .outerjoin(SubscriptionCharge, SubscriptionCharge.id == InvoiceItem.subscription_charge_id)
        .outerjoin(
            SubscriptionRatePlan,
            SubscriptionRatePlan.id == SubscriptionCharge.subscription_rate_plan_id,
        )
        .outerjoin(Subscription, Subscription.id == InvoiceItem.subscription_id)
        .where(InvoiceItem.tenant_id == tenant_id, InvoiceItem.invoice_id == invoice_id)
        .order_by(InvoiceItem.id)
        .offset(offset)
        .limit(limit)
    )
    return [ItemRow(*cast(tuple[Any, ...], row)) for row in session.execute(stmt)]


def item_amounts(session: Session, tenant_id: int, invoice_id: int) -> list[tuple[int, int]]:
    """``(item id, amount_minor)`` of every item, in item order."""
    rows = session.execute(
        select(_item.id, _item.amount_minor)
        .where(_item.tenant_id == tenant_id, _item.invoice_id == invoice_id)
        .order_by(_item.id)
    )
    return [(row[0], row[1]) for row in rows]


@dataclass(frozen=True, slots=True)
class DocumentRow:
    id: int
    invoice_number: str
    invoice_date: date
    account_id: int
    currency: str
    amount_minor: int
    balance_minor: int
    status: str


# Sortable billing-document fields -> columns (documentType: every document is an invoice
# until credit and debit memos exist, so it sorts like a constant).
DOCUMENT_SORT_COLUMNS: Mapping[str, Any] = {
    "documentDate": _inv.invoice_date,
    "documentNumber": _inv.invoice_number,
    "documentType": None,
}


def account_documents(
    session: Session,
    tenant_id: int,
    account_id: int,
    *,
    status: str | None,
    document_date: date | None,
    sort: Sequence[tuple[str, bool]],
    offset: int,
    limit: int,
) -> list[DocumentRow]:
    """A page of an account's invoices with their balances, in one statement.

    ``sort``: ``(field, descending)`` pairs; the id breaks ties in the direction of the
    first key so pages never overlap.
    """
    stmt = select(
        _inv.id,
        _inv.invoice_number,
        _inv.invoice_date,
        _inv.account_id,
        _inv.currency,
        _inv.amount_minor,
        ledger_repo.balance_column(tenant_id),
        _inv.status,
    ).where(_inv.tenant_id == tenant_id, _inv.account_id == account_id)
    if status is not None:
        stmt = stmt.where(_inv.status == status)
    if document_date is not None:
        stmt = stmt.where(_inv.invoice_date == document_date)
    order: list[Any] = []
    for field, descending in sort:
        column = DOCUMENT_SORT_COLUMNS[field]
        if column is not None:
            order.append(column.desc() if descending else column.asc())
    first_descending = sort[0][1] if sort else True
    order.append(_inv.id.desc() if first_descending else _inv.id.asc())
    stmt = stmt.order_by(*order).offset(offset).limit(limit)
    return [DocumentRow(*row) for row in session.execute(stmt)]


# -- locks -----------------------------------------------------------------------------


_LOCK_INVOICES_POSTGRES = text(
    "SELECT id FROM invoices WHERE tenant_id = :t AND id = ANY(CAST(:ids AS bigint[])) "
    "ORDER BY id FOR UPDATE"
)


def lock_invoices(
    session: Session, tenant_id: int, invoice_ids: Sequence[int], *, with_accounts: bool
) -> None:
    """Serialise changes to these invoices (and, if asked, to their accounts' billing).

    PostgreSQL: row locks in id order, accounts first, the order generation takes them,
    so a cancel and a bill run on the same account wait for each other instead of
    deadlocking. SQLite has one writer per database: a no-op write takes that lock now,
    so what the caller reads next is the latest committed state and stays so until it
    commits.
    """
    if not invoice_ids:
        return
    if is_postgres(session):
        ordered = sorted(invoice_ids)
        if with_accounts:
            owners: set[int] = set()
            for chunk in chunks(ordered):
                owners.update(
                    session.scalars(
                        select(_inv.account_id).where(
                            _inv.tenant_id == tenant_id, _inv.id.in_(chunk)
                        )
                    )
                )
            for account_chunk in chunks(sorted(owners)):
                session.execute(
                    select(_acct.id)
                    .where(_acct.tenant_id == tenant_id, _acct.id.in_(account_chunk))
                    .order_by(_acct.id)
                    .with_for_update()
                ).all()
        # The ids as ONE array parameter: an IN list of a payment run slice's 2,000
        # placeholders was parsed and planned afresh at every call (~8 µs an id).
        session.execute(
            _LOCK_INVOICES_POSTGRES, {"t": tenant_id, "ids": pg_int_array(ordered)}
        ).all()
        return
    session.connection().execute(_LOCK_SQLITE, {"t": tenant_id, "id": invoice_ids[0]})


# Built once: a payment run's writer takes it every slice (the statement built and keyed
# at each call was ~1% of that thread's Python).
_LOCK_SQLITE = text("UPDATE invoices SET updated_at = updated_at WHERE tenant_id = :t AND id = :id")


# -- state changes ---------------------------------------------------------------------


def _posting_values(
    now: datetime, invoice_date: date | None, due_dates: Mapping[str, date] | None
) -> dict[str, Any]:
    """SET values for Draft -> Posted. With ``invoice_date`` the invoice takes that date
    and its due date from its account's payment term (``due_dates``: term -> due date,
    computed once per term; an unknown term is due on the invoice date), looked up by
    the account's primary key for each row."""
    values: dict[str, Any] = {
        "status": InvoiceStatus.POSTED.value,
        "posted_at": now,
        "updated_at": now,
    }
    if invoice_date is not None:
        term = select(_acct.payment_term).where(_acct.id == _inv.account_id).scalar_subquery()
        values["invoice_date"] = invoice_date
        values["due_date"] = (
            case(dict(due_dates), value=term, else_=invoice_date) if due_dates else invoice_date
        )
    return values


def post_drafts(
    session: Session,
    tenant_id: int,
    invoice_ids: Sequence[int],
    *,
    now: datetime,
    invoice_date: date | None = None,
    due_dates: Mapping[str, date] | None = None,
) -> list[int]:
    """Draft -> Posted for the given ids; returns those that moved (see
    ``_posting_values`` for ``invoice_date`` and ``due_dates``)."""
    values = _posting_values(now, invoice_date, due_dates)
    posted: list[int] = []
    for chunk in chunks(invoice_ids):
        stmt = (
            update(_invoices)
            .where(
                _inv.tenant_id == tenant_id, _inv.id.in_(chunk), _inv.status == InvoiceStatus.DRAFT
            )
            .values(**values)
            .returning(_inv.id, *open_balances.posted_columns())
        )
        moved = session.execute(stmt).all()
        open_balances.add_posted(session, tenant_id, [row[1:] for row in moved])
        posted.extend(row[0] for row in moved)
    return posted


def post_run_drafts(
    session: Session,
    tenant_id: int,
    bill_run_id: int,
    first_id: int,
    last_id: int,
    *,
    now: datetime,
    invoice_date: date | None = None,
    due_dates: Mapping[str, date] | None = None,
) -> int:
    """Draft -> Posted for a bill run's drafts with ids in ``[first_id, last_id]``, in ONE
    guarded ``UPDATE`` that names no invoice (a thousand-id ``IN`` list cost five times
    the update itself on PostgreSQL); returns how many moved. The open-balance summaries
    (``ledger.open_balances_repository``) take the moved invoices, summed by the database:
    on SQLite from the drafts just before the ``UPDATE`` (``add_posting``), on PostgreSQL
    from its ``RETURNING`` rows in the same statement (``post_summing``).

    The id range is written into the statement's text, so PostgreSQL plans each chunk's
    statement for its own range (a prepared statement's generic plan cannot tell a
    chunk's range from the whole table, and could walk the run's index instead).
    """
    where = (
        _inv.tenant_id == tenant_id,
        _inv.bill_run_id == bill_run_id,
        _inv.id.between(_literal(first_id), _literal(last_id)),
        _inv.status == InvoiceStatus.DRAFT,
    )
    values = _posting_values(now, invoice_date, due_dates)
    posting = update(_invoices).where(*where).values(**values)
    if not is_postgres(session):
        # SQLite: the database sums the drafts about to move into the summaries, then the
        # UPDATE moves them (one writer: nothing changes them in between).
        due = values.get("due_date", _inv.due_date)
        if isinstance(due, date):
            due = literal(due, Date)
        open_balances.add_posting(
            session,
            tenant_id,
            select(_inv.currency, due, _inv.amount_minor, _inv.account_id).where(*where),
        )
        moved = session.execute(posting.execution_options(synchronize_session=False))
        return int(cast(Any, moved).rowcount)
    return open_balances.post_summing(session, tenant_id, posting)


def _literal(value: int) -> Any:
    return bindparam(None, value, type_=BigInteger, literal_execute=True)


def cancel_drafts(
    session: Session, tenant_id: int, invoice_ids: Sequence[int], *, now: datetime
) -> list[int]:
    canceled: list[int] = []
    for chunk in chunks(invoice_ids):
        stmt = (
            update(_invoices)
            .where(
                _inv.tenant_id == tenant_id, _inv.id.in_(chunk), _inv.status == InvoiceStatus.DRAFT
            )
            .values(status=InvoiceStatus.CANCELED.value, canceled_at=now, updated_at=now)
            .returning(_inv.id)
        )
        canceled.extend(session.execute(stmt).scalars())
    return canceled


def void_items(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> None:
    for chunk in chunks(invoice_ids):
        session.execute(
            update(_items)
            .where(
                _item.tenant_id == tenant_id,
                _item.invoice_id.in_(chunk),
                _live(_items),
            )
            .values(voided=True)
        )


@dataclass(frozen=True, slots=True)
class ChargeSpan:
    """What one invoice billed of one charge segment: its earliest period start and, if
    it credited the segment, the end of the latest credited span."""

    invoice_id: int
    charge_id: int
    first_start: date
    credit_end: date | None


def charge_spans(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> list[ChargeSpan]:
    spans: list[ChargeSpan] = []
    for chunk in chunks(invoice_ids):
        stmt = (
            select(
                _item.invoice_id,
                _item.subscription_charge_id,
                func.min(_item.service_start),
                func.max(case((_item.is_credit.is_(True), _item.service_end))),
            )
            .where(
                _item.tenant_id == tenant_id,
                _item.invoice_id.in_(chunk),
                _live(_items),
            )
            .group_by(_item.invoice_id, _item.subscription_charge_id)
        )
        spans.extend(ChargeSpan(*row) for row in session.execute(stmt))
    return spans


@dataclass(frozen=True, slots=True)
class LaterItem:
    """A live item of a charge on another live invoice that may be later than the ones
    being cancelled (the caller makes the exact call)."""

    charge_id: int
    charge_number: str | None
    invoice_id: int
    invoice_number: str
    service_start: date
    is_credit: bool


def possibly_later_items(
    session: Session, tenant_id: int, invoice_ids: Sequence[int]
) -> list[LaterItem]:
    """Live items, on live invoices outside ``invoice_ids``, of the charges those invoices
    bill, that are on a newer invoice or (non-credit) start on or after the earliest
    period the given invoices bill for that charge.

    A superset of what blocks a cancel, narrowed in SQL by per-charge thresholds so a bill
    run's cancel reads only the handful of rows that matter.
    """
    found: list[LaterItem] = []
    other = _items.alias("other")
    for chunk in chunks(invoice_ids):
        mine = (
            select(
                _item.subscription_charge_id.label("charge_id"),
                func.min(_item.invoice_id).label("first_invoice"),
                func.min(_item.service_start).label("first_start"),
            )
            .where(
                _item.tenant_id == tenant_id,
                _item.invoice_id.in_(chunk),
                _live(_items),
            )
            .group_by(_item.subscription_charge_id)
            .subquery("mine")
        )
        stmt = (
            select(
                mine.c.charge_id,
                _charge.charge_number,
                other.c.invoice_id,
                _inv.invoice_number,
                other.c.service_start,
                other.c.is_credit,
            )
            .join(other, other.c.subscription_charge_id == mine.c.charge_id)
            .join(_invoices, _inv.id == other.c.invoice_id)
            .outerjoin(_charges, _charge.id == mine.c.charge_id)
            .where(
                other.c.tenant_id == tenant_id,
                _live(other),
                other.c.invoice_id.not_in(chunk),
                _inv.status != InvoiceStatus.CANCELED,
                or_(
                    other.c.invoice_id > mine.c.first_invoice,
                    and_(
                        other.c.is_credit.is_(False),
                        other.c.service_start >= mine.c.first_start,
                    ),
                ),
            )
        )
        found.extend(LaterItem(*row) for row in session.execute(stmt))
    return found


def restore_watermarks(
    session: Session, tenant_id: int, watermarks: Mapping[int, date], *, now: datetime
) -> None:
    """Set each charge segment's billed-through date back (charge id -> date)."""
    if not watermarks:
        return
    session.execute(
        update(_charges)
        .where(_charge.tenant_id == tenant_id, _charge.id == bindparam("charge_id"))
        .values(billed_through=bindparam("through"), updated_at=now),
        [{"charge_id": cid, "through": through} for cid, through in watermarks.items()],
    )
