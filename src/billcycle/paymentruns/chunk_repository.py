"""The SQL of a payment run's set-based chunk (``paymentruns.setbased``): the slice's
open records read with everything deciding them needs in ONE query (plain rows, no ORM
object), the decided records' results in one executemany, and the charged records'
results written by one ``UPDATE`` from their payments once those settle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, text, update
from sqlalchemy.orm import Session

from billcycle.db.bulk import dbapi, is_postgres
from billcycle.db.types import UtcDateTime
from billcycle.paymentruns.models import PaymentRunData
from billcycle.paymentruns.statuses import RecordResult, TransactionType
from billcycle.payments.statuses import SETTLED_STATUSES

# The slice's open records decided by the database (``slice_rows``): each row's kind,
# the amount it would collect and the columns a charge is written from, in the order
# ``paymentruns.setbased`` takes them as columns. Kinds: S a payment names it already
# (a crashed attempt's, resumed), R the row-by-row way (an explicit method, money
# collected before, earlier transactions, an invoice two records collect, a retry rule
# to ask, a method that cannot be charged or has no token, an invoice not Posted or of
# another account, a comment too long: ``collect._begin_records`` words each), W a
# Processing payment already intends to pay the invoice, N nothing to collect, M no
# default method, X a method not Active while closed ones are not charged, C charged.
# A payment run's slice in flight (its payments not written yet) awaits its invoices as
# a Processing payment does (W).
_SLICE_ROWS = """
WITH o AS MATERIALIZED (
    SELECT d.id, d.account_id, d.invoice_id, d.amount_minor, d.payment_method_id,
           d.payment_gateway_id, d.comment, d.amount_collected_minor, d.transactions,
           d.payment_id, i.account_id AS invoice_account, i.status AS invoice_status,
           i.due_date AS invoice_due,
           CAST(COALESCE(i.amount_minor - COALESCE((
               SELECT SUM(l.amount_minor) FROM ledger_entries l
               WHERE l.invoice_id = i.id AND l.tenant_id = :t), 0), 0) AS BIGINT) AS balance,
           CASE WHEN EXISTS (SELECT 1 FROM payment_pending_applications pa
                             WHERE pa.tenant_id = :t AND pa.invoice_id = d.invoice_id)
                  OR {held}
                  OR d.invoice_id IN ({in_flight})
                THEN 1 ELSE 0 END AS awaiting,
           m.id AS method_id, m.status AS method_status, m.token, m.second_token,
           m.gateway_id AS method_gateway, m.num_consecutive_failures,
           m.last_failed_sale_at, a.currency, a.payment_gateway_id AS account_gateway,
           SUM(CASE WHEN d.payment_id IS NULL THEN 1 ELSE 0 END)
               OVER (PARTITION BY d.invoice_id) AS per_invoice
    FROM payment_run_data d
    {joins}
    WHERE d.tenant_id = :t AND d.payment_run_id = :r
      AND d.account_id BETWEEN :lo AND :hi AND d.result IS NULL
), c AS (
    SELECT o.*, CASE WHEN COALESCE(amount_minor, balance) < balance
                     THEN COALESCE(amount_minor, balance) ELSE balance END AS to_collect
    FROM o
)
SELECT id,
       CASE
           WHEN payment_id IS NOT NULL THEN 'S'
           WHEN payment_method_id IS NOT NULL OR COALESCE(amount_collected_minor, 0) <> 0
                OR transactions IS NOT NULL OR per_invoice > 1 THEN 'R'
           WHEN awaiting = 1 THEN 'W'
           WHEN to_collect <= 0 THEN 'N'
           WHEN method_id IS NULL THEN 'M'
           WHEN method_status <> :active AND NOT {closed_ok} THEN 'X'
           WHEN {retry_rule} AND (COALESCE(num_consecutive_failures, 0) <> 0
                                  OR last_failed_sale_at IS NOT NULL) THEN 'R'
           WHEN NOT (method_status = :active OR ({closed_ok} AND method_status = :closed))
                OR token IS NULL OR token = '' THEN 'R'
           WHEN invoice_status IS NULL OR invoice_status <> :posted
                OR invoice_account IS NULL OR invoice_account <> account_id THEN 'R'
           WHEN comment IS NOT NULL AND LENGTH(comment) > :comment_limit THEN 'R'
           ELSE 'C'
       END AS kind,
       to_collect, account_id, invoice_id, currency, method_id, token, second_token,
       COALESCE(payment_gateway_id, CAST(:run_gateway AS BIGINT), method_gateway,
                account_gateway) AS wanted_gateway,
       comment, method_status, invoice_due
