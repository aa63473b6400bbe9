"""BulkPayment chunks judged and recorded set-based, in SQL over the records' stored JSON
(session 3): no record is parsed, judged or planned in Python on the common path.

The rules are ``payment_records.judge``'s. SQL only ever *passes* records: validation
marks Passed every pending record of a chunk that the statement proves good (a recorded
payment, Cash/Check/DirectDeposit, of a customer of the tenant, an amount written with
no more decimals than the customer's currency has, named allocations to the customer's
posted invoices, each invoice's share within its balance, together within the amount);
whatever it does not pass (a failure, a card or ACH record, an amount written as
``9.990``) is judged by the Python rules as before, so every failure's message is the
Python rules' own, word for word.

Processing writes a chunk set-based only when the whole chunk is of that shape and
nothing has changed since validation that could fail one of its records (every invoice
still posted and its chunk's allocations within its balance, read under the invoices'
locks); a chunk with a card, ACH or auto-allocating record, or one whose balances no
longer cover it, is processed record by record in Python as before. The set-based
write is ``payments.bulk.record_payments``'s rows exactly (payments, ledger entries in
the same order, activities), each written by one ``INSERT ... SELECT`` from the records,
then the records marked Processed with their payment ids by one UPDATE.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any, NamedTuple

from babel.numbers import get_currency_precision, list_currencies
from sqlalchemy.orm import Session

from billcycle.bulkjobs.payment_records import MAX_REFERENCE
from billcycle.bulkjobs.statuses import RecordStatus
from billcycle.context import ServiceContext
from billcycle.db.bulk import dbapi, is_postgres, sqlite_storage_value
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger.models import EntrySource, EntryType
from billcycle.payments import activity_repository
from billcycle.payments.activity_statuses import (
    RECORDED_KINDS,
    ActivityStatus,
    ActivityType,
    PaymentSource,
)
from billcycle.payments.statuses import GatewayState, PaymentStatus, PaymentType
from billcycle.tenancy import numbers

_ZUORA_REFERENCE = 100  # as payments.bulk: a longer reference is not the payment's
# Longest amount text (digits and point) SQL judges; longer ones go to the Python rules
# (a float keeps 15 significant digits exactly, so up to here both read the same value).
_LONGEST_AMOUNT = 15


class _Dialect(NamedTuple):
    postgres: bool
    records: str  # the records as a FROM item with their JSON as ``d``
    customer: str  # r's customer id
    kind: str
    source: str
    reference: str
    auto: str  # a boolean: autoAllocate is true
    amount: str  # the amount's text as written (a JSON number or an exact string)
    allocations: str  # FROM item: r's allocations as ``al(value)`` (and ``al_n``)
    al_n: str  # an allocation's position, from 1
    al_invoice: str
    al_amount: str
    strpos: str
    numeric: str  # format: a text is digits with at most one point inside
    today: str
    now: str
    null_id: str


def _dialect(postgres: bool) -> _Dialect:
    if postgres:
        return _Dialect(
            postgres=True,
            records=(
                "(SELECT id, seq, bulk_job_id, status, CAST(data AS JSONB) AS d "
                "FROM bulk_job_records)"
            ),
            customer="CAST(r.d ->> 'customerId' AS BIGINT)",
            kind="(r.d ->> 'paymentMethod')",
            source="(r.d ->> 'source')",
            reference="(r.d ->> 'reference')",
            auto="(COALESCE(r.d ->> 'autoAllocate', 'false') = 'true')",
            amount="(r.d ->> 'amount')",
            allocations=(
                "jsonb_array_elements(CASE jsonb_typeof(r.d -> 'paymentAllocations') "
                "WHEN 'array' THEN r.d -> 'paymentAllocations' ELSE CAST('[]' AS JSONB) END) "
                "WITH ORDINALITY AS al(value, n)"
            ),
            al_n="al.n",
            al_invoice="CAST(al.value ->> 'invoiceId' AS BIGINT)",
            al_amount="(al.value ->> 'amount')",
            strpos="strpos",
            numeric="({t} ~ '^[0-9]+([.][0-9]+)?$')",
            today="CAST(:today AS DATE)",
            now="CAST(:now AS TIMESTAMPTZ)",
            null_id="CAST(NULL AS BIGINT)",
        )
    return _Dialect(
        postgres=False,
        records="(SELECT id, seq, bulk_job_id, status, data AS d FROM bulk_job_records)",
        customer="json_extract(r.d, '$.customerId')",
        kind="json_extract(r.d, '$.paymentMethod')",
        source="json_extract(r.d, '$.source')",
        reference="json_extract(r.d, '$.reference')",
        auto="(COALESCE(json_extract(r.d, '$.autoAllocate'), 0) = 1)",
        # ``->`` keeps a number's text as written (9.990 stays 9.990); a string's quotes
        # are trimmed (an escaped quote inside is not a number, so it is left to Python).
        amount="trim(r.d -> '$.amount', '\"')",
        allocations="json_each(r.d, '$.paymentAllocations') AS al",
        al_n="(al.key + 1)",
        al_invoice="json_extract(al.value, '$.invoiceId')",
        al_amount="trim(al.value -> '$.amount', '\"')",
        strpos="instr",
        numeric=(
            "({t} GLOB '[0-9]*' AND {t} NOT GLOB '*[^0-9.]*' AND {t} NOT GLOB '*.*.*' "
            "AND {t} NOT GLOB '*.')"
        ),
        today=":today",
        now=":now",
        null_id="NULL",
    )


def _exponent(currency: str) -> str:
    """The currency's minor-unit digits (babel's table, as ``money.minor_unit_exponent``)
    as a CASE over the few codes whose digits are not 2."""
    odd: dict[int, list[str]] = {}
    for code in sorted(list_currencies()):
        digits = int(get_currency_precision(code))
        if digits != 2 and re.fullmatch("[A-Z]{3}", code):
            odd.setdefault(digits, []).append(f"'{code}'")
    whens = " ".join(
        f"WHEN {currency} IN ({', '.join(codes)}) THEN {digits}"
        for digits, codes in sorted(odd.items())
    )
    return f"(CASE {whens} ELSE 2 END)"


def _minor(d: _Dialect, t: str, e: str) -> str:
    """The amount text ``t`` in minor units of ``e`` digits, exactly (the point removed,
    zeros appended), or NULL when it is not plain digits with at most ``e`` decimals."""
    decimals = (
        f"(CASE WHEN {d.strpos}({t}, '.') = 0 THEN 0 ELSE length({t}) - {d.strpos}({t}, '.') END)"
    )
    return (
        f"(CASE WHEN {d.numeric.format(t=t)} AND length({t}) <= {_LONGEST_AMOUNT} "
        f"AND {decimals} <= {e} "
        f"THEN CAST(replace({t}, '.', '') || substr('0000', 1, {e} - {decimals}) AS BIGINT) END)"
    )


def _kinds() -> str:
    return ", ".join(f"'{kind.value}'" for kind in sorted(RECORDED_KINDS))


def _balance(tenant: str = ":tenant") -> str:
    # As ``activity_repository.invoice_facts``: the amount less every ledger entry on it.
    return (
        "i.amount_minor - COALESCE((SELECT SUM(l.amount_minor) FROM ledger_entries l "  # noqa: S608 (our words and ints only)
        f"WHERE l.invoice_id = i.id AND l.tenant_id = {tenant}), 0)"
    )


def _chunk(status: str) -> str:
    return (
        "r.bulk_job_id = :job_id AND r.seq BETWEEN {first_seq} AND {last_seq} "
        f"AND r.status = '{status}'"
    )


# -- validation --------------------------------------------------------------------------


@cache
def _validate_sql(postgres: bool) -> str:
    d = _dialect(postgres)
    e = _exponent("a.currency")
    amount = _minor(d, "c.t", "c.e")
    al_minor = _minor(d, d.al_amount, "g.e")
    return f"""
