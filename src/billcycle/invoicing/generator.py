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

import dataclasses
import gc
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billcycle import metrics, phases
from billcycle.accounts.payment_terms import due_date
from billcycle.catalog.vocabulary import (
    DISCOUNT_MODELS,
    DISCOUNT_TARGET_TYPES,
    DiscountLevel,
    discount_targets,
)
from billcycle.context import ServiceContext
from billcycle.db.session import after_commit
from billcycle.errors import DomainError
from billcycle.invoicing import generator_repository as repo
from billcycle.invoicing.generator_repository import AnyRow
from billcycle.invoicing.statuses import InvoiceSource, InvoiceStatus
from billcycle.money import from_minor, to_minor
from billcycle.rating import ChargeModel, ChargeType, rate_charge, schedule_for
from billcycle.rating.discounts import Discounted, discount_end, discount_minor
from billcycle.subscriptions.rating_view import to_charge_terms
from billcycle.tenancy.numbers import number_block
from billcycle.usage import billing as usage_billing

_TIERED_MODELS = frozenset({ChargeModel.Tiered.value, ChargeModel.Volume.value})
_USAGE = ChargeType.Usage.value
_DISCOUNT_MODELS = frozenset(model.value for model in DISCOUNT_MODELS)
_NOT_PLAIN_MODELS = _TIERED_MODELS | _DISCOUNT_MODELS


@dataclass(frozen=True)
class GenerationOptions:
    target_date: date
    invoice_date: date
    bill_run_id: int | None = None
    source: str = InvoiceSource.API.value
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


@dataclass(frozen=True, slots=True)
class _Rated:
    """One charge's rating, whichever charge it was: its items' formatted tails, their
    total in minor units, and where it leaves the watermark (or why it cannot be rated)."""

    tails: tuple[Any, ...]
    amount_minor: int
    billed_through: date | None
    error: str | None = None
    # (service start, service end, amount minor, is credit) of each item: what a
    # discount charge on the same invoice takes its share of.
    items: tuple[tuple[date, date, int, bool], ...] = ()


