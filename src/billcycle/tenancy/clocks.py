"""Each tenant's business clock, handed out per unit of work.

Today every tenant reads the same source (the process's business clock, the OS clock in
production) in its own time zone. This provider is the one place that decides which
source and zone a tenant gets: a sandbox tenant's test clock becomes a second source
chosen here, with no change to the services, which only see ``ctx.clock``.

The zone is read from the tenant's row when a unit of work first asks for a date, and
then remembered for a while, so a request costs no query for it: entries live
``ZONE_TTL`` of machine time (which bounds how long another process may bill in an old
zone should a zone ever change) and at most ``ZONE_CACHE_SIZE`` tenants are remembered.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from billcycle.clock import UTC_ZONE, BusinessClock, Clock
from billcycle.tenancy import repository
from billcycle.tenancy.time_zones import zone_named

ZONE_TTL = timedelta(minutes=5)
ZONE_CACHE_SIZE = 10_000


class BusinessClocks:
    """One per process (see :class:`billcycle.runtime.Runtime`)."""

    def __init__(self, source: Clock, machine_clock: Clock) -> None:
        self._source = source
        self._machine_clock = machine_clock
        # tenant id -> (zone, remembered until). Plain dict operations are atomic under
        # the GIL, which is all the sharing between request threads needs.
        self._zones: dict[int, tuple[ZoneInfo, datetime]] = {}
        self._shared = BusinessClock(source)

    def for_tenant(self, session: Session, tenant_id: int) -> BusinessClock:
        """``tenant_id``'s business clock; ``session`` reads its zone when not remembered.
        Tenant 0 (work across tenants, such as the scheduler's scan) reads UTC."""
        if tenant_id <= 0:
            return self._shared
        known = self._zones.get(tenant_id)
        if known is not None and known[1] > self._machine_clock.now():
            return BusinessClock(self._source, known[0])
        return BusinessClock(self._source, lambda: self._read_zone(session, tenant_id))

    def _read_zone(self, session: Session, tenant_id: int) -> ZoneInfo:
        now = self._machine_clock.now()
        name = repository.tenant_time_zone(session, tenant_id)
        if name is None:
            return UTC_ZONE  # no such tenant (yet): nothing to remember
        zone = zone_named(name)
        if len(self._zones) >= ZONE_CACHE_SIZE and tenant_id not in self._zones:
            # Another thread may change the cache meanwhile: it is only a cache.
            with suppress(KeyError, StopIteration, RuntimeError):
                del self._zones[next(iter(self._zones))]
        self._zones[tenant_id] = (zone, now + ZONE_TTL)
        return zone
