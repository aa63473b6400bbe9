"""A bulk job's status change, with its ``bulk_job.status_changed`` event in the same
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from billcycle.bulkjobs import repository as repo
from billcycle.bulkjobs.statuses import BulkJobStatus
from billcycle.context import ServiceContext
from billcycle.events import service as events
from billcycle.events.statuses import EventType


def transition(
    ctx: ServiceContext,
    job_id: int,
    allowed: Sequence[BulkJobStatus],
    to_status: BulkJobStatus,
    **values: Any,
) -> bool:
    """``repo.transition`` and, when the job moved, its event."""
    moved = repo.transition(ctx.session, job_id, allowed, to_status, **values)
    if moved:
        job = repo.get_job(ctx.session, ctx.tenant_id, job_id)
        if job is not None:
            ctx.session.refresh(job)
            previous = next(iter(allowed)).value if len(allowed) == 1 else None
            events.emit_status_change(ctx, EventType.BULK_JOB_STATUS_CHANGED, job, previous)
    return moved
