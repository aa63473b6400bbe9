"""Injectable time, in two kinds that must not be confused.

* **Business time** is what billing reads: today's date, due dates, scheduled runs, the
  timestamps of billing events. Each tenant reads it through its :class:`BusinessClock`,
  which turns the instant of an underlying clock into calendar dates in the tenant's time
  zone. A production tenant's business clock reads the real clock; a sandbox tenant's
  reads its test clock (moved by hand, to see a year of billing in a minute: see
  billcycle.testclocks), another source behind the same type.
* **Machine time** is what the processes coordinate on: chunk leases and the reaper, token
  expiry, idempotency windows, rate limits, retry back-off. It is one clock per process
  and always the OS clock in production: a tenant's test clock moving a month ahead must
  not expire a worker's lease, nor a frozen one keep a dead worker's lease alive.

Code never reads the OS directly: production wires :class:`SystemClock`; tests use
:class:`FrozenClock`, which only moves when told to, one for each kind of time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """A source of instants (and, for the convenience of UTC callers, their UTC date)."""

    def now(self) -> datetime:
        """A tz-aware UTC instant."""
        ...

    def today(self) -> date:
        """The calendar date of :meth:`now` in this clock's zone (UTC unless it has one)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().date()


class FrozenClock:
    """A clock that stands still until moved; thread-safe because workers share it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FrozenClock needs a tz-aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def today(self) -> date:
        return self.now().date()

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("FrozenClock needs a tz-aware datetime")
        with self._lock:
            self._now = instant.astimezone(UTC)


UTC_ZONE = ZoneInfo("UTC")


class BusinessClock:
    """One tenant's billing time: instants from ``source``, dates in the tenant's zone.

    ``now()`` stays a UTC instant (instants are stored and compared in UTC everywhere);
    only the step from an instant to a billing date depends on where the tenant is, so a
    tenant in Paris bills 11 January from 23:00 UTC on the 10th.

    ``zone`` may be given as a function that finds it, called once at the first date
    asked for: a unit of work that never turns an instant into a date (most writes only
    stamp ``now()``) never pays for looking the zone up.
    """

    __slots__ = ("_find_zone", "_zone", "source")

    def __init__(self, source: Clock, zone: ZoneInfo | Callable[[], ZoneInfo] = UTC_ZONE) -> None:
        self.source = source
        self._zone: ZoneInfo | None
        self._find_zone: Callable[[], ZoneInfo] | None
        if isinstance(zone, ZoneInfo):
            self._zone, self._find_zone = zone, None
        else:
            self._zone, self._find_zone = None, zone

    @property
    def zone(self) -> ZoneInfo:
        zone = self._zone
        if zone is None:
            assert self._find_zone is not None
            zone = self._zone = self._find_zone()
        return zone

    def now(self) -> datetime:
        return self.source.now()

    def today(self) -> date:
        return self.date_of(self.source.now())

    def date_of(self, instant: datetime) -> date:
        """The tenant's calendar date at ``instant`` (a tz-aware datetime)."""
        if instant.tzinfo is None:
            raise ValueError("date_of needs a tz-aware datetime")
        return instant.astimezone(self.zone).date()
