"""Every console action (who, what, on which object, when) goes through ``record_action``,
which appends it to the tenant's audit log (``billcycle.audit``, the same log as API and
CLI calls, with the actor ``user:<email>``) in a unit of work of its own, after the
action's own unit of work, and writes one line to the ``billcycle.console.actions``
logger."""

from __future__ import annotations

import logging
from datetime import datetime

from billcycle.audit import service as audit
from billcycle.db.session import unit_of_work
from billcycle.runtime import Runtime

log = logging.getLogger("billcycle.console.actions")


def record_action(
    runtime: Runtime,
    *,
    tenant_id: int,
    user_email: str,
    action: str,
    object_type: str,
    object_id: int | str,
    at: datetime,
    outcome: str = "ok",
    request_id: str | None = None,
    route: str | None = None,
) -> None:
    with unit_of_work(runtime.session_factory) as session:
        audit.record(
            session,
            tenant_id,
            f"user:{user_email}",
            f"console.{action}",
            "POST",
            route,
            [f"{object_type}:{object_id}"],
            outcome,
            request_id,
            None,
            occurred_at=at,
        )
    log.info(
        "console action tenant=%s user=%s action=%s object=%s:%s at=%s outcome=%s request=%s",
        tenant_id,
        user_email,
        action,
        object_type,
        object_id,
        at.isoformat(),
        outcome,
        request_id,
    )
