"""The SQL of rate limits: a tenant's configured limits."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from billcycle.tenancy.models import Tenant


def tenant_limits(session: Session, tenant_id: int) -> tuple[int | None, int | None] | None:
    """(tenant limit, per-credential limit) a minute, None each for the default; None when
    there is no such tenant (the row read is the tenant's own: its id is the tenant id)."""
    row = session.execute(
        select(Tenant.rate_limit_per_minute, Tenant.client_rate_limit_per_minute).where(
            Tenant.id == tenant_id
        )
    ).first()
    return None if row is None else (row[0], row[1])


def set_tenant_limits(
    session: Session, tenant_id: int, per_tenant: int | None, per_client: int | None
) -> bool:
    """Tenant: the row written is the tenant's own (its id is the tenant id)."""
    result = session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(rate_limit_per_minute=per_tenant, client_rate_limit_per_minute=per_client)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
