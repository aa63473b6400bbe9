"""Recording a CLI command that changes data in the tenant's audit log."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence

from billcycle.audit import service as audit
from billcycle.db.session import unit_of_work
from billcycle.runtime import Runtime


def cli_actor() -> str:
    """``cli:<operating-system user>`` (BILLCYCLE_ACTOR overrides it, e.g. in scripts)."""
    named = os.environ.get("BILLCYCLE_ACTOR")
    if named:
        return f"cli:{named}"
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def record_cli(
    runtime: Runtime,
    tenant_id: int,
    action: str,
    object_ids: Sequence[str | int] = (),
    outcome: str = "ok",
) -> None:
    with unit_of_work(runtime.session_factory) as session:
        audit.record(
            session,
            tenant_id,
            cli_actor(),
            action,
            None,
            None,
            object_ids,
            outcome,
            None,
            None,
            occurred_at=runtime.machine_clock.now(),
        )
