"""Payments recorded in bulk (Fusebill's BulkPayment jobs): what a chunk of a million-
record job reads in a few queries, and the payments, ledger entries and activities it
writes in a few bulk statements, with no per-payment round trip.

The rows are the ones ``activities.collect`` writes for a recorded payment (an External
payment, Processed, its money received on the account, its allocations on invoices, a
successful Collect activity), so both paths read back the same. The caller holds the
locks of every invoice it allocates to (``lock_invoices``) from before it read their
balances until it commits, and has judged every allocation against those balances.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, NamedTuple

from billcycle.context import ServiceContext
from billcycle.ids import NUMBER_FORMATS
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.ledger.models import EntrySource, EntryType
from billcycle.payments import activity_repository as repo
from billcycle.payments.activity_statuses import ActivityStatus, ActivityType
from billcycle.payments.statuses import GatewayState, PaymentStatus, PaymentType
from billcycle.tenancy import numbers

_PAYMENT_COLUMNS = (
    "tenant_id",
    "id",
    "account_id",
    "number",
    "amount_minor",
    "currency",
    "effective_date",
    "payment_type",
    "status",
    "gateway_state",
    "reference_id",
    "created_at",
    "updated_at",
)
_ENTRY_COLUMNS = (
    "tenant_id",
    "account_id",
    "invoice_id",
    "payment_id",
    "entry_type",
    "amount_minor",
    "currency",
    "effective_date",
    "reference",
    "source",
    "created_at",
)
_ACTIVITY_COLUMNS = (
    "tenant_id",
    "account_id",
    "payment_id",
    "status",
    "transaction_type",
    "source",
    "method_kind",
    "method",
    "amount_minor",
    "currency",
    "reference",
    "effective_at",
    "created_at",
)
_ZUORA_REFERENCE = 100


# An invoice as a bulk chunk reads it: (account id, status, balance in minor units,
# invoice date), a plain tuple (a million-record job reads two a record).
InvoiceFacts = tuple[int, str, int, date]


class PlannedPayment(NamedTuple):
    """One judged payment: its allocations are ``(invoice id, minor units, invoice
    date)``, already checked against the balances the caller holds locked."""

    account_id: int
    amount_minor: int
    currency: str
    method_kind: str
    source: str
    reference: str | None
    allocations: tuple[tuple[int, int, date], ...]


def invoice_facts(ctx: ServiceContext, invoice_ids: Sequence[int]) -> dict[int, InvoiceFacts]:
    """The tenant's invoices among ``invoice_ids`` with their owners, statuses and
    balances (others are left out)."""
    return repo.invoice_facts(ctx.session, ctx.tenant_id, invoice_ids)


def open_invoices(
    ctx: ServiceContext, account_ids: Sequence[int]
) -> tuple[dict[int, list[list[int]]], dict[int, date]]:
    """Account id -> its posted invoices that owe something, oldest first, as
    ``[invoice id, balance]`` lists ``allocation.spread`` spends; and their dates."""
    result: dict[int, list[list[int]]] = {}
    dates: dict[int, date] = {}
    for account_id, invoice_id, balance, invoice_date in repo.open_invoices(
        ctx.session, ctx.tenant_id, account_ids
    ):
        result.setdefault(account_id, []).append([invoice_id, balance])
        dates[invoice_id] = invoice_date
    return result, dates


def lock_invoices(ctx: ServiceContext, invoice_ids: Sequence[int]) -> None:
    """The invoices' row locks (PostgreSQL), in id order; read their balances after."""
    repo.lock_invoices(ctx.session, ctx.tenant_id, invoice_ids)


