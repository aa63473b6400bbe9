"""An account's standing, moved by the policy: Good -> PoorStanding -> Suspended ->
(optionally) cancelled and written off, and back to Good when nothing is overdue.

One pass per tenant and day, set-based: the tenant's overdue invoices are read in one
query, the accounts already in dunning in another, and only those accounts are looked
at (never every account of the tenant).

* ``PoorStanding`` from the day an invoice becomes overdue (the day after its due date,
  on the tenant's business clock) until no invoice is overdue, then ``Good``.
* Suspended once poor standing has lasted the grace period: the account's active
  subscriptions are suspended from that day (so bill runs do not bill them) and resumed
  when the account is back to Good. Only what collections suspended is resumed.
* Optionally cancelled (the account) after N days suspended, and then, optionally, its
  open invoices written off: the end of dunning.
* A dunning-exempt account never changes standing automatically; a cancelled one is done.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from billcycle.accounts import service as accounts
from billcycle.accounts.inputs import AccountChanges
from billcycle.accounts.statuses import AccountStatus
from billcycle.collections import repository as repo
from billcycle.collections import standing_repository as standing_repo
from billcycle.collections.events import Event, record
from billcycle.collections.policy import CollectionPolicy, merged, tenant_policy
from billcycle.collections.repository import AccountRow, OverdueInvoice
from billcycle.collections.statuses import AccountStanding, CollectionEventType
from billcycle.context import ServiceContext
from billcycle.errors import DomainError
from billcycle.invoicing import service as invoicing
from billcycle.ledger.models import EntrySource
from billcycle.subscriptions import lifecycle
from billcycle.subscriptions.inputs import Cancellation, ObjectKey, Resumption, Suspension
from billcycle.subscriptions.statuses import (
    CancellationPolicy,
    ResumePolicy,
    SubscriptionStatus,
    SuspendPolicy,
)

ONE_DAY = timedelta(days=1)
WRITE_OFF_COMMENT = "Written off at the end of dunning"


@dataclass
class StandingPass:
    """What one pass changed (account ids), for the caller and the tests."""

    poor_standing: list[int] = field(default_factory=list)
    good: list[int] = field(default_factory=list)
    suspended: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    written_off: list[int] = field(default_factory=list)
    # The pass's collections events, recorded together at its end (one INSERT, one
    # outbox statement per type), in the order they happened.
    events: list[Event] = field(default_factory=list, repr=False, compare=False)
    # The collections rows of the accounts the pass looked at (read or created by it),
    # for the day's attempts, which look at some of the same accounts.
    rows: dict[int, AccountRow] = field(default_factory=dict, repr=False, compare=False)


def evaluate_standing(
    ctx: ServiceContext,
    today: date,
    *,
    account_ids: Sequence[int] | None = None,
    overdue: Sequence[OverdueInvoice] | None = None,
) -> StandingPass:
    """Move the standing of the tenant's accounts (or of ``account_ids``) as of ``today``.

    ``overdue`` may be given when the caller already read the tenant's overdue invoices
    (the daily task reads them once for standing and attempts); it must hold at least
    each overdue account's first overdue invoice (by due date, then id): the pass looks
    at no other.
    """
    if overdue is None:
        # Each account's first overdue invoice is all the pass looks at.
        overdue = repo.overdue_invoices(
            ctx.session, ctx.tenant_id, today, account_ids, keep=repo.FIRST
        )
    by_account: dict[int, list[OverdueInvoice]] = defaultdict(list)
    for invoice in overdue:
        by_account[invoice.account_id].append(invoice)
    # Plain rows (``repository.AccountRow``), not ORM objects: changed in place and
    # written together by ``_sync`` (one executemany of the changed ones).
    if account_ids is None:
        in_dunning = repo.rows_in_dunning(ctx.session, ctx.tenant_id)
        rows = {row.account_id: row for row in in_dunning}
        involved = set(by_account) | set(rows)
        rest = sorted(involved - set(rows))
        if rest:
            rows.update(repo.plain_account_rows(ctx.session, ctx.tenant_id, rest))
    else:
        # A few accounts (a payment run's outcomes): their rows in one read, those in
        # dunning told apart here (what ``rows_in_dunning`` selects), not read twice.
        given = repo.plain_account_rows(ctx.session, ctx.tenant_id, account_ids)
        involved = set(by_account) | {a for a, row in given.items() if _in_dunning(row)}
        rows = {a: row for a, row in given.items() if a in involved}
        others = sorted(set(by_account) - set(account_ids))  # an ``overdue`` given beyond them
        if others:
            rows.update(repo.plain_account_rows(ctx.session, ctx.tenant_id, others))
    tenant = tenant_policy(ctx)
    done = StandingPass()
    # Accounts overdue for the first time get their rows in one statement, not one
    # INSERT and SELECT each (a month's first overdue day has thousands).
    created: dict[int, AccountRow] = {}
    if not merged(tenant, None).dunning_exempt:
        missing = [a for a in sorted(involved) if a in by_account and a not in rows]
        if missing:
            created = standing_repo.ensure_account_rows(
                ctx.session, ctx.tenant_id, missing, ctx.clock.now()
            )
    done.rows = {**rows, **created}
    for account_id in sorted(involved):
        row = rows.get(account_id)
        policy = merged(tenant, row)
        if policy.dunning_exempt or (row is not None and row.cancelled_on is not None):
            continue
        invoices = by_account.get(account_id)
        if invoices:
            if row is None:
                row = created[account_id]
            _owing(ctx, row, policy, invoices, today, done)
        elif row is not None:
            _back_to_good(ctx, row, today, done)
    _sync(ctx, done)
    record(ctx, *done.events, day=today)
    done.events = []
    ctx.session.flush()
    return done


def _sync(ctx: ServiceContext, done: StandingPass) -> None:
    """Write the pass's changed rows: at its end, and before it calls another service
    (suspending, resuming, cancelling, writing off), which must see them as the ORM's
    autoflush showed them."""
    repo.write_account_rows(ctx.session, list(done.rows.values()))


def _in_dunning(row: AccountRow) -> bool:
    """What ``repository.rows_in_dunning`` selects: not plain Good."""
    return row.standing != AccountStanding.GOOD.value or row.suspended_on is not None


def _owing(
    ctx: ServiceContext,
    row: AccountRow,
    policy: CollectionPolicy,
    invoices: list[OverdueInvoice],
    today: date,
    done: StandingPass,
) -> None:
    if row.standing != AccountStanding.POOR_STANDING:
        oldest = min(invoice.due_date for invoice in invoices)
        row.poor_standing_since = oldest + ONE_DAY
        _set_standing(
            ctx, row, AccountStanding.POOR_STANDING, today, invoices[0].invoice_id, done.events
        )
        done.poor_standing.append(row.account_id)
    since = row.poor_standing_since or today
    if row.suspended_on is None:
        if today >= since + timedelta(days=policy.grace_days):
            _sync(ctx, done)
            _suspend(ctx, row, today, done.events)
            done.suspended.append(row.account_id)
        return
    # Still suspended: a subscription activated since is suspended too (Fusebill
    # suspends all of a suspended customer's subscriptions).
    if repo.subscriptions_of(ctx.session, ctx.tenant_id, row.account_id, SubscriptionStatus.ACTIVE):
        _sync(ctx, done)
        _suspend(ctx, row, today, done.events)
    cancel_after = policy.auto_cancel_after_days
    if cancel_after is not None and today >= row.suspended_on + timedelta(days=cancel_after):
        _sync(ctx, done)
        _cancel(ctx, row, today, done.events)
        done.cancelled.append(row.account_id)
        if policy.auto_write_off:
            _sync(ctx, done)
            _write_off(ctx, row, today, done.events)
            done.written_off.append(row.account_id)


def _back_to_good(ctx: ServiceContext, row: AccountRow, today: date, done: StandingPass) -> None:
    if row.suspended_on is not None:
        _sync(ctx, done)
        _resume(ctx, row, today, done.events)
        done.resumed.append(row.account_id)
    if row.standing != AccountStanding.GOOD:
        _set_standing(ctx, row, AccountStanding.GOOD, today, None, done.events)
        row.poor_standing_since = None
        done.good.append(row.account_id)


def _set_standing(
    ctx: ServiceContext,
    row: AccountRow,
    standing: AccountStanding,
    today: date,
    invoice_id: int | None,
    events: list[Event],
) -> None:
    before = row.standing
    row.standing = standing.value
    row.updated_at = ctx.clock.now()
    events.append(
        Event(
            row.account_id,
            CollectionEventType.STANDING_CHANGED,
            invoice_id=invoice_id,
            from_value=before,
            to_value=standing.value,
        )
    )


def _suspend(ctx: ServiceContext, row: AccountRow, today: date, events: list[Event]) -> None:
    """Suspend the account's active subscriptions from today (the customer's suspension
    starts now unless it already had)."""
    suspended: list[int] = []
    refused: dict[str, str] = {}
    for subscription_id, number in repo.subscriptions_of(
        ctx.session, ctx.tenant_id, row.account_id, SubscriptionStatus.ACTIVE
    ):
        try:
            lifecycle.suspend_subscription(
                ctx, ObjectKey(subscription_id, number), Suspension(SuspendPolicy.TODAY.value)
            )
        except DomainError as exc:  # e.g. a term that ends today: nothing was changed
            refused[number] = exc.message
            continue
        suspended.append(subscription_id)
    first = row.suspended_on is None
    if first:
        row.suspended_on = today
    row.suspended_subscriptions = [*(row.suspended_subscriptions or []), *suspended]
    row.updated_at = ctx.clock.now()
    if not first and not suspended:
        return  # a subscription that cannot be suspended is tried again tomorrow, quietly
    events.append(
        Event(
            row.account_id,
            CollectionEventType.SUSPENDED,
            from_value="Active" if first else "Suspended",
            to_value="Suspended",
            details={"subscriptions": suspended, "refused": refused},
        )
    )


def _resume(ctx: ServiceContext, row: AccountRow, today: date, events: list[Event]) -> None:
    suspended_ids = set(row.suspended_subscriptions or [])
    resumed: list[int] = []
    refused: dict[str, str] = {}
    for subscription_id, number in repo.subscriptions_of(
        ctx.session, ctx.tenant_id, row.account_id, SubscriptionStatus.SUSPENDED
    ):
        if subscription_id not in suspended_ids:
            continue  # suspended by hand: not collections' to resume
        try:
            lifecycle.resume_subscription(
                ctx, ObjectKey(subscription_id, number), Resumption(ResumePolicy.TODAY.value)
            )
        except DomainError as exc:
            refused[number] = exc.message
            continue
        resumed.append(subscription_id)
    row.suspended_on = None
    row.suspended_subscriptions = []
    row.updated_at = ctx.clock.now()
    events.append(
        Event(
            row.account_id,
            CollectionEventType.RESUMED,
            from_value="Suspended",
            to_value="Active",
            details={"subscriptions": resumed, "refused": refused},
        )
    )


def _cancel(ctx: ServiceContext, row: AccountRow, today: date, events: list[Event]) -> None:
    """Cancel the account and its subscriptions from today: the Suspended ones (those
    collections suspended, or suspended by hand) and any Active one left."""
    account = accounts.require_account(ctx, row.account_id)
    before = account.status
    if account.status != AccountStatus.CANCELED:
        accounts.update_account(ctx, account, AccountChanges(status=AccountStatus.CANCELED.value))
    cancelled: list[int] = []
    refused: dict[str, str] = {}
    for status in (SubscriptionStatus.SUSPENDED, SubscriptionStatus.ACTIVE):
        for subscription_id, number in repo.subscriptions_of(
            ctx.session, ctx.tenant_id, row.account_id, status
        ):
            try:
                with ctx.session.begin_nested():
                    lifecycle.cancel_subscription(
                        ctx,
                        ObjectKey(subscription_id, number),
                        Cancellation(CancellationPolicy.SPECIFIC_DATE.value, today),
                    )
            except DomainError as exc:  # e.g. one that starts after today: left as it is
                refused[number] = exc.message
                continue
            cancelled.append(subscription_id)
    row.cancelled_on = today
    row.updated_at = ctx.clock.now()
    events.append(
        Event(
            row.account_id,
            CollectionEventType.CANCELLED,
            from_value=before,
            to_value=AccountStatus.CANCELED.value,
            details={"subscriptions": sorted(cancelled), "refused": refused},
        )
    )


def _write_off(ctx: ServiceContext, row: AccountRow, today: date, pending: list[Event]) -> None:
    events: list[Event] = []
    for invoice_id in repo.open_invoice_ids(ctx.session, ctx.tenant_id, row.account_id):
        invoice = invoicing.get_invoice(ctx, invoice_id)
        entry = invoicing.write_off_invoice(
            ctx, invoice, comment=WRITE_OFF_COMMENT, source=EntrySource.API
        )
        events.append(
            Event(
                row.account_id,
                CollectionEventType.WRITTEN_OFF,
                invoice_id=invoice_id,
                message=f"{invoice.invoice_number}: {entry.amount_minor} minor units",
                details={"writeOffId": entry.id, "amountMinor": entry.amount_minor},
            )
        )
    pending.extend(events)
