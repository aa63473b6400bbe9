"""Every console action (who, what, on which object, when) goes through ``record_action``.

For now it writes one line to the ``billcycle.console.actions`` logger; the audit log
(``billcycle.audit``, built beside this package) takes these calls over when it lands:
this is the one function to connect.
"""

from __future__ import annotations

import logging
from datetime import datetime

log = logging.getLogger("billcycle.console.actions")


def record_action(
    *,
    tenant_id: int,
    user_email: str,
    action: str,
    object_type: str,
    object_id: int | str,
    at: datetime,
    outcome: str = "ok",
    request_id: str | None = None,
) -> None:
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