def record_payments(
    ctx: ServiceContext,
    planned: Sequence[PlannedPayment],
    *,
    moved: Iterable[tuple[str, Any, int, int, int]] | None = None,
) -> list[int]:
    """Write the payments, their ledger entries and activities; their ids, in order.

    ``moved``: the allocated invoices' balances before and after these payments, as
    ``open_balances_repository.balances_moved`` takes them, when the caller read them
    under the invoices' locks (the AR summary then moves by them, with no second read);
    None: the summary reads the balances after the entries are written."""
    if not planned:
        return []
    session, tenant_id = ctx.session, ctx.tenant_id
    ids = repo.allocate_payment_ids(session, len(planned))
    # Numbers reserved in a short transaction of their own (PostgreSQL), as a bill run's
    # invoice numbers: otherwise the tenant's number row stays locked until this chunk
    # commits and a job's workers process one chunk at a time. A chunk that rolls back
    # (a crash, a cancel) leaves its block unused: a gap in payment numbers.
    numbered = numbers.number_block(
        session, tenant_id, "payment", len(planned), own_transaction=True
    )
    stored = repo.Stored(session)
    today = ctx.clock.today()
    now = stored.value(ctx.clock.now())
    stored_today = stored.value(today)
    null = stored.null
    shown: dict[date, object] = {}

    def entry_date(invoice_date: date) -> object:
        """Today, but never before the invoice it settles (as ``apply_to_invoice``)."""
        found = shown.get(invoice_date)
        if found is None:
            found = shown[invoice_date] = stored.value(max(today, invoice_date))
        return found

    # Words, as stored: they need no escaping.
    external = PaymentType.EXTERNAL.value
    processed = PaymentStatus.PROCESSED.value
    not_submitted = GatewayState.NOT_SUBMITTED.value
    received = EntryType.PAYMENT_RECEIVED.value
    applied = EntryType.PAYMENT.value
    source = EntrySource.FUSEBILL.value
    successful = ActivityStatus.SUCCESSFUL.value
    collect = ActivityType.COLLECT.value
    payments: list[tuple[object, ...]] = []
    entries: list[tuple[object, ...]] = []
    activities: list[tuple[object, ...]] = []
    for payment_id, number, plan in zip(ids, numbered, planned, strict=True):
        reference = stored.text(plan.reference)
        short = plan.reference is not None and len(plan.reference) <= _ZUORA_REFERENCE
        payments.append(
            (
                tenant_id,
                payment_id,
                plan.account_id,
                number,
                plan.amount_minor,
                plan.currency,
                stored_today,
                external,
                processed,
                not_submitted,
                reference if short else null,
                now,
                now,
            )
        )
        entries.append(
            (
                tenant_id,
                plan.account_id,
                null,
                payment_id,
                received,
                plan.amount_minor,
                plan.currency,
                stored_today,
                number,
                source,
                now,
            )
        )
        for invoice_id, amount_minor, invoice_date in plan.allocations:
            entries.append(
                (
                    tenant_id,
                    plan.account_id,
                    invoice_id,
                    payment_id,
                    applied,
                    amount_minor,
                    plan.currency,
                    entry_date(invoice_date),
                    number,
                    source,
                    now,
                )
            )
        activities.append(
            (
                tenant_id,
                plan.account_id,
                payment_id,
                successful,
                collect,
                plan.source,
                plan.method_kind,
                plan.method_kind,
                plan.amount_minor,
                plan.currency,
                reference,
                now,
                now,
            )
        )
    repo.bulk_insert(session, "payments", _PAYMENT_COLUMNS, payments)
    repo.bulk_insert(session, "ledger_entries", _ENTRY_COLUMNS, entries)
    repo.bulk_insert(session, "payment_activities", _ACTIVITY_COLUMNS, activities)
    # The AR summary last: its upsert locks the summary rows of the invoices' due dates
    # until this chunk commits, and a job's invoices share a few, so on PostgreSQL a
    # second worker's chunk waits on them; written last, the wait covers only the end
    # of the chunk instead of its activities too.
    if moved is not None:
        open_balances.balances_moved(session, tenant_id, moved)
    else:
        open_balances.entries_applied(
            session, tenant_id, (a[:2] for p in planned for a in p.allocations)
        )
    return ids


class Block(NamedTuple):
    """What a chunk recorded by SQL alone (``bulkjobs.payment_sets.record_in_sql``, SQLite)
    writes its payments with: ids ``first_id`` on, numbers ``first_number`` on (written
    as ``prefix`` and ``digits`` zero-padded digits, as ``numbers.number_block``), and
    today and now as stored."""

    first_id: int
    first_number: int
    prefix: str
    digits: int
    today: object
    now: object


def reserve_block(ctx: ServiceContext, count: int) -> Block:
    """Ids and numbers for ``count`` payments, reserved as :func:`record_payments`
    reserves them (SQLite: in the caller's transaction, under its write lock)."""
    session = ctx.session
    ids = repo.allocate_payment_ids(session, count)
    first = numbers.reserve(session, ctx.tenant_id, "payment", count)
    prefix, digits = NUMBER_FORMATS["payment"]
    stored = repo.Stored(session)
    return Block(
        ids[0],
        first,
        prefix,
        digits,
        stored.value(ctx.clock.today()),
        stored.value(ctx.clock.now()),
    )