WITH c AS (
  SELECT r.id, r.d, a.id AS cid, {e} AS e, {d.amount} AS t, {d.auto} AS auto
  FROM {d.records} r JOIN accounts a ON a.id = {d.customer} AND a.tenant_id = :tenant
  WHERE {_chunk(RecordStatus.PENDING)} AND {d.kind} IN ({_kinds()})
    AND ({d.reference} IS NULL OR length({d.reference}) <= {MAX_REFERENCE})
),
good AS (
  SELECT id, d, cid, e, auto, amount_minor FROM (
    SELECT c.id, c.d, c.cid, c.e, c.auto, {amount} AS amount_minor FROM c) m
  WHERE amount_minor > 0
),
al AS (
  SELECT g.id, g.cid, g.auto, g.amount_minor, {d.al_invoice} AS iid, {al_minor} AS minor
  FROM good g CROSS JOIN {d.allocations.replace("r.d", "g.d")}
),
inv AS (
  SELECT i.id, i.account_id, i.status, {_balance()} AS balance
  FROM invoices i WHERE i.tenant_id + 0 = :tenant AND i.id IN (SELECT iid FROM al)
),
bad AS (
  SELECT al.id FROM al LEFT JOIN inv ON inv.id = al.iid
  WHERE al.auto OR inv.id IS NULL OR inv.account_id <> al.cid
    OR inv.status <> '{InvoiceStatus.POSTED.value}' OR al.minor IS NULL OR al.minor <= 0
  UNION
  SELECT al.id FROM al JOIN inv ON inv.id = al.iid
  GROUP BY al.id, al.iid, inv.balance HAVING SUM(al.minor) > inv.balance
  UNION
  SELECT al.id FROM al GROUP BY al.id, al.amount_minor HAVING SUM(al.minor) > al.amount_minor
)
UPDATE bulk_job_records SET status = '{RecordStatus.PASSED_VALIDATION.value}', details = NULL
WHERE id IN (SELECT id FROM good EXCEPT SELECT id FROM bad)
  AND status = '{RecordStatus.PENDING.value}'
