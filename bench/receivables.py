"""The AR aging page and what its open-balance summary costs the write paths
(docs/benchmarks.md, "Receivables at a million open invoices (session 3)").

    PYTHONPATH=src python -m bench.receivables page URL [--rounds 3] [--runs 5]
    PYTHONPATH=src python -m bench.receivables post-cost URL [--size 1000] [--rounds 7] [--spread]
    PYTHONPATH=src python -m bench.receivables pay-cost URL [--size 1000] [--rounds 6] [--spread]
    PYTHONPATH=src python -m bench.receivables drill URL [--buckets 0,1,2,3,4,all] [--rounds 3]
    PYTHONPATH=src python -m bench.receivables age URL [--days 1,30,365] [--rounds 3]

on an existing data set of tenant 1 (``billcycle bench post --accounts 1000000 --no-raw
--database URL``, migrated to the summary), each mode A/B interleaved in one process:

- ``page``: ``GET /receivables`` through the whole app (as ``billcycle bench console``),
  reading the summary, and with the report's query before the summary (every posted
  invoice summed with its ledger) put back; wall and this process's CPU, per round.
- ``post-cost``: one bill-run posting chunk (``invoicing.repository.post_run_drafts``
  over ``--size`` invoices, turned back into drafts first) with the summary kept, and
  with the guarded ``UPDATE`` as it was before (no ``RETURNING``, no summary).
- ``pay-cost``: ``--size`` payment applications written by
  ``ledger.repository.insert_entries`` (a payment run's ``record_entries``) with the
  summary kept and with its maintenance switched off.
- ``post-cost`` and ``pay-cost`` also time a third mode, ``dates``: the per-due-date
  summary kept and the per-account one (session 4) switched off, so the two rows
  ``summary`` vs ``dates`` are the account summary's own cost.
- ``drill``: the drill-down's first and last page, largest and smallest first, per bucket
  (``reports.service.aging_accounts`` in process; the buckets aged first).
- ``old-drill``: the session-3 drill-down query (the bucket's invoices summed), per bucket.
- ``age``: moving the account buckets ``--days`` ahead of their date
  (``open_balances.age_to``), in rolled-back transactions.

Both cost modes run in transactions that are rolled back (the data set is unchanged);
the invoices touched share one due date unless ``--spread`` (then ``--size`` distinct
due dates: one summary row each, the worst case).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update

from billcycle.bench import console_pages
from billcycle.cli.common import runtime_for
from billcycle.invoicing import repository as invoice_repo
from billcycle.invoicing.models import Invoice
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.ledger import repository as ledger_repo
from billcycle.reports import repository as reports_repo

TENANT = 1
SAME_DUE = "2026-01-31"


def _accounts_off() -> Callable[[], None]:
    """Switch the per-account summary's upkeep off (the session-3 behaviour); returns the
    function that switches it back on."""
    kept = open_balances._upsert_accounts, open_balances._as_of
    open_balances._upsert_accounts = lambda *_a, **_k: None
    open_balances._as_of = lambda *_a, **_k: open_balances.EPOCH

    def back() -> None:
        open_balances._upsert_accounts, open_balances._as_of = kept

    return back


def _summary(samples: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    return {
        mode: {
            "wall_ms_median": round(statistics.median(w for w, _ in runs), 1),
            "cpu_ms_median": round(statistics.median(c for _, c in runs), 1),
            "runs_wall_cpu_ms": [[round(w, 1), round(c, 1)] for w, c in runs],
        }
        for mode, runs in samples.items()
    }


def _old_aging(session: Any, tenant_id: int, today: date, edges: Any) -> Any:
    """The report's query before the summary: every posted invoice with its ledger."""
    inner = reports_repo._open_posted(tenant_id, today, edges, Invoice.currency).subquery()
    rows = session.execute(
        select(inner.c.currency, inner.c.bucket, func.sum(inner.c.owed), func.count())
        .where(inner.c.owed > 0)
        .group_by(inner.c.currency, inner.c.bucket)
        .order_by(inner.c.currency, inner.c.bucket)
    ).all()
    return [(str(c), int(b), int(s), int(n)) for c, b, s, n in rows]


