"""What every domain service call needs: the unit of work's session, the tenant, the clock."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from billcycle.clock import Clock


@dataclass(frozen=True, slots=True)
class ServiceContext:
    session: Session
    tenant_id: int
    clock: Clock
