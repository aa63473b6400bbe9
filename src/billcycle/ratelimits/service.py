"""Checking a request against its tenant's and credential's limits.

A tenant's limits are read from the database at most every ``REFRESH_SECONDS`` per
process (a changed limit applies within that time); the counting itself touches no
database (see :mod:`billcycle.ratelimits.counter`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from billcycle.clock import Clock
from billcycle.db.session import read_only_unit, unit_of_work
from billcycle.errors import InvalidValue, NotFound
from billcycle.ratelimits import repository
from billcycle.ratelimits.counter import Decision, WindowCounter

REFRESH_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Limits:
    per_tenant: int
    per_client: int


class RateLimiter:
    def __init__(
        self,
        counter: WindowCounter,
        session_factory: sessionmaker[Session],
        machine_clock: Clock,
        *,
        default_per_tenant: int,
        default_per_client: int,
    ) -> None:
        self.counter = counter
        self._factory = session_factory
        self._clock = machine_clock
        self._defaults = Limits(default_per_tenant, default_per_client)
        # tenant id -> (limits, monotonic time they were read)
        self._limits: dict[int, tuple[Limits, float]] = {}

    def limits(self, tenant_id: int) -> Limits:
        known = self._limits.get(tenant_id)
        if known is not None and time.monotonic() - known[1] < REFRESH_SECONDS:
            return known[0]
        with read_only_unit(self._factory) as session:
            row = repository.tenant_limits(session, tenant_id)
        per_tenant, per_client = row if row is not None else (None, None)
        limits = Limits(
            self._defaults.per_tenant if per_tenant is None else per_tenant,
            self._defaults.per_client if per_client is None else per_client,
        )
        self._limits[tenant_id] = (limits, time.monotonic())
        return limits

    def check(self, tenant_id: int, credential: str) -> Decision:
        """Count one request of ``credential`` (a client id or API key id) in ``tenant_id``."""
        limits = self.limits(tenant_id)
        return self.counter.hit(
            [
                (f"t:{tenant_id}", limits.per_tenant),
                (f"c:{tenant_id}:{credential}", limits.per_client),
            ],
            self._clock.now().timestamp(),
        )


def set_limits(
    factory: sessionmaker[Session], tenant_id: int, per_tenant: int | None, per_client: int | None
) -> None:
    """Set a tenant's limits (requests a minute; None: the installation default; 0: none)."""
    for value in (per_tenant, per_client):
        if value is not None and value < 0:
            raise InvalidValue("A rate limit is a number of requests a minute, 0 or more.")
    with unit_of_work(factory) as session:
        if not repository.set_tenant_limits(session, tenant_id, per_tenant, per_client):
            raise NotFound(f"Tenant {tenant_id} does not exist.")
