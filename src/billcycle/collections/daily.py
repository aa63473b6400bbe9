"""The daily evaluation of one tenant's policy: standing first, then the day's
collection attempts, in one unit of work, at most once per business day.

The attempts are made by ONE payment run (Zuora's model) created with an explicit
``data[]`` record per invoice due an attempt; the run starts once this unit of work
commits, charges each account's default method through the gateway, and consults the
same policy's retry rules (``retry_allowed``), so retries and dunning cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

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


def run_day(ctx: ServiceContext, day: date) -> DayOutcome | None:
    """Evaluate ``day`` for the tenant, or None when it (or a later day) already was, or
    the tenant has dunning turned off.

    The claim is a conditional UPDATE of the tenant's watermark in the same unit of work
    as the evaluation: a crash rolls both back, and a concurrent second worker finds the
    day taken.
    """
    if not tenant_policy(ctx).dunning_enabled:
        return None
    if not repo.claim_day(ctx.session, ctx.tenant_id, day):
        return None
    overdue = repo.overdue_invoices(ctx.session, ctx.tenant_id, day)
    outcome = DayOutcome(day)
    outcome.standing = evaluate_standing(ctx, day, overdue=overdue)
    due = due_attempts(ctx, day, overdue)
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
        )
        outcome.payment_run_id = run.id
        number = outcome.payment_run_number = run.payment_run_number
    outcome.attempts = record_attempts(ctx, day, due, number)
    return outcome