"""  # noqa: S608 (our words, constants and ints only)


def _ranged(sql: str, first_seq: int, last_seq: int) -> str:
    """The chunk's range written into the statement (as ``repository.records_with_data``:
    a prepared statement's generic plan does not know how few records it covers)."""
    return sql.replace("{first_seq}", str(int(first_seq))).replace("{last_seq}", str(int(last_seq)))


def _run(session: Session, sql: str, params: Mapping[str, Any]) -> Any:
    """``sql`` (``:name`` parameters) on the session's DB-API connection; the cursor."""
    connection = dbapi(session)
    if is_postgres(session):
        cursor = connection.cursor()
        cursor.execute(re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql), params)
        return cursor
    return connection.execute(sql, dict(params))


def pass_good(session: Session, tenant_id: int, job_id: int, first_seq: int, last_seq: int) -> int:
    """Mark Passed the chunk's pending records that SQL proves good; how many. The rest
    stay pending for the Python rules.

    Tenant: every customer and invoice is looked up in ``tenant_id``; the caller resolved
    ``job_id`` under it.
    """
    sql = _ranged(_validate_sql(is_postgres(session)), first_seq, last_seq)
    return _execute(session, sql, {"tenant": tenant_id, "job_id": job_id})


# -- processing ----------------------------------------------------------------------------


@cache
def _shape_sql(postgres: bool) -> str:
    """The chunk's awaiting records in seq order, each with whether SQL can record it
    (1) or not (0), and the invoices they allocate to (NULL for none)."""
    d = _dialect(postgres)
    e = _exponent("a.currency")
    amount = _minor(d, d.amount, e)
    return f"""
SELECT r.id,
  CASE WHEN a.id IS NOT NULL AND {d.kind} IN ({_kinds()}) AND NOT {d.auto}
    AND COALESCE({amount} > 0, {"false" if postgres else "0"}) THEN 1 ELSE 0 END,
  {d.al_invoice}
FROM {d.records} r LEFT JOIN accounts a ON a.id = {d.customer} AND a.tenant_id = :tenant
LEFT JOIN {d.allocations} ON {"true" if postgres else "1"}
WHERE {_chunk(RecordStatus.PASSED_VALIDATION)}
ORDER BY r.seq, {d.al_n}
"""  # noqa: S608 (our words, constants and ints only)


