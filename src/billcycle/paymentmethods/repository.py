"""All SQL of payment methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import TextClause, bindparam, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billcycle.db.bulk import SQLITE_MATERIALIZED, is_postgres, json_text, pg_int_array
from billcycle.db.types import UtcDateTime
from billcycle.gateways.statuses import GatewayOutcome
from billcycle.paymentmethods.models import PaymentMethod


def add_method(session: Session, method: PaymentMethod) -> PaymentMethod:
    session.add(method)
    session.flush()
    return method


def get_method(session: Session, tenant_id: int, method_id: int) -> PaymentMethod | None:
    return session.scalars(
        select(PaymentMethod).where(
            PaymentMethod.tenant_id == tenant_id, PaymentMethod.id == method_id
        )
    ).first()


def lock_method(session: Session, tenant_id: int, method_id: int) -> PaymentMethod | None:
    """The method's committed row under its lock until the unit of work ends (SQLite:
    a no-op write takes the database's write lock first, as ``payments`` does)."""
    if not is_postgres(session):
        session.execute(
            update(PaymentMethod)
            .where(PaymentMethod.tenant_id == tenant_id, PaymentMethod.id == method_id)
            .values(updated_at=PaymentMethod.updated_at)
            .execution_options(synchronize_session=False)
        )
    return session.scalars(
        select(PaymentMethod)
        .where(PaymentMethod.tenant_id == tenant_id, PaymentMethod.id == method_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def methods_by_id(
    session: Session, tenant_id: int, method_ids: Sequence[int]
) -> dict[int, PaymentMethod]:
    found: dict[int, PaymentMethod] = {}
    ordered = sorted(set(method_ids))
    for start in range(0, len(ordered), 500):
        for method in session.scalars(
            select(PaymentMethod).where(
                PaymentMethod.tenant_id == tenant_id,
                PaymentMethod.id.in_(ordered[start : start + 500]),
            )
        ):
            found[method.id] = method
    return found


def lock_methods(
    session: Session, tenant_id: int, method_ids: Sequence[int]
) -> list[PaymentMethod]:
    """Many methods under their locks, in id order (as :func:`lock_method`, batched)."""
    ordered = sorted(set(method_ids))
    if not ordered:
        return []
    if not is_postgres(session):
        session.execute(
            update(PaymentMethod)
            .where(PaymentMethod.tenant_id == tenant_id, PaymentMethod.id == ordered[0])
            .values(updated_at=PaymentMethod.updated_at)
            .execution_options(synchronize_session=False)
        )
    found: list[PaymentMethod] = []
    for start in range(0, len(ordered), 500):
        found.extend(
            session.scalars(
                select(PaymentMethod)
                .where(
                    PaymentMethod.tenant_id == tenant_id,
                    PaymentMethod.id.in_(ordered[start : start + 500]),
                )
                .order_by(PaymentMethod.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
    return found


def approve_methods(
    session: Session, tenant_id: int, approved: Mapping[int, int], *, at: datetime
) -> None:
    """``approved[method_id]`` approved sales on each method: the counters as
    ``paymentmethods.outcomes.record_sale`` moves them for one, for all in one UPDATE,
    after the rows' locks are taken in id order (every batch's lock order)."""
    ordered = sorted(approved)
    if not ordered:
        return
    if is_postgres(session):
        for start in range(0, len(ordered), 500):
            session.execute(
                select(PaymentMethod.id)
                .where(
                    PaymentMethod.tenant_id == tenant_id,
                    PaymentMethod.id.in_(ordered[start : start + 500]),
                )
                .order_by(PaymentMethod.id)
                .with_for_update()
            ).all()
    # One UPDATE per distinct count (a payment run's chunk: one approval a method, so
    # one statement), not a CASE of every method, which costs ~1 ms per 100 to build.
    by_count: dict[int, list[int]] = {}
    for method_id in ordered:
        by_count.setdefault(approved[method_id], []).append(method_id)
    for count, ids in sorted(by_count.items()):
        for start in range(0, len(ids), 500):
            session.execute(
                update(PaymentMethod)
                .where(
                    # ``+ 0``: by primary key, not the tenant index (SQLite otherwise
                    # walks every method of the tenant for each batch).
                    PaymentMethod.tenant_id + 0 == tenant_id,
                    PaymentMethod.id.in_(ids[start : start + 500]),
                )
                .values(
                    last_transaction_at=at,
                    last_transaction=GatewayOutcome.APPROVED.value,
                    num_consecutive_failures=0,
                    total_processed_payments=func.coalesce(
                        PaymentMethod.total_processed_payments, 0
                    )
                    + count,
                    updated_at=at,
                )
                .execution_options(synchronize_session=False)
            )


# Each row of the JSON array: [method_id, approved, failed, failed_since_last_approval,
# last_was_approved (1/0)], the counts of one batch's sales through the method, in
# payment id order (the order one-by-one settling counts them in).
# SQLite: each column of a row extracted once, in a ``MATERIALIZED`` step (json_extract
# parses the row's array again at every reference: eight a method before).
_SALES_SQLITE = """
WITH j AS {materialized} (
    SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS approved,
           json_extract(value, '$[2]') AS failed, json_extract(value, '$[3]') AS since,
           json_extract(value, '$[4]') AS last
    FROM json_each(:rows)
)
UPDATE payment_methods SET
    last_transaction_at = :at,
    last_transaction = CASE j.last WHEN 1 THEN :approved ELSE :declined END,
    num_consecutive_failures = CASE WHEN j.approved > 0 THEN j.since
        ELSE COALESCE(num_consecutive_failures, 0) + j.failed END,
    total_processed_payments = COALESCE(total_processed_payments, 0) + j.approved,
    total_error_payments = COALESCE(total_error_payments, 0) + j.failed,
    last_failed_sale_at = CASE WHEN j.failed > 0 THEN :at ELSE last_failed_sale_at END,
    updated_at = :at
FROM j
WHERE payment_methods.id = j.id AND payment_methods.tenant_id + 0 = :t
"""
# The methods whose batch counts are the same (a payment run's slice: one sale a method,
# approved or declined, so two kinds) updated by one statement a kind, its SET clause
# spelled for the kind (a column the kind leaves as it is is not assigned: no CASE, no
# total plus 0), the kind's ids the statement's only per-row input:
# - SQLite: ``id IN (SELECT value FROM json_each(:ids))``, a flat JSON array: the ids
#   looked up in rowid order from the IN list's index; ``UPDATE ... FROM json_each``
#   copied each method's new row into a temporary table first (1.51 against 1.14 µs a
#   never-used method; no ``json_extract``: 3.40 parses a row's array again at every one);
# - PostgreSQL: ``id = ANY(:ids)``, a bigint array, by the primary key whatever the
#   statistics (a generic plan of a JSON set join can hash it against a scan of every
#   method). The rows are locked first in id order (every batch's lock order) by one
#   ``SELECT ... ORDER BY id FOR UPDATE`` of all the batch's methods; a batch of one
#   kind (a slice with no decline) locks and updates in one statement, the locking
#   subquery's rows in id order.
# Batches with more kinds than ``_SALES_KINDS`` use ``_SALES_SQLITE`` / ``_SALES_POSTGRES``.
_SALES_KINDS = 4
# (Counted, not returned: the locks are the point, not 2,000 rows for the worker to read.)
_PG_LOCK_METHODS = (
    "SELECT count(*) FROM (SELECT id FROM payment_methods WHERE id = ANY(CAST(:ids AS bigint[]))"
    " AND tenant_id + 0 = :t ORDER BY id FOR UPDATE) AS l"
)
_PG_LOCKED_METHODS = (
    "FROM (SELECT id FROM payment_methods WHERE id = ANY(CAST(:ids AS bigint[]))"
    " AND tenant_id + 0 = :t ORDER BY id FOR UPDATE) AS l WHERE payment_methods.id = l.id"
)
_SALES_POSTGRES = """
UPDATE payment_methods SET
    last_transaction_at = :at,
    last_transaction = CASE (j.e->>4)::int WHEN 1 THEN :approved ELSE :declined END,
    num_consecutive_failures = CASE WHEN (j.e->>1)::int > 0 THEN (j.e->>3)::int
        ELSE COALESCE(num_consecutive_failures, 0) + (j.e->>2)::int END,
    total_processed_payments = COALESCE(total_processed_payments, 0) + (j.e->>1)::int,
    total_error_payments = COALESCE(total_error_payments, 0) + (j.e->>2)::int,
    last_failed_sale_at = CASE WHEN (j.e->>2)::int > 0 THEN :at ELSE last_failed_sale_at END,
    updated_at = :at
FROM jsonb_array_elements(CAST(:rows AS jsonb)) AS j(e)
WHERE payment_methods.id = (j.e->>0)::bigint AND payment_methods.tenant_id + 0 = :t
"""

SaleKind = tuple[int, int, int, bool]


def _kind_set(kind: SaleKind) -> str:
    """The SET clause of a kind's ``UPDATE``: what ``outcomes.record_sale`` moves, each
    sale in turn, for ``approved`` approvals and ``failed`` failures of which ``since``
    came after the last approval, the last one approved when ``last``."""
    approved, failed, _, _ = kind
    columns = ["last_transaction_at = :at", "last_transaction = :last", "updated_at = :at"]
    if approved:
        columns += [
            "num_consecutive_failures = :since",
            "total_processed_payments = COALESCE(total_processed_payments, 0) + :approved_n",
        ]
    else:
        columns.append(
            "num_consecutive_failures = COALESCE(num_consecutive_failures, 0) + :failed_n"
        )
    if failed:
        columns += [
            "total_error_payments = COALESCE(total_error_payments, 0) + :failed_n",
            "last_failed_sale_at = :at",
        ]
    return ",\n    ".join(columns)


_KIND_STATEMENTS: dict[tuple[bool, bool, str], TextClause] = {}


def _kind_statement(kind: SaleKind, shape: str) -> TextClause:
    """The kind's ``UPDATE`` for ``shape`` (``sqlite``, ``pg``: the rows locked already,
    ``pg_lock``: locked by the statement), built once a shape."""
    key = (kind[0] > 0, kind[1] > 0, shape)
    found = _KIND_STATEMENTS.get(key)
    if found is None:
        where = {
            "sqlite": "WHERE id IN (SELECT value FROM json_each(:ids)) AND tenant_id + 0 = :t",
            "pg": "WHERE id = ANY(CAST(:ids AS bigint[])) AND tenant_id + 0 = :t",
            "pg_lock": _PG_LOCKED_METHODS,
        }[shape]
        found = _KIND_STATEMENTS[key] = text(
            f"UPDATE payment_methods SET\n    {_kind_set(kind)}\n{where}"
        ).bindparams(bindparam("at", type_=UtcDateTime))
    return found


@dataclass(frozen=True, slots=True)
class SalesBatch:
    """A batch's sales as :func:`record_sales` writes them, built where it costs the
    writer nothing (a payment run's send thread): ``sales`` as given, every method's id
    in id order, and the methods grouped by their counts (a payment run's slice: one
    sale a method, so two kinds), each kind's ids in id order as a JSON array (None past
    ``_SALES_KINDS`` kinds)."""

    sales: Mapping[int, SaleKind]
    ids: list[int]
    kinds: list[tuple[SaleKind, str]] | None


def sales_batch(sales: Mapping[int, SaleKind]) -> SalesBatch:
    """:class:`SalesBatch` of ``sales`` (no database: any thread)."""
    ordered = sorted(sales)
    grouped: dict[SaleKind, list[int]] = {}
    for m in ordered:
        grouped.setdefault(sales[m], []).append(m)
    if len(grouped) > _SALES_KINDS:
        return SalesBatch(sales, ordered, None)
    return SalesBatch(sales, ordered, [(kind, json_text(ids)) for kind, ids in grouped.items()])


def _pg_array(json_arrays: Sequence[str]) -> str:
    """PostgreSQL's literal of a bigint array of the ids of flat JSON arrays of ids
    (``[1,2]`` -> ``{1,2}``): psycopg adapts a list of ints at ~0.75 µs an id, three
    times the JSON's cost, in the worker."""
    return "{" + ",".join(j[1:-1] for j in json_arrays if j != "[]") + "}"


def record_sales(
    session: Session,
    tenant_id: int,
    sales: Mapping[int, SaleKind] | SalesBatch,
    *,
    at: datetime,
) -> None:
    """``sales[method_id]`` = (approved, failed, failed since the last approval, the last
    one approved) of a batch's sales through each method, counted in payment id order
    (or the :class:`SalesBatch` of them): what ``paymentmethods.outcomes.record_sale``
    does once per sale, by one ``UPDATE`` per kind of counts (more kinds than
    ``_SALES_KINDS``: one ``UPDATE ... FROM`` a JSON array of every method's counts),
    after the rows' locks are taken in id order (PostgreSQL; SQLite's caller holds the
    write lock)."""
    batch = sales if isinstance(sales, SalesBatch) else sales_batch(sales)
    counts = batch.sales
    if not counts:
        return
    postgres = is_postgres(session)
    if batch.kinds is not None:
        shape = "pg" if postgres else "sqlite"
        if postgres:
            if len(batch.kinds) == 1:
                shape = "pg_lock"
            else:
                session.execute(
                    text(_PG_LOCK_METHODS),
                    {"t": tenant_id, "ids": _pg_array([j for _, j in batch.kinds])},
                )
        for kind, ids_json in batch.kinds:
            approved, failed, since, last = kind
            session.execute(
                _kind_statement(kind, shape),
                {
                    "t": tenant_id,
                    "ids": _pg_array([ids_json]) if postgres else ids_json,
                    "at": at,
                    "last": (GatewayOutcome.APPROVED if last else GatewayOutcome.DECLINED).value,
                    "approved_n": approved,
                    "failed_n": failed,
                    "since": since,
                },
            )
        return
    ordered = batch.ids
    rows = json_text([[m, *counts[m][:3], int(counts[m][3])] for m in ordered])
    if postgres:
        session.execute(text(_PG_LOCK_METHODS), {"t": tenant_id, "ids": pg_int_array(ordered)})
    session.execute(
        text(
            _SALES_POSTGRES if postgres else _SALES_SQLITE.format(materialized=SQLITE_MATERIALIZED)
        ).bindparams(bindparam("at", type_=UtcDateTime)),
        {
            "t": tenant_id,
            "rows": rows,
            "at": at,
            "approved": GatewayOutcome.APPROVED.value,
            "declined": GatewayOutcome.DECLINED.value,
        },
    )


def default_for_account(session: Session, tenant_id: int, account_id: int) -> PaymentMethod | None:
    return session.scalars(
        select(PaymentMethod).where(
            PaymentMethod.tenant_id == tenant_id,
            PaymentMethod.account_id == account_id,
            PaymentMethod.is_default.is_(True),
        )
    ).first()


def defaults_for_accounts(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> dict[int, PaymentMethod]:
    """Each account's default method, in one query (a payment run's chunk)."""
    if not account_ids:
        return {}
    rows = session.scalars(
        select(PaymentMethod).where(
            PaymentMethod.tenant_id == tenant_id,
            PaymentMethod.account_id.in_(list(account_ids)),
            PaymentMethod.is_default.is_(True),
        )
    )
    return {row.account_id: row for row in rows if row.account_id is not None}


def methods_of_account(session: Session, tenant_id: int, account_id: int) -> list[PaymentMethod]:
    return list(
        session.scalars(
            select(PaymentMethod)
            .where(PaymentMethod.tenant_id == tenant_id, PaymentMethod.account_id == account_id)
            .order_by(PaymentMethod.id)
        )
    )


# -- methods helper: create, default, list, delete ------------------------------------


def add_method_as_default_if_free(session: Session, method: PaymentMethod) -> PaymentMethod:
    """Insert a method that asks to be its account's first default: in a savepoint, so
    that if a concurrent transaction made another method the default first (the partial
    unique index refuses a second), the method is inserted as a plain one instead.

    Tenant: the row carries its tenant (set by the service)."""
    try:
        with session.begin_nested():
            session.add(method)
            session.flush()
    except IntegrityError:
        method = _plain_copy(method)
        session.add(method)
        session.flush()
    return method


def _plain_copy(method: PaymentMethod) -> PaymentMethod:
    columns = {
        c.key: getattr(method, c.key)
        for c in PaymentMethod.__table__.columns
        if c.key not in ("id",)
    }
    columns["is_default"] = False
    return PaymentMethod(**columns)


def clear_default(session: Session, tenant_id: int, account_id: int) -> None:
    """The account's default is no longer one. On PostgreSQL the UPDATE waits for a
    concurrent default change of the account to commit; it then no longer matches, and
    the caller's own new default collides with the other's in the unique index."""
    session.execute(
        update(PaymentMethod)
        .where(
            PaymentMethod.tenant_id == tenant_id,
            PaymentMethod.account_id == account_id,
            PaymentMethod.is_default.is_(True),
        )
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )


def mark_default(session: Session, method: PaymentMethod) -> bool:
    """Make ``method`` its account's default; False when the unique index refuses it
    (another transaction's default won).

    Tenant: ``method`` was read under its tenant."""
    try:
        with session.begin_nested():
            method.is_default = True
            session.flush()
    except IntegrityError:
        session.expire(method, ["is_default"])
        return False
    return True


def list_methods(
    session: Session,
    tenant_id: int,
    account_id: int,
    *,
    statuses: Sequence[str],
    default_only: bool = False,
) -> list[PaymentMethod]:
    """The account's methods in the given statuses, the default first, then oldest
    first."""
    query = select(PaymentMethod).where(
        PaymentMethod.tenant_id == tenant_id,
        PaymentMethod.account_id == account_id,
        PaymentMethod.status.in_(list(statuses)),
    )
    if default_only:
        query = query.where(PaymentMethod.is_default.is_(True))
    return list(session.scalars(query.order_by(PaymentMethod.is_default.desc(), PaymentMethod.id)))


def delete_method(session: Session, tenant_id: int, method_id: int) -> None:
    session.execute(
        delete(PaymentMethod).where(
            PaymentMethod.tenant_id == tenant_id, PaymentMethod.id == method_id
        )
    )
