"""The daily evaluation of one tenant's policy: standing first, then the day's
collection attempts, in one unit of work, at most once per business day.

The attempts are made by ONE payment run (Zuora's model) created with an explicit
``data[]`` record per invoice due an attempt; the run starts once this unit of work
commits, charges each account's default method through the gateway, and consults the
same policy's retry rules (``retry_allowed``), so retries and dunning cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from billcycle.collections import repository as repo
from billcycle.collections.attempts import due_attempts, record_attempts
from billcycle.collections.policy import tenant_policy
from billcycle.collections.standing import StandingPass, evaluate_standing
from billcycle.context import ServiceContext
from billcycle.paymentruns import service as payment_runs
from billcycle.paymentruns.spec import DataRecord, PaymentRunSpec

CREATED_BY = "collections"
COMMENT = "Collection attempt (dunning)"


@dataclass
class DayOutcome:
    day: date
    standing: StandingPass = field(default_factory=StandingPass)
    attempts: list[tuple[int, int]] = field(default_factory=list)
    payment_run_id: int | None = None
    payment_run_number: str | None = None

    @property
    def changed(self) -> bool:
        """Whether the evaluation did anything (an attempt, a standing change)."""
        s = self.standing
        return bool(
            self.attempts
            or s.poor_standing
            or s.good
            or s.suspended
            or s.resumed
            or s.cancelled
            or s.written_off
        )


def run_day(ctx: ServiceContext, day: date) -> DayOutcome | None:
    """Evaluate ``day`` for the tenant, or None when it (or a later day) already was, or
    the tenant has dunning turned off.

    The claim is a conditional UPDATE of the tenant's watermark in the same unit of work
    as the evaluation: a crash rolls both back, and a concurrent second worker finds the
    day taken.
    """
    tenant = tenant_policy(ctx)
    if not tenant.dunning_enabled:
        return None
    if not repo.claim_day(ctx.session, ctx.tenant_id, day):
        return None
    # Each account's first overdue invoice (its standing) and those the day's attempts
    # can still pick: not those attempted on or after their last possible attempt day.
    widest = max(
        (*tenant.attempt_days, *repo.override_attempt_days(ctx.session, ctx.tenant_id)), default=0
    )
    overdue = repo.overdue_invoices(
        ctx.session, ctx.tenant_id, day, keep=repo.FOR_ATTEMPTS, widest_attempt_day=widest
    )
    outcome = DayOutcome(day)
    outcome.standing = evaluate_standing(ctx, day, overdue=overdue)
    due = due_attempts(ctx, day, overdue, outcome.standing.rows)
    number: str | None = None
    if due:
        run = payment_runs.create_payment_run(
            ctx,
            PaymentRunSpec(
                target_date=day,
                data=tuple(
                    DataRecord(
                        account_id=attempt.account_id,
                        invoice_id=attempt.invoice_id,
                        comment=COMMENT,
                    )
                    for attempt in due
                ),
            ),
            created_by=CREATED_BY,
            # Each record's invoice was read in this unit of work by the overdue read:
            # posted, owing, of the account named (the run does not read them again).
            checked=[(attempt.invoice_id, None, None, None, COMMENT) for attempt in due],
        )
        outcome.payment_run_id = run.id
        number = outcome.payment_run_number = run.payment_run_number
    outcome.attempts = record_attempts(ctx, day, due, number)
    return outcome


ONE_DAY = timedelta(days=1)


def claim_only(ctx: ServiceContext, day: date) -> bool:
    """Mark ``day`` evaluated without evaluating it (a test clock that skipped the day
    because nothing was due on it); False when dunning is off or the day was taken."""
    if not tenant_policy(ctx).dunning_enabled:
        return False
    return repo.claim_day(ctx.session, ctx.tenant_id, day)


def next_due_day(ctx: ServiceContext, after: date) -> date | None:
    """The first business day after ``after`` on which the daily evaluation can change
    something by the passing of time alone, or None (dunning off, nothing pending).

    What time alone moves: an invoice falling overdue (the day after its due date:
    poor standing), an attempt day after a due date (the tenant's days and every
    account's own), the end of an account's grace period (suspension); while an account
    is suspended, every day (its newly active subscriptions are suspended, and its
    auto-cancel day comes). Paid invoices are not told apart (a due date of a paid
    invoice only adds a day with nothing to do). Everything else the evaluation reacts
    to is a change someone made (a payment, a posted invoice, an API call): a test clock
    evaluates the first day of each advance and the day after each instant at which
    work ran, which covers those.
    """
    tenant = tenant_policy(ctx)
    if not tenant.dunning_enabled:
        return None
    session, tenant_id = ctx.session, ctx.tenant_id
    tomorrow = after + ONE_DAY
    if repo.any_suspended(session, tenant_id):
        return tomorrow
    offsets = sorted({1, *tenant.attempt_days, *repo.override_attempt_days(session, tenant_id)})
    widest = offsets[-1]
    # For each offset k the first due date d with d + k > after: among the first
    # widest + 1 distinct due dates from after - widest + 1 on.
    dues = repo.due_dates_from(session, tenant_id, tomorrow - timedelta(days=widest), widest + 1)
    candidates: list[date] = []
    for k in offsets:
        for due in dues:
            if due + timedelta(days=k) > after:
                candidates.append(due + timedelta(days=k))
                break
    # The end of each grace period (the tenant's, or an account's own), as two small
    # reads: the earliest start under the tenant's grace, and the accounts with their own.
    earliest, own = repo.grace_ends(session, tenant_id)
    if earliest is not None:
        candidates.append(max(earliest + timedelta(days=tenant.grace_days), tomorrow))
    for since, grace_days in own:
        candidates.append(max(since + timedelta(days=grace_days), tomorrow))
    return min(candidates, default=None)
