"""Injectable time. Business code asks a Clock for ``now``/``today`` and never the OS.

Production wires :class:`SystemClock`; tests (and, later, per-tenant test clocks) use
:class:`FrozenClock`, which only moves when told to, so schedules and due dates can be
exercised without waiting.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """A tz-aware UTC instant."""
        ...

    def today(self) -> date:
        """The UTC calendar date of :meth:`now`."""
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
