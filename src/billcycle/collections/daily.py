"""The daily evaluation of one tenant's policy: standing first, then the day's
collection attempts, in one unit of work, at most once per business day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from billcycle.collections import repository as repo
from billcycle.collections.attempts import schedule_attempts
from billcycle.collections.policy import default_row_values
from billcycle.collections.standing import StandingPass, evaluate_standing
from billcycle.context import ServiceContext


@dataclass
class DayOutcome:
    day: date
    standing: StandingPass = field(default_factory=StandingPass)
    attempts: list[tuple[int, int]] = field(default_factory=list)


def run_day(ctx: ServiceContext, day: date) -> DayOutcome | None:
    """Evaluate ``day`` for the tenant, or None when it (or a later day) already was.

    The claim is a conditional UPDATE of the tenant's watermark in the same unit of work
    as the evaluation: a crash rolls both back, and a concurrent second worker finds the
    day taken.
    """
    repo.ensure_policy(ctx.session, ctx.tenant_id, default_row_values(), ctx.clock.now())
    if not repo.claim_day(ctx.session, ctx.tenant_id, day):
        return None
    overdue = repo.overdue_invoices(ctx.session, ctx.tenant_id, day)
    outcome = DayOutcome(day)
    outcome.standing = evaluate_standing(ctx, day, overdue=overdue)
    outcome.attempts = schedule_attempts(ctx, day, overdue)
    return outcome