FROM c
ORDER BY account_id, id
"""


# Whether a payment holds the record's invoice (``payments.pending_invoice_id``).
_HELD_SQLITE = """EXISTS (SELECT 1 FROM payments pp
                             WHERE pp.tenant_id = :t AND pp.pending_invoice_id = d.invoice_id)"""
# PostgreSQL: a LATERAL probe of ix_payments_pending_invoice (in the joins below). As an
# EXISTS the planner hashed it: a sequential scan of every payment of the tenant each
# slice (settled ones too: their NULLs hashed as well), a cost growing with the
# payments a run has written (~3,300 blocks a slice at 100,000; ~33,000 at 1M) until
# statistics make the probes look cheaper.
_HELD_POSTGRES = "ph.held IS NOT NULL"
# The invoices of payment runs' slices in flight (``payments_in_flight``: charges sent
# whose payments are written at the slice's finish), one uncorrelated subquery: read
# once a statement (SQLite: into an index of its own; PostgreSQL: a hashed subplan).
_IN_FLIGHT_SQLITE = """SELECT f.value FROM payments_in_flight pf, json_each(pf.invoices) f
                       WHERE pf.tenant_id = :t"""
_IN_FLIGHT_POSTGRES = """SELECT CAST(f.v AS BIGINT) FROM payments_in_flight pf
                         CROSS JOIN LATERAL
                             jsonb_array_elements_text(CAST(pf.invoices AS jsonb)) AS f(v)
                         WHERE pf.tenant_id = :t"""

_SLICE_JOINS_SQLITE = """
    LEFT JOIN invoices i ON i.id = d.invoice_id AND i.tenant_id = :t
    LEFT JOIN payment_methods m
           ON m.tenant_id = :t AND m.account_id = d.account_id AND m.is_default = :yes
    LEFT JOIN accounts a ON a.id = d.account_id AND a.tenant_id = :t
"""
# PostgreSQL: each record's invoice looked up by key in a LATERAL step (LIMIT 1: never
# pulled up), so the slice's records drive an index probe each. With the tables'
# statistics plain joins were hashed against sequential scans of every invoice, default
# method and account of the tenant, each slice (~0.25 s a slice at 100,000 accounts,
# growing with the tenant until nested loops look cheaper). The default methods (at
# most one an account: ix_payment_methods_one_default) and the accounts are joined from
# the slice's own account range (``BETWEEN :lo AND :hi``, the records' condition): the
# planner may read that range once (one index range scan, hashed; ~2 µs a record less
# than 2,000 probes of three levels each) or probe by key, and whichever it takes reads
# no account outside the slice's range. A chunk's slices are disjoint ranges, so even
# a range of sparse accounts read whole costs one pass over them a run, not a slice.
_SLICE_JOINS_POSTGRES = """
    LEFT JOIN LATERAL (
        SELECT i.id, i.account_id, i.status, i.amount_minor, i.due_date FROM invoices i
        WHERE i.id = d.invoice_id AND i.tenant_id = :t LIMIT 1) i ON TRUE
    LEFT JOIN (
        SELECT m.account_id AS m_account, m.id, m.status, m.token, m.second_token,
               m.gateway_id, m.num_consecutive_failures, m.last_failed_sale_at
        FROM payment_methods m
        WHERE m.tenant_id = :t AND m.account_id BETWEEN :lo AND :hi
          AND m.is_default = :yes) m ON m.m_account = d.account_id
    LEFT JOIN (
        SELECT a.id AS a_id, a.currency, a.payment_gateway_id FROM accounts a
        WHERE a.id BETWEEN :lo AND :hi AND a.tenant_id = :t) a ON a.a_id = d.account_id
    LEFT JOIN LATERAL (
        SELECT 1 AS held FROM payments pp
        WHERE pp.tenant_id = :t AND pp.pending_invoice_id = d.invoice_id LIMIT 1) ph ON TRUE
