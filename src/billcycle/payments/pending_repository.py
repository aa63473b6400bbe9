"""All SQL of pending applications (what Processing electronic payments will apply once
settled) and of the Processing payments the reconciler looks at.

An intention has two shapes, and every reader here reads both: a
``payment_pending_applications`` row (a payment's own request, any invoices and items),
or, for a payment run's payment, which pays its one invoice with its whole amount, the
payment's own ``pending_invoice_id`` (set while it is Processing, cleared when it
settles or fails: one row fewer written and deleted a payment, migration 0036)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    bindparam,
    column,
    delete,
    func,
    literal,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from billcycle.db.bulk import is_postgres, json_text
from billcycle.payments.activity_repository import Stored, bulk_insert
from billcycle.payments.models import Payment, PaymentsInFlight, PendingApplication, Refund
from billcycle.payments.statuses import PaymentStatus, PaymentType, RefundStatus


def add(session: Session, rows: Sequence[PendingApplication]) -> None:
    session.add_all(rows)
    session.flush()


def add_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Many intentions (column dicts of ints and None, every row the same keys) in the
    database's bulk path (COPY on PostgreSQL, the DB-API's executemany on SQLite).

    Tenant: each row carries its tenant_id, stamped by ``payments.charging``."""
    if not rows:
        return
    columns = list(rows[0])
    value = Stored(session).value
    bulk_insert(
        session,
        "payment_pending_applications",
        columns,
        [tuple(value(row[key]) for key in columns) for row in rows],
    )


def of_payment(session: Session, tenant_id: int, payment_id: int) -> list[PendingApplication]:
    """A payment's open intentions, in the order it asked; one held on the payment row
    comes as a transient :class:`PendingApplication` (never added to the session)."""
    found = list(
        session.scalars(
            select(PendingApplication)
            .where(
                PendingApplication.tenant_id == tenant_id,
                PendingApplication.payment_id == payment_id,
            )
            .order_by(PendingApplication.id)
        )
    )
    held = session.execute(
        select(Payment.pending_invoice_id, Payment.amount_minor).where(
            Payment.tenant_id == tenant_id,
            Payment.id == payment_id,
            Payment.pending_invoice_id.is_not(None),
        )
    ).first()
    if held is not None:
        found.append(
            PendingApplication(
                tenant_id=tenant_id,
                payment_id=payment_id,
                invoice_id=int(held[0] or 0),
                invoice_item_id=None,
                amount_minor=int(held[1]),
            )
        )
    return found


def rows_of_payments(session: Session, tenant_id: int, payment_ids: Sequence[int]) -> list[Any]:
    """The open intentions of many payments as plain rows (payment_id, invoice_id,
    invoice_item_id, amount_minor), rows first in id order, then those held on payment
    rows: a payment run settles hundreds a slice."""
    found: list[Any] = []
    held: list[Any] = []
    ordered = sorted(set(payment_ids))
    table = PendingApplication.__table__.c
    for start in range(0, len(ordered), 500):
        part = ordered[start : start + 500]
        found.extend(
            session.execute(
                select(
                    table.payment_id, table.invoice_id, table.invoice_item_id, table.amount_minor
                )
                .where(table.tenant_id == tenant_id, table.payment_id.in_(part))
                .order_by(table.id)
            ).all()
        )
        held.extend(
            session.execute(
                select(
                    Payment.id.label("payment_id"),
                    Payment.pending_invoice_id.label("invoice_id"),
                    literal(None).label("invoice_item_id"),
                    Payment.amount_minor,
                )
                .where(
                    Payment.tenant_id == tenant_id,
                    Payment.id.in_(part),
                    Payment.pending_invoice_id.is_not(None),
                )
                .order_by(Payment.id)
            ).all()
        )
    return found + held


def _clear_held(session: Session, tenant_id: int, payment_ids: Sequence[int]) -> None:
    """Forget the intentions held on these payments' rows (they settled or failed)."""
    session.execute(
        update(Payment)
        .where(
            Payment.tenant_id == tenant_id,
            Payment.id.in_(list(payment_ids)),
            Payment.pending_invoice_id.is_not(None),
        )
        .values(pending_invoice_id=None)
        .execution_options(synchronize_session=False)
    )


