"""Keyset-paged lists, dashboard counts and the AR aging report, for the console.

A page carries the cursor of the next one: its last row's (sort value, id), written as
text (``cursor``) so that a page link can hold it. Fetching ``limit + 1`` rows tells
whether there is a next page without counting.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, TypeVar

from billcycle.billruns.models import BillRun
from billcycle.billruns.statuses import BillRunStatus
from billcycle.bulkjobs.models import BulkJob
from billcycle.bulkjobs.statuses import OPEN as OPEN_JOB_STATUSES
from billcycle.collections import repository as collection_repo
from billcycle.collections.policy import merged, tenant_policy
from billcycle.collections.statuses import AccountStanding
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue
from billcycle.events.models import Event
from billcycle.paymentruns.models import PaymentRun
from billcycle.payments.statuses import PaymentStatus
from billcycle.reports import repository as repo

T = TypeVar("T")
MAX_PAGE = 200

RUNS_IN_PROGRESS = (
    BillRunStatus.PENDING,
    BillRunStatus.PROCESSING,
    BillRunStatus.POST_IN_PROGRESS,
    BillRunStatus.CANCEL_IN_PROGRESS,
    BillRunStatus.REMOVE_IN_PROGRESS,
)
AGING_BUCKETS = ("Current", "1-30", "31-60", "61-90", "90+")
IN_DUNNING = (AccountStanding.POOR_STANDING, AccountStanding.COLLECTION)


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Sorting:
    key: str
    descending: bool


_PARSERS: dict[str, Callable[[str], Any]] = {"date": date.fromisoformat, "int": int, "str": str}


def _parsers(kind: str) -> Callable[[str], Any]:
    return _PARSERS[kind]


def encode_cursor(value: Any, row_id: int) -> str:
    text = value.isoformat() if isinstance(value, date) else value
    raw = json.dumps([text, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: str) -> repo.Cursor | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        text, row_id = json.loads(raw)
        return _parsers(kind)(text), int(row_id)
    except (ValueError, TypeError, KeyError):
        raise InvalidValue(
            "The page link is not valid; start again from the first page.", field="after"
        ) from None


def _page(rows: list[T], limit: int, key: Callable[[T], tuple[Any, int]]) -> Page[T]:
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, encode_cursor(*key(rows[-1])))


def _limit(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))


def _sorting(sort: Sorting, kinds: dict[str, str]) -> str:
    if sort.key not in kinds:
        raise InvalidValue(f"Sort by one of {', '.join(kinds)}.", field="sort")
    return kinds[sort.key]


ACCOUNT_SORT_KINDS = {"name": "str", "number": "str", "created": "int"}
INVOICE_SORT_KINDS = {
    "date": "date",
    "due": "date",
    "number": "str",
    "amount": "int",
    "created": "int",
}
PAYMENT_SORT_KINDS = {"date": "date", "number": "str", "amount": "int"}
BILL_RUN_SORT_KINDS = {"created": "int", "number": "str", "target": "date"}

_ACCOUNT_KEYS = {"name": 2, "number": 1, "created": 0}
_INVOICE_KEYS = {"date": 3, "due": 4, "number": 1, "amount": 6, "created": 0}
_PAYMENT_KEYS = {"date": 3, "number": 1, "amount": 5}


def accounts(
    ctx: ServiceContext,
    *,
    query: str | None,
    status: str | None,
    sort: Sorting,
    after: str | None,
    limit: int,
) -> Page[Any]:
    kind = _sorting(sort, ACCOUNT_SORT_KINDS)
    limit = _limit(limit)
    rows = repo.list_accounts(
        ctx.session,
        ctx.tenant_id,
        query=(query or "").strip() or None,
        status=status or None,
        sort=sort.key,
        descending=sort.descending,
        after=decode_cursor(after, kind),
        limit=limit + 1,
    )
    index = _ACCOUNT_KEYS[sort.key]
    return _page(rows, limit, lambda r: (r[index], r[0]))


@dataclass(frozen=True)
class InvoiceFilter:
    status: str | None = None
    account_id: int | None = None
    bill_run_id: int | None = None
    currency: str | None = None
    number: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    open_only: bool = False


def invoices(
    ctx: ServiceContext, filters: InvoiceFilter, *, sort: Sorting, after: str | None, limit: int
) -> Page[Any]:
    kind = _sorting(sort, INVOICE_SORT_KINDS)
    limit = _limit(limit)
    rows = repo.list_invoices(
        ctx.session,
        ctx.tenant_id,
        status=filters.status or None,
        account_id=filters.account_id,
        bill_run_id=filters.bill_run_id,
        currency=(filters.currency or "").upper() or None,
        number=(filters.number or "").strip() or None,
        due_from=filters.due_from,
        due_to=filters.due_to,
        open_only=filters.open_only,
        sort=sort.key,
        descending=sort.descending,
        after=decode_cursor(after, kind),
        limit=limit + 1,
    )
    index = _INVOICE_KEYS[sort.key]
    return _page(rows, limit, lambda r: (r[index], r[0]))


def payments(
    ctx: ServiceContext,
    *,
    status: str | None,
    account_id: int | None,
    currency: str | None,
    sort: Sorting,
    after: str | None,
    limit: int,
) -> Page[Any]:
    kind = _sorting(sort, PAYMENT_SORT_KINDS)
    limit = _limit(limit)
    rows = repo.list_payments(
        ctx.session,
        ctx.tenant_id,
        status=status or None,
        account_id=account_id,
        currency=(currency or "").upper() or None,
        sort=sort.key,
        descending=sort.descending,
        after=decode_cursor(after, kind),
        limit=limit + 1,
    )
    index = _PAYMENT_KEYS[sort.key]
    return _page(rows, limit, lambda r: (r[index], r[0]))


def _run_key(sort: str) -> Callable[[BillRun], tuple[Any, int]]:
    if sort == "number":
        return lambda r: (r.bill_run_number, r.id)
    if sort == "target":
        return lambda r: (r.target_date or date.min, r.id)
    return lambda r: (r.id, r.id)


def bill_runs(
    ctx: ServiceContext,
    *,
    statuses: Sequence[str] = (),
    scheduled: bool | None = None,
    sort: Sorting = Sorting("created", True),
    after: str | None = None,
    limit: int = 50,
) -> Page[BillRun]:
    kind = _sorting(sort, BILL_RUN_SORT_KINDS)
    limit = _limit(limit)
    rows = repo.list_bill_runs(
        ctx.session,
        ctx.tenant_id,
        statuses=statuses,
        scheduled=scheduled,
        sort=sort.key,
        descending=sort.descending,
        after=decode_cursor(after, kind),
        limit=limit + 1,
    )
    return _page(rows, limit, _run_key(sort.key))


def bulk_jobs(
    ctx: ServiceContext,
    *,
    statuses: Sequence[str] = (),
    descending: bool = True,
    after: str | None = None,
    limit: int = 50,
) -> Page[BulkJob]:
    limit = _limit(limit)
    rows = repo.list_bulk_jobs(
        ctx.session,
        ctx.tenant_id,
        statuses=statuses,
        descending=descending,
        after=decode_cursor(after, "int"),
        limit=limit + 1,
    )
    return _page(rows, limit, lambda j: (j.id, j.id))


def payment_runs(
    ctx: ServiceContext,
    *,
    statuses: Sequence[str] = (),
    after: str | None = None,
    limit: int = 50,
) -> Page[PaymentRun]:
    limit = _limit(limit)
    rows = repo.list_payment_runs(
        ctx.session,
        ctx.tenant_id,
        statuses=statuses,
        after=decode_cursor(after, "int"),
        limit=limit + 1,
    )
    return _page(rows, limit, lambda r: (r.id, r.id))


def job_records(
    ctx: ServiceContext, job_id: int, *, status: str | None, after: str | None, limit: int
) -> Page[Any]:
    """The caller has found the job in its tenant (``bulkjobs.service.get_job``)."""
    limit = _limit(limit)
    cursor = decode_cursor(after, "int")
    rows = repo.job_records(
        ctx.session,
        ctx.tenant_id,
        job_id,
        status=status or None,
        after_seq=cursor[0] if cursor else 0,
        limit=limit + 1,
    )
    return _page(rows, limit, lambda r: (r[0], r[0]))


def accounts_in_dunning(ctx: ServiceContext, *, after: str | None, limit: int) -> Page[Any]:
    limit = _limit(limit)
    rows = repo.accounts_by_standing(
        ctx.session,
        ctx.tenant_id,
        standings=IN_DUNNING,
        after=decode_cursor(after, "int"),
        limit=limit + 1,
    )
    return _page(rows, limit, lambda r: (r[0], r[0]))


def collection_history(ctx: ServiceContext, account_id: int, limit: int = 50) -> list[Any]:
    """The caller has found the account in its tenant."""
    return repo.collection_events(ctx.session, ctx.tenant_id, account_id, limit)


@dataclass(frozen=True)
class Dashboard:
    runs_in_progress: list[BillRun]
    runs_awaiting_review: list[BillRun]
    open_jobs: list[BulkJob]
    failed_payments: Page[Any]
    failed_payment_count: int
    dunning: Page[Any]
    dunning_count: int


def dashboard(ctx: ServiceContext, limit: int = 10) -> Dashboard:
    return Dashboard(
        runs_in_progress=bill_runs(ctx, statuses=RUNS_IN_PROGRESS, limit=limit).rows,
        runs_awaiting_review=bill_runs(ctx, statuses=(BillRunStatus.COMPLETED,), limit=limit).rows,
        open_jobs=bulk_jobs(ctx, statuses=OPEN_JOB_STATUSES, limit=limit).rows,
        failed_payments=payments(
            ctx,
            status=PaymentStatus.ERROR,
            account_id=None,
            currency=None,
            sort=Sorting("date", True),
            after=None,
            limit=limit,
        ),
        failed_payment_count=repo.count_payments(ctx.session, ctx.tenant_id, PaymentStatus.ERROR),
        dunning=accounts_in_dunning(ctx, after=None, limit=limit),
        dunning_count=repo.count_standing(ctx.session, ctx.tenant_id, IN_DUNNING),
    )


# -- receivables ---------------------------------------------------------------------------


@dataclass
class AgingRow:
    currency: str
    buckets: list[int] = field(default_factory=lambda: [0] * len(AGING_BUCKETS))
    invoices: int = 0

    @property
    def total(self) -> int:
        return sum(self.buckets)


def _edges(today: date) -> tuple[date, date, date]:
    return today - timedelta(days=30), today - timedelta(days=60), today - timedelta(days=90)


def bucket_due_dates(today: date, bucket: int) -> tuple[date | None, date | None]:
    """The due dates (from, to) of an aging bucket, for listing its invoices."""
    d30, d60, d90 = _edges(today)
    one = timedelta(days=1)
    return [
        (today, None),
        (d30, today - one),
        (d60, d30 - one),
        (d90, d60 - one),
        (None, d90 - one),
    ][bucket]


def aging(ctx: ServiceContext) -> list[AgingRow]:
    """Open balances of posted invoices per currency, by days past due (in minor units)."""
    today = ctx.clock.today()
    rows: dict[str, AgingRow] = {}
    for currency, bucket, owed, count in repo.aging(
        ctx.session, ctx.tenant_id, today, _edges(today)
    ):
        row = rows.setdefault(currency, AgingRow(currency))
        row.buckets[bucket] += owed
        row.invoices += count
    return list(rows.values())


AGING_ACCOUNT_SORT_KINDS = {"balance": "int"}
ALL_BUCKETS = 5  # the drill-down's "All": ``ledger.open_balances_repository.ALL``


def aging_accounts(
    ctx: ServiceContext,
    *,
    currency: str,
    bucket: int | None,
    sort: Sorting = Sorting("balance", True),
    after: str | None = None,
    limit: int = 50,
) -> Page[tuple[int, str, str, int, int]] | None:
    """The drill-down of the aging report: (account id, number, name, open balance,
    invoices) in one currency and bucket (None: all), the largest balances first (or the
    smallest), keyset-paged.

    None when the per-account buckets are counted at another date than the tenant's
    business date (the first read after its midnight, or a test clock moved): the caller
    runs :func:`age_receivables` in a write unit of work, then reads again."""
    if bucket is not None and not 0 <= bucket < len(AGING_BUCKETS):
        raise InvalidValue("No such aging bucket.", field="bucket")
    kind = _sorting(sort, AGING_ACCOUNT_SORT_KINDS)
    limit = _limit(limit)
    cursor = decode_cursor(after, kind)
    if bucket is not None and repo.aging_as_of(ctx.session, ctx.tenant_id) != ctx.clock.today():
        return None
    rows = repo.aging_accounts(
        ctx.session,
        ctx.tenant_id,
        currency=currency.upper(),
        bucket=ALL_BUCKETS if bucket is None else bucket,
        descending=sort.descending,
        after=cursor,
        limit=limit + 1,
    )
    return _page(rows, limit, lambda r: (r[3], r[0]))


def age_receivables(ctx: ServiceContext) -> int:
    """Count the per-account aging buckets at the tenant's business date (a write: the
    open invoices due on the days the bucket edges crossed change bucket)."""
    return repo.age_accounts(ctx.session, ctx.tenant_id, ctx.clock.today())


def next_retries(ctx: ServiceContext, account_ids: Sequence[int]) -> dict[int, date]:
    """The next day the daily dunning evaluation attempts a collection for each account
    (the first policy day after an overdue invoice's due date that is today or later and
    after its latest attempt); accounts it will not attempt (dunning off, no auto-pay,
    exempt, in manual collection, cancelled) are left out."""
    if not account_ids:
        return {}
    today = ctx.clock.today()
    tenant = tenant_policy(ctx)
    if not tenant.dunning_enabled:
        return {}
    overdue = [
        i
        for i in collection_repo.overdue_invoices(ctx.session, ctx.tenant_id, today, account_ids)
        if i.auto_pay
    ]
    rows = collection_repo.account_rows(ctx.session, ctx.tenant_id, account_ids)
    last = collection_repo.last_attempts(
        ctx.session, ctx.tenant_id, [i.invoice_id for i in overdue]
    )
    found: dict[int, date] = {}
    for invoice in overdue:
        row = rows.get(invoice.account_id)
        policy = merged(tenant, row)
        if policy.dunning_exempt or policy.in_collection:
            continue
        if row is not None and row.cancelled_on is not None:
            continue
        previous = last.get(invoice.invoice_id)
        days = [
            invoice.due_date + timedelta(days=d)
            for d in policy.attempt_days
            if invoice.due_date + timedelta(days=d) >= today
            and (previous is None or invoice.due_date + timedelta(days=d) > previous)
        ]
        if days:
            when = min(days)
            found[invoice.account_id] = min(when, found.get(invoice.account_id, when))
    return found


def run_emails(ctx: ServiceContext, run_id: int, limit: int = MAX_PAGE) -> list[Any]:
    """The caller has found the run in its tenant."""
    return repo.run_emails(ctx.session, ctx.tenant_id, run_id, limit)


@dataclass(frozen=True)
class HistoryEntry:
    """One line of an object's history: a console action from the audit log (who did
    what, and how it ended) or an event from the outbox (what changed, by any channel)."""

    at: datetime
    source: str  # "action" | "event"
    what: str
    who: str
    outcome: str
    event_id: str | None = None


def _change(payload: Any) -> str:
    """A status change's "from → to", as the outbox payload carries it."""
    if not isinstance(payload, dict) or "status" not in payload:
        return ""
    return f"{payload.get('previous_status') or '·'} → {payload['status']}"