@cache
def _overdrawn_sql(postgres: bool) -> str:
    """How many of the chunk's invoices its allocations no longer fit (missing, another
    customer's, not posted, or together over the balance read now)."""
    d = _dialect(postgres)
    e = _exponent("a.currency")
    al_minor = _minor(d, d.al_amount, e)
    return f"""
WITH al AS (
  SELECT a.id AS cid, {d.al_invoice} AS iid, {al_minor} AS minor
  FROM {d.records} r JOIN accounts a ON a.id = {d.customer} AND a.tenant_id = :tenant
  CROSS JOIN {d.allocations}
  WHERE {_chunk(RecordStatus.PASSED_VALIDATION)}
),
inv AS (
  SELECT i.id, i.account_id, i.status, {_balance()} AS balance
  FROM invoices i WHERE i.tenant_id + 0 = :tenant AND i.id IN (SELECT iid FROM al)
)
SELECT COUNT(*) FROM (
  SELECT al.iid FROM al LEFT JOIN inv ON inv.id = al.iid
  GROUP BY al.iid, inv.id, inv.account_id, inv.status, inv.balance
  HAVING inv.id IS NULL OR MIN(al.cid) <> inv.account_id OR MAX(al.cid) <> inv.account_id
    OR inv.status <> '{InvoiceStatus.POSTED.value}' OR COUNT(al.minor) < COUNT(*)
    OR MIN(al.minor) <= 0 OR SUM(al.minor) > inv.balance
) x
"""  # noqa: S608 (our words, constants and ints only)


def _plan(d: _Dialect) -> str:
    if d.postgres:
        return (
            "(SELECT * FROM unnest(CAST(:rids AS BIGINT[]), CAST(:pids AS BIGINT[]), "
            "CAST(:nums AS TEXT[])) AS u(rid, pid, num))"
        )
    return (
        "(SELECT json_extract(u.value, '$[0]') AS rid, json_extract(u.value, '$[1]') AS pid, "
        "json_extract(u.value, '$[2]') AS num FROM json_each(:plan) AS u)"
    )


@cache
def _write_sql(postgres: bool) -> tuple[str, str, str]:
    d = _dialect(postgres)
    e = _exponent("a.currency")
    plan = _plan(d)
    joined = (
        f"FROM {plan} p JOIN {d.records} r ON r.id = p.rid "
        f"JOIN accounts a ON a.id = {d.customer} AND a.tenant_id = :tenant"
    )
    payments = f"""
INSERT INTO payments (tenant_id, id, account_id, number, amount_minor, currency,
  effective_date, payment_type, status, gateway_state, reference_id, created_at, updated_at)
SELECT :tenant, p.pid, a.id, p.num, {_minor(d, d.amount, e)}, a.currency, {d.today},
  '{PaymentType.EXTERNAL.value}', '{PaymentStatus.PROCESSED.value}',
  '{GatewayState.NOT_SUBMITTED.value}',
  CASE WHEN length({d.reference}) <= {_ZUORA_REFERENCE} THEN {d.reference} END, {d.now}, {d.now}
{joined}
ORDER BY p.pid
"""
    pay_joined = (
        f"FROM {plan} p JOIN payments pay ON pay.id = p.pid JOIN {d.records} r ON r.id = p.rid"
    )
    later = "GREATEST(i.invoice_date, {today})" if postgres else "max(i.invoice_date, {today})"
    entries = f"""
INSERT INTO ledger_entries (tenant_id, account_id, invoice_id, payment_id, entry_type,
  amount_minor, currency, effective_date, reference, source, created_at)
SELECT :tenant, x.account_id, x.invoice_id, x.payment_id, x.entry_type, x.amount_minor,
  x.currency, x.effective_date, x.reference, '{EntrySource.FUSEBILL.value}', {d.now}
FROM (
  SELECT pay.account_id, {d.null_id} AS invoice_id, pay.id AS payment_id,
    '{EntryType.PAYMENT_RECEIVED.value}' AS entry_type, pay.amount_minor, pay.currency,
    {d.today} AS effective_date, pay.number AS reference, 0 AS n
  {pay_joined}
  UNION ALL
  SELECT pay.account_id, i.id, pay.id, '{EntryType.PAYMENT.value}',
    {_minor(d, d.al_amount, _exponent("pay.currency"))}, pay.currency,
    {later.format(today=d.today)}, pay.number, {d.al_n}
  {pay_joined} CROSS JOIN {d.allocations}
  JOIN invoices i ON i.id = {d.al_invoice} AND i.tenant_id = :tenant
) x
ORDER BY x.payment_id, x.n
"""  # noqa: S608 (our words, constants and ints only)
    activities = f"""
INSERT INTO payment_activities (tenant_id, account_id, payment_id, status, transaction_type,
  source, method_kind, method, amount_minor, currency, reference, effective_at, created_at)
SELECT :tenant, pay.account_id, pay.id, '{ActivityStatus.SUCCESSFUL.value}',
  '{ActivityType.COLLECT.value}', COALESCE({d.source}, '{PaymentSource.MANUAL.value}'),
  {d.kind}, {d.kind}, pay.amount_minor, pay.currency, {d.reference}, {d.now}, {d.now}
{pay_joined}
ORDER BY pay.id
"""
    return payments, entries, activities


