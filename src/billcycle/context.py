"""What every domain service call needs: the unit of work's session, the tenant, its
clocks, and a way to start background work once the unit of work commits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from billcycle.clock import BusinessClock, Clock
from billcycle.db.session import after_commit

if TYPE_CHECKING:
    from billcycle.jobs.dispatch import Dispatcher


# ``session.info`` key holding a limited call's organizations (sorted ids): every read of
# that session keeps to their accounts and what belongs to them (billcycle.access.scope).
ORG_SCOPE_KEY = "billcycle.org_ids"


@dataclass(frozen=True, slots=True)
class ServiceContext:
    session: Session
    tenant_id: int
    # The tenant's business time: what billing reads (today, due dates, event timestamps).
    clock: BusinessClock
    # The process's machine time: leases, token expiry, idempotency windows, back-off.
    machine_clock: Clock
    dispatcher: Dispatcher | None = None
    # Multi-org: the organizations this call acts in (Zuora-Org-Ids, or the client's
    # grants); None: not limited. Every read of the session keeps to them
    # (billcycle.access.scope).
    org_ids: frozenset[int] | None = None

    def enqueue(self, task: str, **kwargs: Any) -> None:
        """Run ``task`` in the background after this unit of work commits (never before:
        a worker must not see work whose transaction might still roll back)."""
        from billcycle.jobs.dispatch import TaskCall

        dispatcher = self.dispatcher
        if dispatcher is None:
            raise RuntimeError("this context has no dispatcher: background work is unavailable")
        call = TaskCall(task, kwargs)
        after_commit(self.session, lambda: dispatcher.dispatch(call))
