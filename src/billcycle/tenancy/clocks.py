"""Each tenant's business clock, handed out per unit of work.

A production tenant reads the process's business clock (the OS clock in production) in
its own time zone. A sandbox tenant reads its **test clock**: the instant stored on its
row (``tenants.test_clock_at``), which moves only when the clock is advanced
(:mod:`billcycle.testclocks`), read once per unit of work so every stamp of one
transaction agrees and every process sees the same time. This provider is the one place
that decides which source and zone a tenant gets; services only see ``ctx.clock``.

The zone and whether the tenant is a sandbox are read from the tenant's row when a unit
of work first asks for the time, and then remembered for a while, so a request costs no
query for them: entries live ``ZONE_TTL`` of machine time (which bounds how long another
process may bill in an old zone should a zone ever change) and at most
``ZONE_CACHE_SIZE`` tenants are remembered. Being a sandbox never changes after a tenant
is created.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from billcycle.clock import UTC_ZONE, BusinessClock, Clock
from billcycle.tenancy import repository
from billcycle.tenancy.time_zones import zone_named

ZONE_TTL = timedelta(minutes=5)
ZONE_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class _Known:
    zone: ZoneInfo
    sandbox: bool
    until: datetime


class _TestClockSource:
    """A sandbox tenant's stored instant, read once (the first time it is asked for)."""

    __slots__ = ("_instant", "_session", "_tenant_id")

    def __init__(self, session: Session, tenant_id: int) -> None:
        self._session = session
        self._tenant_id = tenant_id
        self._instant: datetime | None = None

    def now(self) -> datetime:
        if self._instant is None:
            instant = repository.test_clock_at(self._session, self._tenant_id)
            if instant is None:
                raise LookupError(f"tenant {self._tenant_id} has no test clock")
            self._instant = instant
        return self._instant

    def today(self) -> date:
        return self.now().date()


class _FirstContactSource:
    """The source of a tenant not remembered yet: which one it is (the shared clock or
    the tenant's test clock) is decided by the same row read that finds its zone, and only
    when the time is first asked for."""

    __slots__ = ("_chosen", "_clocks", "_session", "_tenant_id")

    def __init__(self, clocks: BusinessClocks, session: Session, tenant_id: int) -> None:
        self._clocks = clocks
        self._session = session
        self._tenant_id = tenant_id
        self._chosen: Clock | None = None

    def now(self) -> datetime:
        if self._chosen is None:
            known = self._clocks.known(self._session, self._tenant_id)
            self._chosen = (
                _TestClockSource(self._session, self._tenant_id)
                if known.sandbox
                else self._clocks.source
            )
        return self._chosen.now()

    def today(self) -> date:
        return self.now().date()


class BusinessClocks:
    """One per process (see :class:`billcycle.runtime.Runtime`)."""

    def __init__(self, source: Clock, machine_clock: Clock) -> None:
        self.source = source
        self._machine_clock = machine_clock
        # tenant id -> what its row says, remembered for a while. Plain dict operations
        # are atomic under the GIL, which is all the sharing between request threads needs.
        self._known: dict[int, _Known] = {}
        self._shared = BusinessClock(source)

    def for_tenant(self, session: Session, tenant_id: int) -> BusinessClock:
        """``tenant_id``'s business clock; ``session`` reads its row when not remembered.
        Tenant 0 (work across tenants, such as the scheduler's scan) reads UTC."""
        if tenant_id <= 0:
            return self._shared
        known = self._known.get(tenant_id)
        if known is not None and known.until > self._machine_clock.now():
            if known.sandbox:
                return BusinessClock(_TestClockSource(session, tenant_id), known.zone)
            return BusinessClock(self.source, known.zone)
        return BusinessClock(
            _FirstContactSource(self, session, tenant_id),
            lambda: self.known(session, tenant_id).zone,
        )

    def remembered(self, tenant_id: int) -> BusinessClock | None:
        """``tenant_id``'s clock when it reads no database: a production tenant whose row
        is remembered (a sandbox's test clock is read per unit of work); None otherwise
        (:meth:`for_tenant` with a session then)."""
        known = self._known.get(tenant_id)
        if tenant_id <= 0 or known is None or known.sandbox:
            return None
        if known.until <= self._machine_clock.now():
            return None
        return BusinessClock(self.source, known.zone)

    def known(self, session: Session, tenant_id: int) -> _Known:
        """What the tenant's row says (from the cache while it is fresh)."""
        now = self._machine_clock.now()
        known = self._known.get(tenant_id)
        if known is not None and known.until > now:
            return known
        row = repository.tenant_time(session, tenant_id)
        if row is None:  # no such tenant (yet): nothing to remember
            return _Known(UTC_ZONE, False, now)
        name, test_clock_at = row
        known = _Known(zone_named(name), test_clock_at is not None, now + ZONE_TTL)
        if len(self._known) >= ZONE_CACHE_SIZE and tenant_id not in self._known:
            # Another thread may change the cache meanwhile: it is only a cache.
            with suppress(KeyError, StopIteration, RuntimeError):
                del self._known[next(iter(self._known))]
        self._known[tenant_id] = known
        return known