def _execute(session: Session, sql: str, params: Mapping[str, Any]) -> int:
    """Run a write; the rows it changed (on SQLite counted by the connection: Python's
    sqlite3 reports no rowcount for a statement that starts with WITH)."""
    if is_postgres(session):
        cursor = _run(session, sql, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()
    connection = dbapi(session)
    before = connection.total_changes
    connection.execute(sql, dict(params)).close()
    return int(connection.total_changes - before)


def _fetch(session: Session, sql: str, params: Mapping[str, Any]) -> list[Any]:
    cursor = _run(session, sql, params)
    try:
        return list(cursor.fetchall())
    finally:
        cursor.close()


class Shape(NamedTuple):
    """A chunk SQL can record: its awaiting records in seq order, the invoices they
    allocate to."""

    params: dict[str, Any]
    record_ids: list[int]
    invoice_ids: list[int]


def shape(ctx: ServiceContext, job_id: int, first_seq: int, last_seq: int) -> Shape | None:
    """The chunk's awaiting records if every one of them is of the shape SQL records (a
    recorded payment of a customer of the tenant, named allocations or none, an amount
    SQL reads), else None. Reads only."""
    session = ctx.session
    params = {"tenant": ctx.tenant_id, "job_id": job_id}
    rows = _fetch(session, _ranged(_shape_sql(is_postgres(session)), first_seq, last_seq), params)
    record_ids: list[int] = []
    invoice_ids: set[int] = set()
    last = None
    for record_id, simple, invoice_id in rows:
        if not simple:
            return None
        if record_id != last:
            record_ids.append(record_id)
            last = record_id
        if invoice_id is not None:
            invoice_ids.add(invoice_id)
    params |= {"first_seq": first_seq, "last_seq": last_seq}
    return Shape(params, record_ids, sorted(invoice_ids))


def record(ctx: ServiceContext, chunk: Shape) -> list[int] | None:
    """Record ``chunk``'s payments set-based; their ids, in record order. None (nothing
    written) when an allocation no longer fits its invoice (the Python rules then say
    which record fails and why). Takes the invoices' locks (PostgreSQL) before it reads
    their balances."""
    session, tenant_id = ctx.session, ctx.tenant_id
    postgres = is_postgres(session)
    count = len(chunk.record_ids)
    if not count:
        return []
    activity_repository.lock_invoices(session, tenant_id, chunk.invoice_ids)
    first, last = chunk.params["first_seq"], chunk.params["last_seq"]
    check = _ranged(_overdrawn_sql(postgres), first, last)
    if _fetch(session, check, {"tenant": tenant_id, "job_id": chunk.params["job_id"]})[0][0]:
        return None
    payment_ids = activity_repository.allocate_payment_ids(session, count)
    numbered = numbers.number_block(session, tenant_id, "payment", count, own_transaction=True)
    today, now = ctx.clock.today(), ctx.clock.now()
    params: dict[str, Any] = {"tenant": tenant_id}
    if postgres:
        params |= {"rids": chunk.record_ids, "pids": payment_ids, "nums": numbered}
        params |= {"today": today, "now": now}
    else:
        plan = list(zip(chunk.record_ids, payment_ids, numbered, strict=True))
        params["plan"] = json.dumps(plan)
        params |= {"today": sqlite_storage_value(today), "now": sqlite_storage_value(now)}
    payments, entries, activities = _write_sql(postgres)
    written = _execute(session, payments, params)
    if written != count:  # every customer was read in this unit of work
        raise RuntimeError(f"recorded {written} of {count} payments")
    _execute(session, entries, params)
    _execute(session, activities, params)
    return payment_ids