def object_history(
    ctx: ServiceContext,
    object_type: str,
    object_id: int,
    *,
    since: datetime | None = None,
    limit: int = 30,
) -> list[HistoryEntry]:
    """The newest ``limit`` entries of an object's history, newest first. The caller has
    found the object in its tenant; ``since`` (the object's creation) bounds the audit
    rows read."""
    limit = _limit(limit)
    actions = repo.object_actions(
        ctx.session, ctx.tenant_id, f"{object_type}:{object_id}", since, limit
    )
    events = repo.object_events(ctx.session, ctx.tenant_id, object_type, object_id, limit)
    entries = [
        HistoryEntry(
            at=a.occurred_at,
            source="action",
            what=a.action.removeprefix("console."),
            who=a.actor,
            outcome=a.outcome,
        )
        for a in actions
    ] + [
        HistoryEntry(
            at=e.occurred_at,
            source="event",
            what=e.type,
            who="",
            outcome=_change(e.payload),
            event_id=e.event_id,
        )
        for e in events
    ]
    entries.sort(key=lambda h: h.at, reverse=True)
    return entries[:limit]


@dataclass(frozen=True)
class EventFilter:
    event_type: str | None = None
    object_type: str | None = None
    object_id: int | None = None
    since: datetime | None = None


def events(
    ctx: ServiceContext, where: EventFilter, *, after: str | None = None, limit: int = 50
) -> Page[Event]:
    """The tenant's outbox events, newest first."""
    limit = _limit(limit)
    rows = repo.list_events(
        ctx.session,
        ctx.tenant_id,
        event_type=where.event_type,
        object_type=where.object_type,
        object_id=where.object_id,
        since=where.since,
        after=decode_cursor(after, "int"),
        limit=limit + 1,
    )
    return _page(rows, limit, lambda e: (e.id, e.id))