def drop_many(session: Session, tenant_id: int, payment_ids: Sequence[int]) -> None:
    ordered = sorted(set(payment_ids))
    for start in range(0, len(ordered), 500):
        session.execute(
            delete(PendingApplication)
            .where(
                PendingApplication.tenant_id == tenant_id,
                PendingApplication.payment_id.in_(ordered[start : start + 500]),
            )
            .execution_options(synchronize_session=False)
        )
        _clear_held(session, tenant_id, ordered[start : start + 500])


def drop(session: Session, tenant_id: int, payment_id: int) -> None:
    session.execute(
        delete(PendingApplication)
        .where(
            PendingApplication.tenant_id == tenant_id,
            PendingApplication.payment_id == payment_id,
        )
        .execution_options(synchronize_session=False)
    )
    _clear_held(session, tenant_id, [payment_id])


def _intentions_on(tenant_id: int, invoice_ids: Sequence[int]) -> Any:
    """Both shapes of the open intentions on ``invoice_ids`` as one subquery of
    (invoice_id, invoice_item_id, amount_minor): the rows, and the payments holding
    theirs (through ``ix_payments_pending_invoice``, which holds only those)."""
    wanted = list(invoice_ids)
    return union_all(
        select(
            PendingApplication.invoice_id,
            PendingApplication.invoice_item_id,
            PendingApplication.amount_minor,
        ).where(
            PendingApplication.tenant_id == tenant_id,
            PendingApplication.invoice_id.in_(wanted),
        ),
        select(
            Payment.pending_invoice_id.label("invoice_id"),
            literal(None, type_=PendingApplication.invoice_item_id.type).label("invoice_item_id"),
            Payment.amount_minor,
        ).where(Payment.tenant_id == tenant_id, Payment.pending_invoice_id.in_(wanted)),
    ).subquery()


def pending_on_invoice(session: Session, tenant_id: int, invoice_id: int) -> dict[int | None, int]:
    """What Processing payments intend to apply to one invoice, per item (None: the
    invoice itself)."""
    both = _intentions_on(tenant_id, [invoice_id])
    rows = session.execute(
        select(both.c.invoice_item_id, func.sum(both.c.amount_minor)).group_by(
            both.c.invoice_item_id
        )
    )
    found = {item_id: int(total or 0) for item_id, total in rows}
    flying = _in_flight_on(session, tenant_id, [invoice_id])
    if invoice_id in flying:
        found[None] = found.get(None, 0) + flying[invoice_id]
    return found


def pending_on_invoices(
    session: Session, tenant_id: int, invoice_ids: Sequence[int]
) -> dict[int, dict[int | None, int]]:
    """:func:`pending_on_invoice` for many invoices (those with none left out)."""
    found: dict[int, dict[int | None, int]] = {}
    ordered = sorted(set(invoice_ids))
    for start in range(0, len(ordered), 500):
        both = _intentions_on(tenant_id, ordered[start : start + 500])
        rows = session.execute(
            select(
                both.c.invoice_id, both.c.invoice_item_id, func.sum(both.c.amount_minor)
            ).group_by(both.c.invoice_id, both.c.invoice_item_id)
        )
        for invoice_id, item_id, total in rows:
            found.setdefault(invoice_id, {})[item_id] = int(total or 0)
    for invoice_id, amount in _in_flight_on(session, tenant_id, ordered).items():
        per_item = found.setdefault(invoice_id, {})
        per_item[None] = per_item.get(None, 0) + amount
    return found


