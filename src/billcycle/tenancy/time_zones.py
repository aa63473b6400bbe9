"""A tenant's time zone: which IANA names are accepted.

Zuora keeps one time zone per tenant, and billing dates are calendar dates there (see
:class:`billcycle.clock.BusinessClock`). Names are IANA keys exactly as the tz database
spells them ("Europe/Paris", "UTC"); anything else is refused with one clear message
rather than guessed at, because a wrong zone silently moves every invoice date.
"""

from __future__ import annotations

import logging
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from billcycle.errors import InvalidValue

log = logging.getLogger(__name__)

DEFAULT_TIME_ZONE = "UTC"
MAX_NAME_LENGTH = 64  # the column's width; the longest IANA name has 32 characters


@cache
def _known() -> frozenset[str]:
    # Read once per process: listing the tz database walks its files (~20 ms).
    return frozenset(available_timezones()) | {DEFAULT_TIME_ZONE}


def check_time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone this installation knows, else InvalidValue."""
    if name not in _known():
        raise InvalidValue(
            f"Unknown time zone {name!r}: use an IANA name such as Europe/Paris or UTC."
        )
    return name


@cache
def zone_named(name: str) -> ZoneInfo:
    """The zone of a stored name; a name the tz database no longer knows reads as UTC
    (an operating-system upgrade must not stop a tenant from billing)."""
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, KeyError):
        log.warning("time zone %r is not in the tz database; billing dates use UTC", name)
        return ZoneInfo(DEFAULT_TIME_ZONE)
