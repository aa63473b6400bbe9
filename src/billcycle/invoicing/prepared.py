"""A chunk of invoices rated ahead of its write, so that SQLite's one writer only writes.

On SQLite a bill run's chunks are written one at a time by a single writer, and every
chunk used to read its charges, rate and format them under that writer's lock: about
half of the writer's time was Python that a second core could do meanwhile. A helper
process (``billruns.pipeline``) therefore reads, rates and formats chunk N+1 from its
own read snapshot (WAL: readers never block the writer) while the writer writes chunk
N, and leaves the rows in a scratch SQLite file (``invoicing.staging_repository``); the
writer moves them with set-based statements.

Why this bills nothing twice and nothing stale: the helper stages, beside each
watermark it advances, the charge's rating inputs, its subscription's invoice grouping
and its account's billing columns as its snapshot read them; under the writer's lock
the watermark UPDATE only moves rows that still hold those values, and if even one
does not (another writer billed, amended or cancelled something meanwhile), the whole
prepared chunk is rolled back to its savepoint and the chunk is generated the ordinary
way, under the lock. Anything that changed without touching a billed charge (a charge
that became billable, an account that would now fail) the chunk leaves as if the change
came just after its commit, exactly what a change a moment later would have met. Only
plain charges (no tiers, usage or discounts, whose inputs live in other rows) and
ordinary runs are prepared ahead; everything else takes the ordinary path.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billcycle import phases
from billcycle.accounts.payment_terms import due_date
from billcycle.context import ServiceContext
from billcycle.db.bulk import is_postgres
from billcycle.ids import NUMBER_FORMATS
from billcycle.invoicing import generator_repository as repo
from billcycle.invoicing import staging_repository as staging
from billcycle.invoicing.generator import (
    GenerationOptions,
    GenerationResult,
    count_once_committed,
    no_cycle_collection,
    rate_accounts,
)
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.tenancy.numbers import reserve


@dataclass(frozen=True)
class PreparedChunk:
    """What the helper prepared: the accounts it read, the options it rated with, where
    its rows are, and the chunk's result figures."""

    tenant_id: int
    account_ids: tuple[int, ...]
    options: GenerationOptions
    stage_path: str
    invoices: int
    items: int
    amount_minor_by_currency: dict[str, int]
    failures: dict[int, str]
    accounts_invoiced: frozenset[int]


class _Stale(Exception):
    """A billed charge (or its subscription or account) changed since the helper read it."""


def can_prepare(session: Session, options: GenerationOptions) -> bool:
    return not options.catch_up and not is_postgres(session)


def open_stage(session: Session, stage_path: str) -> None:
    """The helper's first step in a fresh unit of work: the stage attached and created,
    then one read snapshot for everything ``prepare`` reads."""
    staging.create_stage(session, stage_path)
    staging.begin_snapshot(session)