def invoices_with_pending(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> set[int]:
    """Those of ``invoice_ids`` a Processing payment intends to pay."""
    if not invoice_ids:
        return set()
    both = _intentions_on(tenant_id, invoice_ids)
    found = {int(i) for i in session.scalars(select(both.c.invoice_id).distinct())}
    return found | set(_in_flight_on(session, tenant_id, invoice_ids))


def stale_processing(
    session: Session, submitted_before: datetime, limit: int, tenant_id: int | None = None
) -> list[tuple[int, int]]:
    """``(tenant_id, payment_id)`` of electronic payments Processing since before
    ``submitted_before``, the longest not looked at first (asking updates a payment, so
    payments that stay pending take turns instead of starving the others).

    Tenant: spans tenants on purpose (the reconciler's periodic sweep), unless
    ``tenant_id`` is given; each payment is then handled under its own tenant's context.
    """
    stmt = select(Payment.tenant_id, Payment.id).where(
        Payment.status == PaymentStatus.PROCESSING.value,
        Payment.payment_type == PaymentType.ELECTRONIC.value,
        Payment.submitted_at <= submitted_before,
        Payment.deleted_at.is_(None),
    )
    if tenant_id is not None:
        stmt = stmt.where(Payment.tenant_id == tenant_id)
    rows = session.execute(stmt.order_by(Payment.updated_at, Payment.id).limit(limit))
    return [(tenant_id, payment_id) for tenant_id, payment_id in rows]


def stale_processing_refunds(
    session: Session, created_before: datetime, limit: int, tenant_id: int | None = None
) -> list[tuple[int, int]]:
    """``(tenant_id, refund_id)`` of electronic refunds Processing since before
    ``created_before``, the longest not looked at first.

    Tenant: spans tenants on purpose (the reconciler's periodic sweep), unless
    ``tenant_id`` is given.
    """
    stmt = select(Refund.tenant_id, Refund.id).where(
        Refund.status == RefundStatus.PROCESSING.value,
        Refund.refund_type == PaymentType.ELECTRONIC.value,
        Refund.created_at <= created_before,
    )
    if tenant_id is not None:
        stmt = stmt.where(Refund.tenant_id == tenant_id)
    rows = session.execute(stmt.order_by(Refund.updated_at, Refund.id).limit(limit))
    return [(tenant_id, refund_id) for tenant_id, refund_id in rows]


def lock_refund(session: Session, tenant_id: int, refund_id: int) -> Refund | None:
    """The refund re-read after its payment's lock (the caller took it): every change
    to a payment's money runs under the payment's lock."""
    return session.scalars(
        select(Refund)
        .where(Refund.tenant_id == tenant_id, Refund.id == refund_id)
        .execution_options(populate_existing=True)
    ).first()


def _sent_under(tenant_id: int, order_ids: Sequence[str]) -> ColumnElement[bool]:
    """The tenant's payments whose ``gateway_order_id`` is one of ``order_ids``, by id,
    as the indexes hold them: one sent under its own number by that number (the unique
    index), one sent under another order id by ``ix_payments_gateway_order`` (which
    holds only those: migration 0042), the tenant as ``tenant_id + 0`` there (so no
    tenant-led index competes while ``payments`` has no statistics). The caller names
    the tenant as ``tenant_id + 0`` too: its payments are read by primary key."""
    return Payment.id.in_(
        union_all(
            select(Payment.id).where(
                Payment.tenant_id == tenant_id,
                Payment.number.in_(order_ids),
                Payment.gateway_order_id == Payment.number,
            ),
            select(Payment.id).where(
                Payment.gateway_order_id.in_(order_ids),
                Payment.gateway_order_id != Payment.number,
                Payment.tenant_id + 0 == tenant_id,
            ),
        )
    )


def same_order_payments(
    session: Session, tenant_id: int, gateway_order_id: str, exclude_id: int
) -> list[Payment]:
    """Earlier attempts sent with one ``gatewayOrderId`` (each attempt is a payment)."""
    found = list(
        session.scalars(
            select(Payment)
            .where(
                Payment.tenant_id + 0 == tenant_id,
                _sent_under(tenant_id, [gateway_order_id]),
                Payment.payment_type == PaymentType.ELECTRONIC.value,
                Payment.id != exclude_id,
            )
            .order_by(Payment.id)
        )
    )
    flying = _orders_in_flight(session, tenant_id, [gateway_order_id])
    return sorted(found + [p for p in flying if p.id != exclude_id], key=lambda p: p.id)


# A payment sent under its own number is found by that number (the unique index), one
# sent under another order id by ``ix_payments_gateway_order``, which holds only those
# (its predicate ``gateway_order_id <> number`` named, so it applies: migration 0042).
# Each index is read over ONE range, the ids' lowest to highest (a payment run's slice
# asks for a block of fresh numbers: an empty range), the membership checked only for
# what the range holds (``+``: not an index probe an id). As probes, one an id, the
# 2,000 fresh numbers of a slice cost ~2.5 ms (1.2 µs a payment of the run's writer).
_ORDERS_TAKEN_SQLITE = """
SELECT number FROM payments
WHERE tenant_id = :t AND number BETWEEN :lo AND :hi
  AND +number IN (SELECT value FROM json_each(:ids))
  AND gateway_order_id = number AND payment_type = :electronic
UNION
SELECT gateway_order_id FROM payments
WHERE gateway_order_id BETWEEN :lo AND :hi AND gateway_order_id <> number
  AND +gateway_order_id IN (SELECT value FROM json_each(:ids))
  AND tenant_id + 0 = :t AND payment_type = :electronic
"""
# PostgreSQL: the ids as one array parameter. Those sent under their own number: ONE
# range of ``uq_payments_tenant_id_number`` from the least id to the greatest (a
# payment run's block of fresh numbers: one descent, no row; least and greatest by the
# database's collation, the index's), the ids themselves only a filter (``|| ''``: as
# an index condition each of 2,000 ids was a descent of its own). Written as a probe
# an id (``p.tenant_id = :t AND p.number = k.o`` in a LATERAL step), it tied with every
# other tenant-led index while ``payments`` had no statistics (a run's first slices on
# a table never analysed) and ix_payments_tenant_amount won: every payment of the
# tenant read for each of the slice's 2,000 ids (~3 s of the server's CPU a worker at
# 100,000 payments, session 11). Planned so, the worst is one pass over the tenant's
# payments. Those sent under another order id: each looked up in a LATERAL step (LIMIT
# 1: never pulled up, one probe an id) by ``gateway_order_id`` with the tenant as
# ``tenant_id + 0``: ix_payments_gateway_order (led by the order id) is then the only
# index that applies.
_ORDERS_TAKEN_POSTGRES = """
SELECT p.number FROM payments p
WHERE p.tenant_id = :t
  AND p.number >= (SELECT min(o) FROM unnest(CAST(:ids AS varchar[])) AS b(o))
  AND p.number <= (SELECT max(o) FROM unnest(CAST(:ids AS varchar[])) AS b(o))
  AND p.number || '' = ANY(CAST(:ids AS varchar[])) AND p.gateway_order_id = p.number
  AND p.payment_type = :electronic
UNION
SELECT k.o FROM unnest(CAST(:ids AS varchar[])) AS k(o)
CROSS JOIN LATERAL (
    SELECT 1 FROM payments p
    WHERE p.gateway_order_id = k.o AND p.gateway_order_id <> p.number
      AND p.tenant_id + 0 = :t AND p.payment_type = :electronic
    LIMIT 1
) x
"""


def orders_taken(session: Session, tenant_id: int, gateway_order_ids: Sequence[str]) -> list[str]:
    """Those of ``gateway_order_ids`` some electronic payment was already sent under
    (usually none: a payment run's numbers are fresh), in one statement over a JSON
    array, no payment read."""
    if not gateway_order_ids:
        return []
    postgres = is_postgres(session)
    params: dict[str, Any] = {"t": tenant_id, "electronic": PaymentType.ELECTRONIC.value}
    if postgres:
        params["ids"] = list(gateway_order_ids)
    else:
        # Text compares as SQLite's BINARY collation does (UTF-8 bytes order as code points).
        params.update(
            ids=json_text(list(gateway_order_ids)),
            lo=min(gateway_order_ids),
            hi=max(gateway_order_ids),
        )
    return list(
        session.execute(
            text(_ORDERS_TAKEN_POSTGRES if postgres else _ORDERS_TAKEN_SQLITE), params
        ).scalars()
    )


def orders_in_use(
    session: Session, tenant_id: int, gateway_order_ids: Sequence[str]
) -> dict[str, list[Payment]]:
    """Electronic payments already sent under each of ``gateway_order_ids`` (id order)."""
    found: dict[str, list[Payment]] = {}
    ordered = sorted(set(gateway_order_ids))
    for start in range(0, len(ordered), 500):
        for payment in session.scalars(
            select(Payment)
            .where(
                Payment.tenant_id + 0 == tenant_id,
                _sent_under(tenant_id, ordered[start : start + 500]),
                Payment.payment_type == PaymentType.ELECTRONIC.value,
            )
            .order_by(Payment.id)
        ):
            found.setdefault(payment.gateway_order_id or "", []).append(payment)
    for payment in _orders_in_flight(session, tenant_id, ordered):
        earlier = found.setdefault(payment.gateway_order_id or "", [])
        earlier.append(payment)
        earlier.sort(key=lambda p: p.id)
    return found


# -- a payment run's slices in flight (``payments_in_flight``) -----------------------------
#
# ``charges``: {"ids": [...], "day": ISO date, "at": ISO instant, "source": attempt source,
# "columns": [account_ids, numbers, amounts_minor, currencies, payment_method_ids,
# gateway_ids, comments, attempt_keys, invoice_ids]} (``repository.insert_run_payment_columns``'
# columns, as the slice's begin decided them; its payments' ids at the same places).
INVOICES, AMOUNTS, NUMBERS, KEYS = 8, 2, 1, 7


@dataclass(frozen=True, slots=True)
class InFlight:
    """A slice in flight's payments as its begin decided them (``charges`` above)."""

    ids: list[int]
    columns: list[list[Any]]
    day: date
    at: datetime
    source: str


def add_in_flight(
    session: Session,
    tenant_id: int,
    run_id: int,
    accounts: tuple[int, int],
    ids: Sequence[int],
    columns: Sequence[Sequence[Any]],
    *,
    day: date,
    at: datetime,
    source: str,
) -> int:
    """Record a payment run's slice in flight (one row): its payments' ids and columns
    (``insert_run_payment_columns``' order), the first and last account of its records
    (``accounts``: a retaken chunk finds it by its run and accounts) and when it began
    (``at``: the payments' submitted and created time, and the reconciler's age).

    Tenant: the row is written under ``tenant_id``."""
    charges = {
        "ids": list(ids),
        "day": day.isoformat(),
        "at": at.isoformat(),
        "source": source,
        "columns": [list(column) for column in columns],
    }
    table = PaymentsInFlight.__table__
    return int(
        session.execute(
            table.insert()  # type: ignore[attr-defined]
            .values(
                tenant_id=tenant_id,
                payment_run_id=run_id,
                first_account=accounts[0],
                last_account=accounts[1],
                last_payment_id=max(ids),
                created_at=at,
                invoices=json_text(list(columns[INVOICES])),
                charges=json_text(charges),
            )
            .returning(table.c.id)
        ).scalar_one()
    )


# A payment run's writer takes and looks for slices in flight every slice: plain text
# statements, built once (an ORM statement built and keyed at each call was ~1.5% of
# that thread's Python).
_TAKE = text("DELETE FROM payments_in_flight WHERE id = :id AND tenant_id = :t")


def take_in_flight(session: Session, tenant_id: int, in_flight_id: int) -> bool:
    """Delete the slice in flight (its payments are being written): False when another
    unit of work took it first (then its payments exist, written Processing by a
    recovery). PostgreSQL: the row's lock, held to the commit, orders the two."""
    result = session.connection().execute(_TAKE, {"id": in_flight_id, "t": tenant_id})
    return int(result.rowcount) == 1


_TAKE_CHARGES = """
DELETE FROM payments_in_flight WHERE id = :id AND tenant_id = :t RETURNING charges
"""


def take_in_flight_charges(session: Session, tenant_id: int, in_flight_id: int) -> InFlight | None:
    """:func:`take_in_flight`, answering the slice's payments (None: another took it)."""
    found = session.execute(text(_TAKE_CHARGES), {"id": in_flight_id, "t": tenant_id}).scalar()
    return None if found is None else _parsed(found)


def in_flight_of_run(
    session: Session, tenant_id: int, run_id: int, first_account: int, last_account: int
) -> list[int]:
    """The run's slices in flight whose records' accounts meet ``first_account`` ..
    ``last_account`` (a chunk's worker died between a slice's begin and its finish)."""
    return [
        int(i)
        for i in session.connection()
        .execute(_OF_RUN, {"t": tenant_id, "r": run_id, "lo": first_account, "hi": last_account})
        .scalars()
    ]


_OF_RUN = text(
    "SELECT id FROM payments_in_flight WHERE tenant_id = :t AND payment_run_id = :r"
    " AND first_account <= :hi AND last_account >= :lo ORDER BY id"
)


def in_flight_invoice_ids(tenant_id: int, postgres: bool) -> Any:
    """The invoices of the tenant's payment-run slices in flight, as a subquery for
    ``NOT IN`` (a run's record selection: such an invoice is being collected, as one
    with a Processing payment is)."""
    if postgres:
        sql = (
            "SELECT CAST(f.v AS BIGINT) AS invoice_id FROM payments_in_flight pf "
            "CROSS JOIN LATERAL jsonb_array_elements_text(CAST(pf.invoices AS jsonb)) AS f(v) "
            "WHERE pf.tenant_id = :in_flight_tenant"
        )
    else:
        sql = (
            "SELECT f.value AS invoice_id FROM payments_in_flight pf, json_each(pf.invoices) f "
            "WHERE pf.tenant_id = :in_flight_tenant"
        )
    return (
        text(sql)
        .bindparams(bindparam("in_flight_tenant", tenant_id))
        .columns(column("invoice_id", BigInteger))
    )


def stale_in_flight(
    session: Session, before: datetime, tenant_id: int | None = None
) -> list[tuple[int, int]]:
    """``(tenant_id, id)`` of slices in flight since before ``before`` (their worker
    died and no worker retook the chunk: the run canceled meanwhile, say).

    Tenant: spans tenants on purpose (the reconciler's sweep) unless ``tenant_id``."""
    stmt = select(PaymentsInFlight.tenant_id, PaymentsInFlight.id).where(
        PaymentsInFlight.created_at <= before
    )
    if tenant_id is not None:
        stmt = stmt.where(PaymentsInFlight.tenant_id == tenant_id)
    return [(int(t), int(i)) for t, i in session.execute(stmt.order_by(PaymentsInFlight.id))]


def _parsed(charges: str) -> InFlight:
    found = json.loads(charges)
    return InFlight(
        ids=[int(i) for i in found["ids"]],
        columns=found["columns"],
        day=date.fromisoformat(found["day"]),
        at=datetime.fromisoformat(found["at"]),
        source=found["source"],
    )


def _in_flight(session: Session, tenant_id: int) -> list[InFlight]:
    """The tenant's slices in flight (a few at most: a worker's one or two slices)."""
    return [
        _parsed(charges)
        for charges in session.scalars(
            select(PaymentsInFlight.charges).where(PaymentsInFlight.tenant_id == tenant_id)
        )
    ]


def _in_flight_on(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> dict[int, int]:
    """What slices in flight intend to pay on ``invoice_ids``, by invoice."""
    wanted = set(invoice_ids)
    found: dict[int, int] = {}
    for slice_ in _in_flight(session, tenant_id):
        for invoice_id, amount in zip(
            slice_.columns[INVOICES], slice_.columns[AMOUNTS], strict=True
        ):
            if invoice_id in wanted:
                found[invoice_id] = found.get(invoice_id, 0) + int(amount)
    return found


def _orders_in_flight(session: Session, tenant_id: int, order_ids: Sequence[str]) -> list[Payment]:
    """The payments of slices in flight sent under one of ``order_ids`` (their number),
    as transient Processing payments (never added to the session): an order in flight
    is not sent again."""
    wanted = set(order_ids)
    found: list[Payment] = []
    for slice_ in _in_flight(session, tenant_id):
        numbers = slice_.columns[NUMBERS]
        for i, number in enumerate(numbers):
            if number in wanted:
                found.append(
                    Payment(
                        id=slice_.ids[i],
                        tenant_id=tenant_id,
                        number=number,
                        gateway_order_id=number,
                        attempt_key=slice_.columns[KEYS][i],
                        status=PaymentStatus.PROCESSING.value,
                        payment_type=PaymentType.ELECTRONIC.value,
                    )
                )
    return found