def page(url: str, rounds: int, runs: int) -> dict[str, Any]:
    samples: dict[str, list[tuple[float, float]]] = {"summary": [], "before": []}
    summary_aging = reports_repo.aging

    def timed(client: Any, path: str, n: int) -> dict[str, float]:
        walls, cpus = [], []
        for _ in range(n):
            c0, w0 = time.process_time(), time.perf_counter()
            response = client.get(path)
            walls.append((time.perf_counter() - w0) * 1000)
            cpus.append((time.process_time() - c0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}")
        return {
            "p50_ms": statistics.median(walls),
            "p95_ms": max(walls),
            "cpu": statistics.median(cpus),
        }

    console_pages._time = timed  # type: ignore[assignment]
    console_pages.LISTS = {}
    runtime = runtime_for(url, ensure=False)
    try:
        for r in range(rounds):
            for mode in ("summary", "before") if r % 2 == 0 else ("before", "summary"):
                reports_repo.aging = summary_aging if mode == "summary" else _old_aging
                result = console_pages.run(runtime, TENANT, runs)["pages"]["/receivables"]
                samples[mode].append((result["p50_ms"], result["cpu"]))
    finally:
        reports_repo.aging = summary_aging
        runtime.dispose()
    return _summary(samples)


def _base_post_run_drafts(
    session: Any, tenant_id: int, bill_run_id: int, first_id: int, last_id: int, *, now: datetime
) -> int:
    """``post_run_drafts`` before the summary: the same guarded UPDATE, no RETURNING."""
    r = invoice_repo
    result = session.execute(
        update(r._invoices)
        .where(
            r._inv.tenant_id == tenant_id,
            r._inv.bill_run_id == bill_run_id,
            r._inv.id.between(r._literal(first_id), r._literal(last_id)),
            r._inv.status == "Draft",
        )
        .values(**r._posting_values(now, None, None))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


def post_cost(url: str, size: int, rounds: int, spread: bool) -> dict[str, Any]:
    samples: dict[str, list[tuple[float, float]]] = {"summary": [], "dates": [], "before": []}
    posts: dict[str, Callable[..., int]] = {
        "summary": invoice_repo.post_run_drafts,
        "dates": invoice_repo.post_run_drafts,
        "before": _base_post_run_drafts,
    }
    runtime = runtime_for(url, ensure=False)
    first = 20_001
    try:
        for r in range(rounds):
            order = ("summary", "dates", "before")
            for mode in order if r % 2 == 0 else order[::-1]:
                back = _accounts_off() if mode == "dates" else (lambda: None)
                with runtime.session_factory() as session:
                    last = first + size - 1
                    run_id = session.scalar(
                        text("SELECT bill_run_id FROM invoices WHERE id = :i"), {"i": first}
                    )
                    values: dict[str, Any] = {"status": "Draft"}
                    if not spread:
                        values["due_date"] = date.fromisoformat(SAME_DUE)
                    session.execute(
                        update(Invoice)
                        .where(Invoice.id.between(first, last))
                        .values(**values)
                        .execution_options(synchronize_session=False)
                    )
                    now = datetime.now(UTC)
                    c0, w0 = time.process_time(), time.perf_counter()
                    moved = posts[mode](session, TENANT, run_id, first, last, now=now)
                    samples[mode].append(
                        ((time.perf_counter() - w0) * 1000, (time.process_time() - c0) * 1000)
                    )
                    if moved != size:
                        raise RuntimeError(f"posted {moved} of {size}")
                    session.rollback()
                back()
                first += size
    finally:
        runtime.dispose()
    return _summary(samples)


def pay_cost(url: str, size: int, rounds: int, spread: bool) -> dict[str, Any]:
    samples: dict[str, list[tuple[float, float]]] = {"summary": [], "dates": [], "before": []}
    kept = open_balances.entries_applied
    runtime = runtime_for(url, ensure=False)
    offset = 1_000
    try:
        for r in range(rounds):
            order = ("summary", "dates", "before")
            for mode in order if r % 2 == 0 else order[::-1]:
                ledger_repo.open_balances.entries_applied = (  # type: ignore[attr-defined]
                    kept if mode != "before" else (lambda *_a, **_k: None)
                )
                back = _accounts_off() if mode == "dates" else (lambda: None)
                with runtime.session_factory() as session:
                    found = session.execute(
                        select(Invoice.id, Invoice.account_id, Invoice.currency)
                        .where(Invoice.tenant_id == TENANT, Invoice.id > offset)
                        .order_by(Invoice.id)
                        .limit(size)
                    ).all()
                    offset += size * 7
                    if not spread:
                        session.execute(
                            update(Invoice)
                            .where(Invoice.id.in_([i for i, _a, _c in found]))
                            .values(due_date=date.fromisoformat(SAME_DUE))
                            .execution_options(synchronize_session=False)
                        )
                    now = datetime.now(UTC)
                    rows = [
                        {
                            "tenant_id": TENANT,
                            "account_id": account_id,
                            "invoice_id": invoice_id,
                            "payment_id": None,
                            "invoice_item_id": None,
                            "entry_type": "Payment",
                            "amount_minor": 1000,
                            "currency": currency,
                            "effective_date": date(2026, 1, 1),
                            "reference": None,
                            "comment": None,
                            "source": "API",
                            "created_at": now,
                        }
                        for invoice_id, account_id, currency in found
                    ]
                    c0, w0 = time.process_time(), time.perf_counter()
                    ledger_repo.insert_entries(session, rows)
                    samples[mode].append(
                        ((time.perf_counter() - w0) * 1000, (time.process_time() - c0) * 1000)
                    )
                    session.rollback()
                back()
    finally:
        ledger_repo.open_balances.entries_applied = kept  # type: ignore[attr-defined]
        runtime.dispose()
    return _summary(samples)


def _old_drill(
    session: Any, tenant_id: int, today: date, bucket: int | None, limit: int = 200
) -> list[Any]:
    """The drill-down before the account summary (session 3): the bucket's invoices
    summed with their ledger, grouped per account, the top ``limit`` joined to accounts."""
    from sqlalchemy import and_

    from billcycle.accounts.models import Account

    edges = (today - timedelta(days=30), today - timedelta(days=60), today - timedelta(days=90))
    account = (Invoice.account_id + 0).label("account_id")
    chosen = reports_repo._open_posted(tenant_id, today, edges, account).where(
        Invoice.currency == "USD"
    )
    if bucket is not None:
        d30, d60, d90 = edges
        low, high = [(today, None), (d30, today), (d60, d30), (d90, d60), (None, d90)][bucket]
        if low is not None:
            chosen = chosen.where(Invoice.due_date >= low)
        if high is not None:
            chosen = chosen.where(Invoice.due_date < high)
    inner = chosen.subquery()
    top = (
        select(inner.c.account_id, func.sum(inner.c.owed).label("total"), func.count())
        .where(inner.c.owed > 0)
        .group_by(inner.c.account_id)
        .order_by(func.sum(inner.c.owed).desc(), inner.c.account_id)
        .limit(limit)
    )
    if bucket is not None:
        top = top.where(inner.c.bucket == bucket)
    found = top.subquery()
    return list(
        session.execute(
            select(Account.id, Account.account_number, Account.name, found.c.total).join(
                Account, and_(Account.id == found.c.account_id, Account.tenant_id == tenant_id)
            )
        )
    )


def old_drill(url: str, buckets: str, rounds: int) -> dict[str, Any]:
    """The session-3 drill-down query per bucket (``_old_drill``), for the before figures."""
    from billcycle.db.session import read_only_unit

    runtime = runtime_for(url, ensure=False)
    found: dict[str, Any] = {}
    try:
        for name in buckets.split(","):
            bucket = None if name == "all" else int(name)
            walls, cpus, count = [], [], 0
            for _ in range(rounds):
                with read_only_unit(runtime.session_factory) as session:
                    today = runtime.context(session, TENANT).clock.today()
                    c0, w0 = time.process_time(), time.perf_counter()
                    count = len(_old_drill(session, TENANT, today, bucket))
                    walls.append((time.perf_counter() - w0) * 1000)
                    cpus.append((time.process_time() - c0) * 1000)
            found[name] = {
                "wall_ms_median": round(statistics.median(walls), 1),
                "cpu_ms_median": round(statistics.median(cpus), 1),
                "accounts": count,
            }
    finally:
        runtime.dispose()
    return found


def drill(url: str, buckets: str, rounds: int) -> dict[str, Any]:
    """The drill-down to accounts (``reports.service.aging_accounts``, 50 a page) per
    bucket, USD, largest and smallest first, first and last page: median wall and CPU of
    ``rounds`` calls, and the rows returned."""
    from billcycle.db.session import read_only_unit
    from billcycle.reports import service as reports

    runtime = runtime_for(url, ensure=False)
    found: dict[str, Any] = {}
    try:
        with runtime.service_context(TENANT) as ctx:
            c0, w0 = time.process_time(), time.perf_counter()
            moved = reports.age_receivables(ctx)
            found["aged"] = {
                "invoices_moved": moved,
                "wall_ms": round((time.perf_counter() - w0) * 1000, 1),
                "cpu_ms": round((time.process_time() - c0) * 1000, 1),
            }
        for name in buckets.split(","):
            bucket = None if name == "all" else int(name)
            for descending in (True, False):
                with read_only_unit(runtime.session_factory) as session:
                    ctx = runtime.context(session, TENANT)
                    sort = reports.Sorting("balance", not descending)
                    reverse = reports.aging_accounts(
                        ctx, currency="USD", bucket=bucket, sort=sort, limit=51
                    )
                assert reverse is not None
                last = None
                if len(reverse.rows) > 50:
                    row = reverse.rows[50]
                    last = reports.encode_cursor(row[3], row[0])
                for which, after in (("first", None), ("last", last)):
                    walls, cpus, count = [], [], 0
                    for _ in range(rounds):
                        with read_only_unit(runtime.session_factory) as session:
                            ctx = runtime.context(session, TENANT)
                            c0, w0 = time.process_time(), time.perf_counter()
                            page = reports.aging_accounts(
                                ctx,
                                currency="USD",
                                bucket=bucket,
                                sort=reports.Sorting("balance", descending),
                                after=after,
                                limit=50,
                            )
                            walls.append((time.perf_counter() - w0) * 1000)
                            cpus.append((time.process_time() - c0) * 1000)
                            count = len(page.rows) if page is not None else -1
                    order = "-balance" if descending else "balance"
                    found[f"{name} {order} {which}"] = {
                        "wall_ms_median": round(statistics.median(walls), 1),
                        "cpu_ms_median": round(statistics.median(cpus), 1),
                        "accounts": count,
                    }
    finally:
        runtime.dispose()
    return found


def age(url: str, days: str, rounds: int) -> dict[str, Any]:
    """``open_balances.age_to`` from the stored date to ``days`` later, rolled back."""
    runtime = runtime_for(url, ensure=False)
    found: dict[str, Any] = {}
    try:
        for ahead in (int(d) for d in days.split(",")):
            walls, cpus, moved = [], [], 0
            for _ in range(rounds):
                with runtime.session_factory() as session:
                    start = open_balances.as_of(session, TENANT)
                    c0, w0 = time.process_time(), time.perf_counter()
                    moved = open_balances.age_to(session, TENANT, start + timedelta(days=ahead))
                    walls.append((time.perf_counter() - w0) * 1000)
                    cpus.append((time.process_time() - c0) * 1000)
                    session.rollback()
            found[f"+{ahead} days"] = {
                "wall_ms_median": round(statistics.median(walls), 1),
                "cpu_ms_median": round(statistics.median(cpus), 1),
                "invoices_moved": moved,
            }
    finally:
        runtime.dispose()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "mode", choices=["page", "post-cost", "pay-cost", "drill", "old-drill", "age"]
    )
    parser.add_argument("url")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--spread", action="store_true")
    parser.add_argument("--buckets", default="0,1,2,3,4,all")
    parser.add_argument("--days", default="1,30,365")
    args = parser.parse_args()
    if args.mode == "page":
        result = page(args.url, args.rounds or 3, args.runs)
    elif args.mode == "drill":
        result = drill(args.url, args.buckets, args.rounds or 3)
    elif args.mode == "old-drill":
        result = old_drill(args.url, args.buckets, args.rounds or 3)
    elif args.mode == "age":
        result = age(args.url, args.days, args.rounds or 3)
    elif args.mode == "post-cost":
        result = post_cost(args.url, args.size, args.rounds or 7, args.spread)
    else:
        result = pay_cost(args.url, args.size, args.rounds or 6, args.spread)
    print(json.dumps({"mode": args.mode, **result}))


if __name__ == "__main__":
    main()
