"""Which overdue invoices are due a collection attempt on a business day.

An invoice is due an attempt on the policy's days after its due date (default 1, 3, 5).
The days are counted on the tenant's business clock and caught up: an invoice whose
latest attempt day is past without an attempt since (the scheduler was down, the clock
jumped) gets one attempt now, not one per missed day. Each scheduled attempt is an
``Attempt`` event, which is also what "since" is read from.

Not attempted: accounts without auto-pay (nothing to charge), dunning-exempt accounts,
accounts flagged for manual collection (``Collection``: a person collects), cancelled
ones, and accounts with a payment still ``Processing`` (its outcome is pending or
unknown: charging again could collect twice; the attempt waits until it settles).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from billcycle.collections import repository as repo
from billcycle.collections.events import Event, record
from billcycle.collections.policy import merged, tenant_policy
from billcycle.collections.repository import AccountRow, OverdueInvoice
from billcycle.collections.statuses import CollectionEventType
from billcycle.context import ServiceContext


@dataclass(frozen=True, slots=True)
class DueAttempt:
    account_id: int
    invoice_id: int
    invoice_number: str
    balance_minor: int
    currency: str
    attempt_day: int  # the policy day it answers (days after the due date)


def due_attempts(
    ctx: ServiceContext,
    today: date,
    overdue: Sequence[OverdueInvoice] | None = None,
    known_rows: Mapping[int, AccountRow] | None = None,
) -> list[DueAttempt]:
    """The invoices due an attempt ``today`` (read only). ``known_rows``: collections
    rows the caller holds (the day's standing pass read them), read again otherwise."""
    if overdue is None:
        overdue = repo.overdue_invoices(ctx.session, ctx.tenant_id, today)
    candidates = [invoice for invoice in overdue if invoice.auto_pay]
    if not candidates:
        return []
    account_ids = sorted({invoice.account_id for invoice in candidates})
    known = known_rows or {}
    rows = {a: known[a] for a in account_ids if a in known}
    unknown = [a for a in account_ids if a not in known]
    if unknown:
        rows.update(repo.plain_account_rows(ctx.session, ctx.tenant_id, unknown))
    busy = repo.accounts_with_processing_payments(ctx.session, ctx.tenant_id, account_ids)
    tenant = tenant_policy(ctx)
    # The latest policy day each invoice has reached, per (days, due date): a month's
    # invoices share a handful of due dates. Only the invoices past a day are looked up
    # in the attempt log.
    latest_of: dict[tuple[tuple[int, ...], date], int | None] = {}
    reached: list[tuple[OverdueInvoice, int]] = []
    for invoice in candidates:
        row = rows.get(invoice.account_id)
        policy = merged(tenant, row)
        if policy.dunning_exempt or policy.in_collection or invoice.account_id in busy:
            continue
        if row is not None and row.cancelled_on is not None:
            continue
        key = (tuple(policy.attempt_days), invoice.due_date)
        if key in latest_of:
            latest = latest_of[key]
        else:
            days = [d for d in key[0] if invoice.due_date + timedelta(days=d) <= today]
            latest = latest_of[key] = max(days) if days else None
        if latest is not None:
            reached.append((invoice, latest))
    last = repo.last_attempts(ctx.session, ctx.tenant_id, [i.invoice_id for i, _ in reached])
    due: list[DueAttempt] = []
    for invoice, latest in reached:
        previous = last.get(invoice.invoice_id)
        if previous is not None and previous >= invoice.due_date + timedelta(days=latest):
            continue
        due.append(
            DueAttempt(
                account_id=invoice.account_id,
                invoice_id=invoice.invoice_id,
                invoice_number=invoice.invoice_number,
                balance_minor=invoice.balance_minor,
                currency=invoice.currency,
                attempt_day=latest,
            )
        )
    return due


def record_attempts(
    ctx: ServiceContext, day: date, due: Sequence[DueAttempt], payment_run: str | None = None
) -> list[tuple[int, int]]:
    """An ``Attempt`` event per invoice (naming the payment run that makes it), and the
    attempts as ``(account_id, invoice_id)``."""
    by = f" by payment run {payment_run}" if payment_run else ""
    record(
        ctx,
        *(
            Event(
                attempt.account_id,
                CollectionEventType.ATTEMPT,
                invoice_id=attempt.invoice_id,
                message=(
                    f"Collection attempt for {attempt.invoice_number}{by}, day "
                    f"{attempt.attempt_day} after its due date"
                ),
                details={
                    "attemptDay": attempt.attempt_day,
                    "amountMinor": attempt.balance_minor,
                    "paymentRun": payment_run,
                },
            )
            for attempt in due
        ),
        day=day,
    )
    return [(attempt.account_id, attempt.invoice_id) for attempt in due]


def schedule_attempts(
    ctx: ServiceContext, day: date, overdue: Sequence[OverdueInvoice] | None = None
) -> list[tuple[int, int]]:
    """Record today's attempts (an ``Attempt`` event per invoice) and return them as
    ``(account_id, invoice_id)``: the explicit records of the day's payment run."""
    return record_attempts(ctx, day, due_attempts(ctx, day, overdue))
