"""When a failed delivery is tried again: exponential back-off (5 s, then x4 or so),
capped at 12 h between attempts, for up to three days after the first attempt."""

from __future__ import annotations

from datetime import timedelta

# Delay before attempt 2, 3, ...; after the list, every 12 hours until RETRY_WINDOW ends.
DELAYS = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
)
RETRY_WINDOW = timedelta(days=3)


def delay_after(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt (1-based)."""
    return DELAYS[min(attempts, len(DELAYS)) - 1]