"""


def slice_rows(
    session: Session,
    tenant_id: int,
    run_id: int,
    first_account: int,
    last_account: int,
    *,
    retry_rule: bool,
    closed_ok: bool,
    run_gateway: int | None,
    comment_limit: int,
    statuses: tuple[str, str, str],
) -> list[Any]:
    """The slice's open records decided by the database in one statement (the kinds
    above), plain rows of (id, kind, amount to collect, account, invoice, currency,
    method, token, second token, the gateway asked for (None: the tenant's default),
    comment, method status, the invoice's due date), by account then id.
    ``retry_rule``: a method that failed
    before goes the row-by-row way (the run honours retry rules); ``closed_ok``: a
    Closed method is charged; ``statuses``: (Active, Closed, Posted). The caller holds
    SQLite's write lock: the balances and intentions read are what it writes against
    (PostgreSQL: the settling locks the invoices and reads them again).

    Tenant: every table is read under ``tenant_id``."""
    postgres = is_postgres(session)
    statement = _SLICE_ROWS.format(
        joins=_SLICE_JOINS_POSTGRES if postgres else _SLICE_JOINS_SQLITE,
        held=_HELD_POSTGRES if postgres else _HELD_SQLITE,
        in_flight=_IN_FLIGHT_POSTGRES if postgres else _IN_FLIGHT_SQLITE,
        closed_ok="TRUE" if closed_ok else "FALSE",
        retry_rule="TRUE" if retry_rule else "FALSE",
    )
    active, closed, posted = statuses
    if is_postgres(session):
        # Three index probes a record plus the balance's make the planner's estimate
        # (~100,000 for a slice of 2,000 records) cross jit_above_cost: the JIT
        # compilation (~50 ms of the server's CPU a slice) costs more than the ~20 ms
        # the statement runs. Off for this unit of work only.
        session.execute(text("SET LOCAL jit = off"))
    return list(
        session.execute(
            text(statement),
            {
                "t": tenant_id,
                "r": run_id,
                "lo": first_account,
                "hi": last_account,
                "yes": True,
                "active": active,
                "closed": closed,
                "posted": posted,
                "run_gateway": run_gateway,
                "comment_limit": comment_limit,
            },
        ).all()
    )


def data_version(session: Session) -> int:
    """SQLite's ``PRAGMA data_version`` of the session's connection: it changes when
    ANOTHER connection commits, never for this connection's own commits (the decisions
    read ahead, ``paymentruns.ahead``, are used only while it has not changed). Read
    outside any transaction it is the database's latest state. Asked on the DBAPI
    connection itself: twice a slice on the collecting thread (through the session it
    was ~2% of that thread's Python)."""
    return int(dbapi(session).execute("PRAGMA data_version").fetchone()[0])


def write_decided(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Records decided without a charge (nothing to collect, no method, ...), one
    executemany: ``b_id``, ``result``, ``error_code``, ``error_message``,
    ``amount_to_collect_minor``, ``processed_at``. A record whose result is written
    keeps it.

    Tenant: the ids were read under the caller's tenant (:func:`slice_rows`)."""
    if not rows:
        return
    table = cast(Table, PaymentRunData.__table__)
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.result.is_(None))
        .values(
            result=bindparam("result"),
            error_code=bindparam("error_code"),
            error_message=bindparam("error_message"),
            amount_to_collect_minor=bindparam("amount_to_collect_minor"),
            processed_at=bindparam("processed_at"),
        ),
        list(rows),
    )


_SETTLED = ", ".join(f"'{status.value}'" for status in sorted(SETTLED_STATUSES))

# The records the four record-result statements below may write: the slice's records
# without a result, nothing collected before (no unapplied payment applied to them),
# something to collect. One text, so the SQLite and PostgreSQL forms cannot drift.
_STILL_OPEN = """payment_run_data.tenant_id = :t AND payment_run_data.id IN ({ids})
  AND payment_run_data.result IS NULL AND payment_run_data.transactions IS NULL
  AND payment_run_data.amount_collected_minor = 0
  AND payment_run_data.amount_to_collect_minor > 0"""


def _still_open(record_ids: Sequence[int]) -> str:
    """``_STILL_OPEN`` for these records (ids as integer literals)."""
    return _STILL_OPEN.format(ids=", ".join(str(i) for i in sorted({int(i) for i in record_ids})))


# What ``collect._finish`` writes for a record whose payment settled, when the record had
# nothing collected before (no unapplied payment applied to it): Processed, the amount it
# was to collect, one Payment transaction. Built by the database, JSON and all.
# ``payment_id + 0``: the slice's records drive (by rowid), each payment read by its key.
# Compared as a plain column, SQLite took the other order once the statistics made it
# look cheaper (a slice's ids a fifth of the records): a scan of every payment, each
# probing the records by payment (1.5-3 s a slice of 4,000 at 20,000 payments).
_SETTLE_RECORDS = """
UPDATE payment_run_data SET
    result = :processed,
    error_code = NULL,
    error_message = NULL,
    amount_collected_minor = payment_run_data.amount_to_collect_minor,
    transactions = {array}({obj}('id', p.id, 'type', '{payment_type}', 'status', p.status,
                                 'amount', payment_run_data.amount_to_collect_minor,
                                 'applied', payment_run_data.amount_to_collect_minor)){cast},
    processed_at = :now
FROM payments p
WHERE p.id = payment_run_data.payment_id + 0 AND p.tenant_id + 0 = :t
  AND p.status IN ({settled})
  AND {still_open}
RETURNING payment_run_data.id
"""


# What ``collect._finish`` writes for a record whose payment failed (Error), when the
# record had nothing collected before: Error with the gateway's code and message (or
# the generic words), one Payment transaction that applied nothing.
_FAIL_RECORDS = """
UPDATE payment_run_data SET
    result = :failed,
    error_code = SUBSTR(COALESCE(p.gateway_response_code, :declined_code), 1, 100),
    error_message = COALESCE(p.gateway_response, :declined_message),
    transactions = {array}({obj}('id', p.id, 'type', '{payment_type}', 'status', p.status,
                                 'amount', payment_run_data.amount_to_collect_minor,
                                 'applied', 0)){cast},
    processed_at = :now
FROM payments p
WHERE p.id = payment_run_data.payment_id + 0 AND p.tenant_id + 0 = :t
  AND p.status = :error
  AND {still_open}
RETURNING payment_run_data.id
"""


# PostgreSQL: the same two statements with each record's payment read by primary key in
# a correlated subquery (a SubPlan per record: the records drive, whatever the
# statistics say). The payments a run writes have no statistics until an ANALYZE, and
# ``FROM payments p`` was planned as a sequential scan of every payment (estimated at one
# row) probing ix_payment_run_data_payment for each: a slice's cost growing with the
# payments before it (~0.3 s a slice at 100,000 payments, 30 ms at 20,000).
_SETTLE_RECORDS_POSTGRES = """
UPDATE payment_run_data SET
    result = :processed,
    error_code = NULL,
    error_message = NULL,
    amount_collected_minor = payment_run_data.amount_to_collect_minor,
    transactions = json_build_array(json_build_object(
        'id', payment_run_data.payment_id, 'type', '{payment_type}',
        'status', (SELECT p.status FROM payments p
                   WHERE p.id = payment_run_data.payment_id AND p.tenant_id + 0 = :t),
        'amount', payment_run_data.amount_to_collect_minor,
        'applied', payment_run_data.amount_to_collect_minor))::json,
    processed_at = :now
WHERE {still_open}
  AND (SELECT p.status FROM payments p
       WHERE p.id = payment_run_data.payment_id AND p.tenant_id + 0 = :t) IN ({settled})
RETURNING payment_run_data.id
"""
_FAIL_RECORDS_POSTGRES = """
UPDATE payment_run_data SET
    result = :failed,
    error_code = SUBSTR(COALESCE((SELECT p.gateway_response_code FROM payments p
                                  WHERE p.id = payment_run_data.payment_id),
                                 :declined_code), 1, 100),
    error_message = COALESCE((SELECT p.gateway_response FROM payments p
                              WHERE p.id = payment_run_data.payment_id),
                             :declined_message),
    transactions = json_build_array(json_build_object(
        'id', payment_run_data.payment_id, 'type', '{payment_type}',
        'status', (SELECT p.status FROM payments p
                   WHERE p.id = payment_run_data.payment_id AND p.tenant_id + 0 = :t),
        'amount', payment_run_data.amount_to_collect_minor,
        'applied', 0))::json,
    processed_at = :now
WHERE {still_open}
  AND (SELECT p.status FROM payments p
       WHERE p.id = payment_run_data.payment_id AND p.tenant_id + 0 = :t) = :error
RETURNING payment_run_data.id
"""


def _json_words(postgres: bool) -> dict[str, str]:
    """The JSON functions of the record-result statements, in each database's words."""
    if postgres:
        return {"array": "json_build_array", "obj": "json_build_object", "cast": "::json"}
    return {"array": "json_array", "obj": "json_object", "cast": ""}


def fail_records(
    session: Session,
    tenant_id: int,
    record_ids: Sequence[int],
    now: datetime,
    *,
    error: str,
    declined: tuple[str, str],
) -> set[int]:
    """The results of those of ``record_ids`` whose payment failed (status ``error``)
    and which had nothing collected before, in ONE ``UPDATE ... FROM payments``:
    ``declined`` = (code, message) for a payment the gateway gave no words for;
    returns their ids. The others are left for the row-by-row finish.

    Tenant: filters records and payments on ``tenant_id``."""
    if not record_ids:
        return set()
    postgres = is_postgres(session)
    statement = (_FAIL_RECORDS_POSTGRES if postgres else _FAIL_RECORDS).format(
        **_json_words(postgres),
        still_open=_still_open(record_ids),
        payment_type=TransactionType.PAYMENT.value,
    )
    result = session.execute(
        text(statement).bindparams(bindparam("now", type_=UtcDateTime)),
        {
            "failed": RecordResult.ERROR.value,
            "error": error,
            "declined_code": declined[0],
            "declined_message": declined[1],
            "now": now,
            "t": tenant_id,
        },
    )
    return {int(i) for i in result.scalars().all()}


def settle_records(
    session: Session, tenant_id: int, record_ids: Sequence[int], now: datetime
) -> set[int]:
    """The results of those of ``record_ids`` whose payment is settled (Processed or
    Posted) and which had nothing collected before, in ONE ``UPDATE ... FROM payments``;
    returns their ids. The others are left for the row-by-row finish.

    Tenant: filters records and payments on ``tenant_id``."""
    if not record_ids:
        return set()
    postgres = is_postgres(session)
    statement = (_SETTLE_RECORDS_POSTGRES if postgres else _SETTLE_RECORDS).format(
        **_json_words(postgres),
        settled=_SETTLED,
        still_open=_still_open(record_ids),
        payment_type=TransactionType.PAYMENT.value,
    )
    result = session.execute(
        text(statement).bindparams(bindparam("now", type_=UtcDateTime)),
        {
            "processed": RecordResult.PROCESSED.value,
            "now": now,
            "t": tenant_id,
        },
    )
    return {int(i) for i in result.scalars().all()}