class _RatingMemo:
    """Rating is pure and a bill run's charges share few shapes (the same price, start
    date and billing day across thousands of accounts), so each shape is rated and its
    rows formatted once per process; the key holds every input rating reads.

    Bounded (an entry is ~2 KB, so at most ~20 MB when every charge differs): when full
    it starts over, which costs a re-rating, never a wrong answer.
    Dict reads and writes are atomic under the GIL, so worker threads may share it.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._rated: dict[tuple[Any, ...], _Rated] = {}
        # (format, rating key) -> the typed row of one charge with that key: rating reads
        # only the key's inputs (and the charge's id, for an error message).
        self._typed: dict[tuple[str, str], repo.ChargeRow] = {}

    def typed(self, fmt_name: str, rating_key: str) -> repo.ChargeRow | None:
        return self._typed.get((fmt_name, rating_key))

    def remember_typed(self, fmt_name: str, rating_key: str, row: repo.ChargeRow) -> None:
        if len(self._typed) >= self._limit:
            self._typed.clear()
        self._typed[(fmt_name, rating_key)] = row

    def rate(
        self,
        fmt: repo.RowFormat,
        rating_key: str,
        typed: repo.ChargeRow,
        account_bill_cycle_day: int,
        tiers: Sequence[AnyRow],
        target_date: date,
    ) -> _Rated:
        """The rating of a charge whose RATING_KEY is ``rating_key``; ``typed`` is the
        typed row of a charge with that key (the error message of a charge that cannot
        be rated names ``typed``'s id: callers re-rate such a charge from its own row)."""
        key = (
            fmt.name,
            rating_key,
            account_bill_cycle_day,
            tuple(tier[1:] for tier in tiers) if tiers else (),
            target_date,
        )
        rated = self._rated.get(key)
        if rated is None:
            rated = _rate_one(fmt, typed, account_bill_cycle_day, tiers, target_date)
            if rated.error is not None:
                return rated  # its message names a charge: not reusable
            if len(self._rated) >= self._limit:
                self._rated.clear()
            self._rated[key] = rated
        return rated


def _rate_one(
    fmt: repo.RowFormat,
    charge: repo.ChargeRow,
    account_bill_cycle_day: int,
    tiers: Sequence[AnyRow],
    target_date: date,
) -> _Rated:
    try:
        rated = rate_charge(to_charge_terms(charge, account_bill_cycle_day, tiers), target_date)
        currency = charge.currency
        minors = [to_minor(item.amount, currency) for item in rated.items]
    except (ValueError, DomainError) as exc:
        return _Rated((), 0, None, str(exc))
    tails = tuple(
        fmt.item_tail(
            item.service_start,
            item.service_end,
            item.quantity,
            item.unit_price,
            minor,
            item.is_credit,
        )
        for item, minor in zip(rated.items, minors, strict=True)
    )
    items = tuple(
        (item.service_start, item.service_end, minor, item.is_credit)
        for item, minor in zip(rated.items, minors, strict=True)
    )
    return _Rated(tails, sum(minors), rated.billed_through, None, items)


_MEMO = _RatingMemo()


@dataclass(slots=True)
class _Draft:
    """One invoice being assembled: the rated charges of one account (or of one
    subscription billed separately)."""

    account_id: int
    currency: str
    payment_term: str
    charges: list[tuple[Sequence[Any], _Rated]] = field(default_factory=list)
    amount_minor: int = 0
    has_usage: bool = False


def generate_invoices(
    ctx: ServiceContext, account_ids: Sequence[int], options: GenerationOptions
) -> GenerationResult:
    """Create the draft invoices of ``account_ids`` up to ``options.target_date``."""
    if not account_ids:
        return GenerationResult()
    with no_cycle_collection():
        return _generate(ctx, account_ids, options)


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """A chunk allocates hundreds of thousands of tuples (rows, items) and frees them
    together; the cyclic collector would walk every live object of the process many
    times meanwhile (most of a chunk's formatting time in the profile), yet a chunk's
    rows hold no cycles. Paused for the chunk; reference counting still frees them, and
    anything cyclic is collected once the collector runs again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _generate(
    ctx: ServiceContext, account_ids: Sequence[int], options: GenerationOptions
) -> GenerationResult:
    session = ctx.session
    session.flush()  # generation reads through Core: pending ORM changes must be visible
    repo.lock_accounts(session, ctx.tenant_id, account_ids)
    phases.lap("lock accounts")
    fmt = repo.row_format(session)
    rated = rate_accounts(session, ctx.tenant_id, fmt, account_ids, options)
    assert rated is not None  # plain_only not asked
    drafts, failures = rated
    result = GenerationResult(failures=failures)
    try:
        with session.begin_nested():
            result.merge(_write(ctx, fmt, drafts, options))
    except IntegrityError:
        # Something was billed concurrently or twice: isolate it to its account.
        by_account: dict[int, list[_Draft]] = defaultdict(list)
        for draft in drafts:
            by_account[draft.account_id].append(draft)
        for account_id, account_drafts in by_account.items():
            try:
                with session.begin_nested():
                    result.merge(_write(ctx, fmt, account_drafts, options))
            except IntegrityError:
                result.failures[account_id] = (
                    "A period of this account's charges is already billed on another invoice."
                )
    count_once_committed(session, len(result.invoice_ids), result.items)
    return result


def count_once_committed(session: Session, invoices: int, items: int) -> None:
    if invoices or items:

        def count() -> None:
            metrics.INVOICES_GENERATED.inc(invoices)
            metrics.INVOICE_ITEMS_GENERATED.inc(items)

        after_commit(session, count)


def rate_accounts(
    session: Session,
    tenant_id: int,
    fmt: repo.RowFormat,
    account_ids: Sequence[int],
    options: GenerationOptions,
    *,
    plain_only: bool = False,
) -> tuple[list[_Draft], dict[int, str]] | None:
    """The drafts (and the accounts that failed rating, with why) of ``account_ids``,
    read and rated from ``session``'s view of the database.

    ``plain_only``: None when a charge is rated from more than its own row (tiers, usage
    records, discounted items): what ``invoicing.prepared`` prepares ahead of the
    writer has to be checked against the state the writer sees, and only a plain
    charge's inputs are all in the rows that check covers.
    """
    accounts = repo.load_accounts(session, tenant_id, account_ids)
    charges = repo.load_billable_charges(
        session,
        tenant_id,
        list(accounts),
        options.target_date,
        subscription_ids=options.subscription_ids,
        exclude_charge_types=options.exclude_charge_types,
    )
    if plain_only and any(
        c[repo.CHARGE_MODEL] in _NOT_PLAIN_MODELS or c[repo.CHARGE_TYPE] == _USAGE for c in charges
    ):
        return None
    tiers = repo.load_tiers(
        session, [c[repo.ID] for c in charges if c[repo.CHARGE_MODEL] in _TIERED_MODELS]
    )
    # The typed rating inputs of each distinct rating key (one charge's row per key: a
    # million accounts on one price point have one), and the full rows of the usage and
    # discount charges (rated from their typed rows), read in one go.
    key_at = repo.RATING_KEY
    typed_by_key: dict[str, repo.ChargeRow] = {}
    unknown: dict[str, int] = {}
    full_ids: list[int] = []
    for charge in charges:
        rating_key = charge[key_at]
        if rating_key not in typed_by_key:
            known = _MEMO.typed(fmt.name, rating_key)
            if known is None:
                unknown[rating_key] = charge[repo.ID]
            else:
                typed_by_key[rating_key] = known
        if charge[repo.CHARGE_TYPE] == _USAGE or charge[repo.CHARGE_MODEL] in _DISCOUNT_MODELS:
            full_ids.append(charge[repo.ID])
    full = (
        repo.load_charge_rows(session, tenant_id, [*unknown.values(), *full_ids])
        if unknown or full_ids
        else {}
    )
    for rating_key, charge_id in unknown.items():
        typed_by_key[rating_key] = fetched = fmt.charge(full[charge_id])
        _MEMO.remember_typed(fmt.name, rating_key, fetched)
    phases.lap("read charges")
    drafts: dict[tuple[int, int], _Draft] = {}
    failures: dict[int, str] = {}
    target_date = options.target_date
    rate = _MEMO.rate
    no_tiers: tuple[AnyRow, ...] = ()
    # Usage charges are rated from their records, together, after the others; discount
    # charges last, from the items of the charges they discount.
    usage: list[Sequence[Any]] = []
    discounts: list[Sequence[Any]] = []

    def add(charge: Sequence[Any], rated: _Rated, is_usage: bool = False) -> None:
        account_id = charge[repo.ACCOUNT]
        if rated.error is not None:
            failures[account_id] = rated.error
            return
        if not rated.tails:
            return
        account = accounts[account_id]
        group = charge[repo.SUBSCRIPTION] if charge[repo.INVOICE_SEPARATELY] else 0
        draft = drafts.get((account_id, group))
        if draft is None:
            draft = drafts[(account_id, group)] = _Draft(
                account_id=account_id,
                currency=account.currency,
                payment_term=account.payment_term,
            )
        draft.charges.append((charge, rated))
        draft.amount_minor += rated.amount_minor
        draft.has_usage = draft.has_usage or is_usage

    # A chunk's charges share few shapes (a million accounts on one price point rate
    # one): a charge without tiers whose rating inputs and billing day this chunk has
    # already rated takes that rating from here, before the process-wide memo (whose
    # key holds the format, tiers and target date too, constant within a chunk).
    shapes: dict[tuple[Any, int], _Rated] = {}
    id_at, account_at, subscription_at = repo.ID, repo.ACCOUNT, repo.SUBSCRIPTION
    type_at, model_at, separately_at = repo.CHARGE_TYPE, repo.CHARGE_MODEL, repo.COMPACT_SEPARATELY
    for charge in charges:
        account_id = charge[account_at]
        if account_id in failures:
            continue
        if charge[type_at] == _USAGE:
            usage.append(full[charge[id_at]])
            continue
        if charge[model_at] in _DISCOUNT_MODELS:
            discounts.append(full[charge[id_at]])
            continue
        account = accounts[account_id]
        rating_key = charge[key_at]
        charge_tiers = tiers.get(charge[id_at]) if tiers else None
        if charge_tiers:
            rated = rate(
                fmt,
                rating_key,
                typed_by_key[rating_key],
                account.bill_cycle_day,
                charge_tiers,
                target_date,
            )
        else:
            shape = (rating_key, account.bill_cycle_day)
            shaped = shapes.get(shape)
            if shaped is None:
                shaped = rate(
                    fmt,
                    rating_key,
                    typed_by_key[rating_key],
                    account.bill_cycle_day,
                    no_tiers,
                    target_date,
                )
                if shaped.error is None:
                    shapes[shape] = shaped
            rated = shaped
        # add(charge, rated), inline: this loop runs once per charge of the run.
        if rated.error is not None:
            # Rated from another charge's row of the same key: its message names that
            # charge. This one's own row, for a message that names it.
            own = repo.load_charge_rows(session, tenant_id, [charge[id_at]])
            rated = _rate_one(
                fmt,
                fmt.charge(own[charge[id_at]]),
                account.bill_cycle_day,
                charge_tiers or no_tiers,
                target_date,
            )
            failures[account_id] = rated.error or "This charge cannot be rated."
            continue
        if not rated.tails:
            continue
        key = (account_id, charge[subscription_at] if charge[separately_at] else 0)
        draft = drafts.get(key)
        if draft is None:
            draft = drafts[key] = _Draft(account_id, account.currency, account.payment_term)
        draft.charges.append((charge, rated))
        draft.amount_minor += rated.amount_minor
    if usage:
        typed = [fmt.charge(charge) for charge in usage]
        rated_usage = usage_billing.rate_usage_charges(
            session,
            [
                (row, accounts[row.account_id].bill_cycle_day, tiers.get(row.id, no_tiers))
                for row in typed
            ],
            target_date,
            fmt.item_tail,
        )
        for charge, row in zip(usage, typed, strict=True):
            if row.account_id in failures:
                continue
            found = rated_usage[row.id]
            add(
                charge,
                _Rated(
                    found.tails, found.amount_minor, found.billed_through, found.error, found.items
                ),
                True,
            )
    if discounts:
        for charge, rated in rate_discounts(session, fmt, discounts, drafts, accounts, target_date):
            if charge[repo.ACCOUNT] not in failures:
                add(charge, rated)
    return [d for d in drafts.values() if d.account_id not in failures], failures


def rate_discounts(
    session: Session,
    fmt: repo.RowFormat,
    discounts: Sequence[Sequence[Any]],
    drafts: dict[tuple[int, int], _Draft],
    accounts: dict[int, repo.AccountRow],
    target_date: date,
) -> list[tuple[Sequence[Any], _Rated]]:
    """Each discount charge's periods (its own grid, like a recurring charge, ended by
    UpToPeriods), each priced from the items of the charges it applies to on the same
    invoice (its rate plan's, subscription's or account's, of the charge types it names).

    A period with nothing to discount on this invoice stops the discount there (its
    watermark stays), so the discount is billed with the items it discounts.
    """
    ids = [charge[repo.ID] for charge in discounts]
    for open_draft in drafts.values():
        ids.extend(charge[repo.ID] for charge, _rated in open_draft.charges)
    plans = repo.discount_terms(session, ids)
    out: list[tuple[Sequence[Any], _Rated]] = []
    for raw in discounts:
        row = fmt.charge(raw)
        plan, level, apply_to, up_to = plans[row.id]
        group = raw[repo.SUBSCRIPTION] if raw[repo.INVOICE_SEPARATELY] else 0
        draft = drafts.get((row.account_id, group))
        if draft is None:
            continue
        targets = discount_targets(apply_to or "RECURRING") or frozenset()
        kinds = {DISCOUNT_TARGET_TYPES[t] for t in targets}
        discounted = [
            Discounted(start, end, minor)
            for charge, rated in draft.charges
            if charge[repo.CHARGE_TYPE] in kinds
            and charge[repo.CHARGE_MODEL] not in _DISCOUNT_MODELS
            and (
                level == DiscountLevel.Account
                or (
                    level == DiscountLevel.Subscription
                    and charge[repo.SUBSCRIPTION] == row.subscription_id
                )
                or plans.get(charge[repo.ID], (None,))[0] == plan
            )
            for start, end, minor, is_credit in rated.items
            if not is_credit
        ]
        try:
            base = to_charge_terms(row, accounts[row.account_id].bill_cycle_day)
            terms = dataclasses.replace(
                base,
                charge_model=ChargeModel.FlatFee,
                price=Decimal(0),
                end_date=discount_end(base, up_to),
            )
            periods = rate_charge(terms, target_date)
            schedule = schedule_for(terms)
        except (ValueError, DomainError) as exc:
            out.append((raw, _Rated((), 0, None, str(exc))))
            continue
        tails: list[Any] = []
        total = 0
        watermark = row.billed_through
        model = ChargeModel(row.charge_model)
        value = row.price or Decimal(0)
        for item in periods.items:
            if item.is_credit:
                break  # a discount is not refunded: ending it just stops it
            index = schedule.index_of(item.service_start)
            minor = discount_minor(
                model,
                value,
                row.currency,
                item.service_start,
                item.service_end,
                schedule.boundary(index),
                schedule.boundary(index + 1),
                discounted,
            )
            if minor == 0:
                break
            tails.append(
                fmt.item_tail(
                    item.service_start,
                    item.service_end,
                    Decimal(1),
                    from_minor(minor, row.currency),
                    minor,
                    False,
                )
            )
            total += minor
            watermark = item.service_end
        out.append((raw, _Rated(tuple(tails), total, watermark)))
    return out


def watermarks_of(drafts: Sequence[_Draft]) -> list[tuple[int, date | None]]:
    """(charge, billed-through date) of every charge the drafts bill."""
    return [
        (charge[repo.ID], rated.billed_through)
        for draft in drafts
        for charge, rated in draft.charges
    ]


def _write(
    ctx: ServiceContext,
    fmt: repo.RowFormat,
    drafts: list[_Draft],
    options: GenerationOptions,
) -> GenerationResult:
    result = GenerationResult()
    if not drafts:
        return result
    session = ctx.session
    now = ctx.clock.now()
    watermarks = watermarks_of(drafts)
    if options.catch_up:
        repo.advance_watermarks(session, watermarks, now)
        result.accounts_invoiced = {draft.account_id for draft in drafts}
        return result
    tenant_id = ctx.tenant_id
    phases.lap("rating")
    # Numbered outside this transaction: parallel bill-run workers must not queue on the
    # tenant's sequence row until each other's commit.
    numbers = number_block(session, tenant_id, "invoice", len(drafts), own_transaction=True)
    invoice_ids = repo.allocate_invoice_ids(session, len(drafts))
    phases.lap("numbers")
    invoices, item_rows = format_drafts(
        fmt, tenant_id, drafts, invoice_ids, numbers, options, now, result
    )
    phases.lap("formatting")
    fmt.insert(session, invoices, item_rows)
    usage_invoices = [
        invoice_id for draft, invoice_id in zip(drafts, invoice_ids, strict=True) if draft.has_usage
    ]
    if usage_invoices:
        usage_billing.bind_billed_usage(session, tenant_id, usage_invoices)
        phases.lap("usage binding")
    repo.advance_watermarks(session, watermarks, now)
    phases.lap("watermarks")
    result.invoice_ids = invoice_ids
    result.items = len(item_rows)
    return result


def format_drafts(
    fmt: repo.RowFormat,
    tenant_id: int,
    drafts: Sequence[_Draft],
    invoice_ids: Sequence[int],
    numbers: Sequence[str],
    options: GenerationOptions,
    now: datetime,
    result: GenerationResult,
) -> tuple[list[Any], list[Any]]:
    """The drafts' invoice and item rows in ``fmt``'s bulk form; adds their totals and
    accounts to ``result``."""
    # The chunk's invoice template: its shared columns formatted once; each invoice
    # stamps in its id, account, number, due date, currency and amount.
    stamp = fmt.invoice_stamper(
        repo.InvoiceShared(
            tenant_id,
            InvoiceStatus.DRAFT.value,
            options.invoice_date,
            options.target_date,
            0,
            options.bill_run_id,
            options.source,
            now,
        )
    )
    invoices: list[Any] = []
    item_rows: list[Any] = []
    add_item = item_rows.append
    item_head = fmt.item_head
    totals = result.amount_minor_by_currency
    invoiced = result.accounts_invoiced
    invoice_date = options.invoice_date
    due_dates: dict[str, date] = {}
    for draft, number, invoice_id in zip(drafts, numbers, invoice_ids, strict=True):
        for charge, rated in draft.charges:
            charge_id, _account, subscription_id, name, charge_type = charge[:5]
            # An item row is the charge's head and the rated shape's formatted tail.
            head = item_head(tenant_id, invoice_id, subscription_id, charge_id, name, charge_type)
            for tail in rated.tails:
                add_item(head + tail)
        due = due_dates.get(draft.payment_term)
        if due is None:
            due = due_dates[draft.payment_term] = due_date(invoice_date, draft.payment_term)
        currency = draft.currency
        invoices.append(
            stamp(invoice_id, draft.account_id, number, due, currency, draft.amount_minor)
        )
        totals[currency] = totals.get(currency, 0) + draft.amount_minor
        invoiced.add(draft.account_id)
    return invoices, item_rows