def prepare(
    session: Session,
    tenant_id: int,
    account_ids: Sequence[int],
    options: GenerationOptions,
    stage_path: str,
) -> PreparedChunk | None:
    """Rate and stage ``account_ids`` (after ``open_stage`` in the same unit of work);
    None when the chunk holds a charge that is not plain (the writer generates it)."""
    if not account_ids:
        return None
    fmt = repo.row_format(session)
    with no_cycle_collection():
        rated = rate_accounts(session, tenant_id, fmt, account_ids, options, plain_only=True)
        if rated is None:
            return None
        drafts, failures = rated
        phases.lap("rating")
        # What format_drafts builds for the ordinary path, in the stage's leaner form:
        # an invoice's differing columns, a charge's invoice and shape, each shape's
        # item tails once (a chunk on one price point has one).
        invoices: list[tuple[int, int, date, str, int]] = []
        charges: list[tuple[int, int, int, date | None]] = []
        shape_of: dict[int, int] = {}
        shapes: list[tuple[Any, ...]] = []
        totals: dict[str, int] = {}
        due_dates: dict[str, date] = {}
        items = 0
        charge_id_at = repo.ID
        for idx, draft in enumerate(drafts):
            for charge, rating in draft.charges:
                # Ratings are shared (the memo): one object, one shape.
                shape = shape_of.get(id(rating))
                if shape is None:
                    shape = shape_of[id(rating)] = len(shape_of)
                    shapes.extend((shape, seq, *tail) for seq, tail in enumerate(rating.tails))
                charges.append((charge[charge_id_at], idx, shape, rating.billed_through))
                items += len(rating.tails)
            due = due_dates.get(draft.payment_term)
            if due is None:
                due = due_dates[draft.payment_term] = due_date(
                    options.invoice_date, draft.payment_term
                )
            invoices.append((idx, draft.account_id, due, draft.currency, draft.amount_minor))
            totals[draft.currency] = totals.get(draft.currency, 0) + draft.amount_minor
        phases.lap("formatting")
        staging.fill_stage(session, invoices, charges, shapes)
        phases.lap("staging")
    return PreparedChunk(
        tenant_id=tenant_id,
        account_ids=tuple(account_ids),
        options=options,
        stage_path=stage_path,
        invoices=len(invoices),
        items=items,
        amount_minor_by_currency=totals,
        failures=failures,
        accounts_invoiced=frozenset(draft.account_id for draft in drafts),
    )


def write_prepared(
    ctx: ServiceContext,
    prepared: PreparedChunk,
    account_ids: Sequence[int],
    options: GenerationOptions,
) -> GenerationResult | None:
    """The writer's side: write ``prepared`` under the write lock, or None (nothing
    written, the lock held) when it does not match what this chunk would generate now;
    the caller then generates the chunk the ordinary way."""
    if (
        prepared.tenant_id != ctx.tenant_id
        or prepared.options != options
        or prepared.account_ids != tuple(account_ids)
    ):
        return None
    session = ctx.session
    session.flush()
    try:
        staging.attach_stage(session, prepared.stage_path)
    except sqlite3.OperationalError:
        return None  # a stage still attached inside this transaction: the ordinary path
    repo.lock_accounts(session, ctx.tenant_id, account_ids)
    phases.lap("lock accounts")
    result = GenerationResult(
        failures=dict(prepared.failures),
        amount_minor_by_currency=dict(prepared.amount_minor_by_currency),
        accounts_invoiced=set(prepared.accounts_invoiced),
    )
    count = prepared.invoices
    if count:
        now = ctx.clock.now()
        prefix, digits = NUMBER_FORMATS["invoice"]
        # The columns a chunk's invoices share, as the ordinary path's template stamps
        # them (storage forms), by column name.
        stamp = repo.row_format(session).invoice_stamper(
            repo.InvoiceShared(
                ctx.tenant_id,
                InvoiceStatus.DRAFT.value,
                options.invoice_date,
                options.target_date,
                0,
                options.bill_run_id,
                options.source,
                now,
            )
        )
        shared = dict(
            zip(repo.INVOICE_COLUMNS, stamp(0, 0, "", options.invoice_date, "", 0), strict=True)
        )
        try:
            with session.begin_nested():
                first_number = reserve(session, ctx.tenant_id, "invoice", count)
                invoice_ids = repo.allocate_invoice_ids(session, count)
                phases.lap("numbers")
                staging.write_staged(
                    session,
                    tenant_id=ctx.tenant_id,
                    first_id=invoice_ids[0],
                    first_number=first_number,
                    prefix=prefix,
                    digits=digits,
                    shared=shared,
                )
                moved, staged = staging.advance_staged_watermarks(session, now)
                phases.lap("watermarks")
                if moved != staged:
                    raise _Stale(f"{staged - moved} of {staged} charges changed")
        except (_Stale, IntegrityError, sqlite3.IntegrityError):
            # Stale, or the unique index on (charge, period start) caught a period
            # billed meanwhile (the items go in before the watermarks are checked).
            phases.lap("stale")
            return None
        result.invoice_ids = invoice_ids
        result.items = prepared.items
    count_once_committed(session, len(result.invoice_ids), result.items)
    return result
