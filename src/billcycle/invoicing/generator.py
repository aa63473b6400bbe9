"""Invoice generation: rate the billable charges of a set of accounts into draft invoices.

Set-based by design, because bill runs call it with chunks of thousands of accounts:
one query loads the chunk's accounts, one its billable charge segments, one their tiers;
rating runs over plain values; invoices, items and watermarks go out as batched
statements. A single account's invoice is the same call with one id.

Double billing is prevented three times over: generation for an account is serialised
by a row lock (PostgreSQL), rating resumes at each segment's billed-through watermark,
and the partial unique index on (charge, period start) refuses a period billed twice.
When that last line of defence fires, the chunk is retried account by account so only
the offending account fails.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError

from billcycle.accounts.payment_terms import due_date
from billcycle.context import ServiceContext
from billcycle.invoicing import generator_repository as repo
from billcycle.invoicing.generator_repository import AnyRow
from billcycle.money import to_minor
from billcycle.rating import ChargeModel, RatedItem, rate_charge
from billcycle.subscriptions.charges import to_charge_terms
from billcycle.tenancy.numbers import number_block

_TIERED_MODELS = frozenset({ChargeModel.Tiered.value, ChargeModel.Volume.value})


@dataclass(frozen=True)
class GenerationOptions:
    target_date: date
    invoice_date: date
    bill_run_id: int | None = None
    source: str = "API"
    exclude_charge_types: frozenset[str] = frozenset()
    subscription_ids: tuple[int, ...] | None = None
    # Zuora's CatchUp bill run: advance the billed-through watermarks, create no invoices.
    catch_up: bool = False


@dataclass
class GenerationResult:
    invoice_ids: list[int] = field(default_factory=list)
    items: int = 0
    amount_minor_by_currency: dict[str, int] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    accounts_invoiced: set[int] = field(default_factory=set)

    def merge(self, other: GenerationResult) -> None:
        self.invoice_ids += other.invoice_ids
        self.items += other.items
        for currency, amount in other.amount_minor_by_currency.items():
            self.amount_minor_by_currency[currency] = (
                self.amount_minor_by_currency.get(currency, 0) + amount
            )
        self.failures.update(other.failures)
        self.accounts_invoiced |= other.accounts_invoiced


@dataclass
class _Draft:
    """One invoice being assembled: the items of one account (or one subscription billed
    separately) plus the watermarks they advance."""

    account_id: int
    currency: str
    payment_term: str
    items: list[tuple[AnyRow, RatedItem]] = field(default_factory=list)
    watermarks: dict[int, date | None] = field(default_factory=dict)


def generate_invoices(
    ctx: ServiceContext, account_ids: Sequence[int], options: GenerationOptions
) -> GenerationResult:
    """Create the draft invoices of ``account_ids`` up to ``options.target_date``."""
    if not account_ids:
        return GenerationResult()
    session = ctx.session
    repo.lock_accounts(session, ctx.tenant_id, account_ids)
    drafts, failures = _rate(ctx, account_ids, options)
    result = GenerationResult(failures=failures)
    try:
        with session.begin_nested():
            result.merge(_write(ctx, drafts, options))
    except IntegrityError:
        # Something was billed concurrently or twice: isolate it to its account.
        by_account: dict[int, list[_Draft]] = defaultdict(list)
        for draft in drafts:
            by_account[draft.account_id].append(draft)
        for account_id, account_drafts in by_account.items():
            try:
                with session.begin_nested():
                    result.merge(_write(ctx, account_drafts, options))
            except IntegrityError:
                result.failures[account_id] = (
                    "A period of this account's charges is already billed on another invoice."
                )
    return result


def _rate(
    ctx: ServiceContext, account_ids: Sequence[int], options: GenerationOptions
) -> tuple[list[_Draft], dict[int, str]]:
    session = ctx.session
    accounts = repo.load_accounts(session, ctx.tenant_id, account_ids)
    charges = repo.load_billable_charges(
        session,
        ctx.tenant_id,
        list(accounts),
        options.target_date,
        subscription_ids=options.subscription_ids,
        exclude_charge_types=options.exclude_charge_types,
    )
    tiers = repo.load_tiers(session, [c.id for c in charges if c.charge_model in _TIERED_MODELS])
    drafts: dict[tuple[int, int], _Draft] = {}
    failures: dict[int, str] = {}
    for charge in charges:
        account_id = charge.account_id
        if account_id in failures:
            continue
        account = accounts[account_id]
        try:
            rated = rate_charge(
                to_charge_terms(charge, account.bill_cycle_day, tiers.get(charge.id, ())),
                options.target_date,
            )
        except ValueError as exc:
            failures[account_id] = str(exc)
            continue
        if not rated.items:
            continue
        group = charge.subscription_id if charge.invoice_separately else 0
        draft = drafts.get((account_id, group))
        if draft is None:
            draft = drafts[(account_id, group)] = _Draft(
                account_id=account_id,
                currency=account.currency,
                payment_term=account.payment_term,
            )
        draft.items.extend((charge, item) for item in rated.items)
        draft.watermarks[charge.id] = rated.billed_through
    return [d for d in drafts.values() if d.account_id not in failures], failures


def _write(
    ctx: ServiceContext, drafts: list[_Draft], options: GenerationOptions
) -> GenerationResult:
    result = GenerationResult()
    if not drafts:
        return result
    session = ctx.session
    now = ctx.clock.now()
    watermarks = [
        (charge_id, through) for draft in drafts for charge_id, through in draft.watermarks.items()
    ]
    if options.catch_up:
        repo.advance_watermarks(session, watermarks, now)
        result.accounts_invoiced = {draft.account_id for draft in drafts}
        return result
    tenant_id = ctx.tenant_id
    numbers = number_block(session, tenant_id, "invoice", len(drafts))
    invoice_ids = repo.allocate_invoice_ids(session, len(drafts))
    invoice_rows: list[tuple[Any, ...]] = []
    item_rows: list[tuple[Any, ...]] = []
    totals = result.amount_minor_by_currency
    invoice_date, target_date, bill_run_id = (
        options.invoice_date,
        options.target_date,
        options.bill_run_id,
    )
    due_dates: dict[str, date] = {}
    for draft, number, invoice_id in zip(drafts, numbers, invoice_ids, strict=True):
        currency = draft.currency
        amount = 0
        for charge, item in draft.items:
            minor = to_minor(item.amount, currency)
            amount += minor
            item_rows.append(
                (
                    tenant_id,
                    invoice_id,
                    charge.subscription_id,
                    charge.id,
                    charge.name,
                    charge.charge_type,
                    item.service_start,
                    item.service_end,
                    item.quantity,
                    item.unit_price,
                    minor,
                    item.is_credit,
                    False,
                )
            )
        due = due_dates.get(draft.payment_term)
        if due is None:
            due = due_dates[draft.payment_term] = due_date(invoice_date, draft.payment_term)
        invoice_rows.append(
            (
                invoice_id,
                tenant_id,
                draft.account_id,
                number,
                "Draft",
                invoice_date,
                due,
                target_date,
                currency,
                amount,
                0,
                bill_run_id,
                options.source,
                now,
                now,
            )
        )
        totals[currency] = totals.get(currency, 0) + amount
        result.accounts_invoiced.add(draft.account_id)
    repo.insert_invoices(session, invoice_rows)
    repo.insert_items(session, item_rows)
    repo.advance_watermarks(session, watermarks, now)
    result.invoice_ids = invoice_ids
    result.items = len(item_rows)
    return result
