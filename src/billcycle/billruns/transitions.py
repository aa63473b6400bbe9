"""A bill run's status change, with its ``bill_run.status_changed`` event in the same
transaction (one event per change, whatever the size of the run)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from billcycle.billruns import repository as repo
from billcycle.billruns.models import BillRun
from billcycle.context import ServiceContext
from billcycle.events import service as events
from billcycle.events.statuses import EventType


def transition(
    ctx: ServiceContext, run: BillRun, allowed: Sequence[str], to_status: str, **values: Any
) -> bool:
    """``repo.transition`` and, when the run moved, its event."""
    previous = run.status
    moved = repo.transition(ctx.session, run, allowed, to_status, **values)
    if moved:
        events.emit_status_change(ctx, EventType.BILL_RUN_STATUS_CHANGED, run, previous)
    return moved
