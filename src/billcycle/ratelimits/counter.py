"""Fixed-window request counters in memory that the server processes of one machine share.

``billcycle serve --workers N`` runs N processes behind one socket; the kernel hands each
connection to whichever accepts first, so a limit counted per process would let a client
through N times (or refuse it early when split as limit/N). The counters therefore live in
a small file mapped into every process (``BILLCYCLE_RATE_LIMIT_FILE``, created by
``serve``); one process alone uses anonymous memory. A check is a hash, one ``flock``
pair and a few ``struct`` reads and writes: ~2-4 µs (docs/benchmarks.md).

The table has a fixed size: a key hashes to a slot and probes a few neighbours. A slot
counting an older window is free to take. When every probed slot counts another key in
the current window (more than ~8,000 keys busy in one minute), the request is let
through uncounted: a rate limit protects the server and must never refuse for lack of
room.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SLOTS = 8192
PROBES = 8
_SLOT = struct.Struct("<QqI4x")  # key hash, window number, count
SIZE = SLOTS * _SLOT.size


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    # Seconds until the current window ends (RateLimit-Reset; Retry-After when refused).
    reset: int


@lru_cache(maxsize=65536)
def _hash(key: str) -> int:
    value = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    return value or 1  # 0 marks an empty slot


class WindowCounter:
    def __init__(self, path: Path | None = None, window_seconds: int = 60) -> None:
        self.window = window_seconds
        self._lock = threading.Lock()
        self._fd: int | None = None
        if path is None:
            self._map = mmap.mmap(-1, SIZE)
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size < SIZE:
                os.ftruncate(fd, SIZE)
            self._fd = fd
            self._map = mmap.mmap(fd, SIZE)

    def close(self) -> None:
        self._map.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def hit(self, keys: list[tuple[str, int]], now: float) -> Decision:
        """Count one request against every ``(key, limit)`` (limit <= 0: not limited), all
        or none: refused when any key is at its limit. The answer names the key closest
        to its limit, as Zuora's RateLimit-* headers do."""
        window = int(now // self.window)
        reset = max(1, int((window + 1) * self.window - now + 0.999))
        limited = [(key, limit) for key, limit in keys if limit > 0]
        if not limited:
            return Decision(True, 0, 0, reset)
        with self._lock:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                return self._hit(limited, window, reset)
            finally:
                if self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _hit(self, keys: list[tuple[str, int]], window: int, reset: int) -> Decision:
        found: list[tuple[int, int, int, int]] = []  # offset, hash, count, limit
        for key, limit in keys:
            slot = self._slot(_hash(key), window)
            if slot is not None:
                found.append((slot[0], slot[1], slot[2], limit))
        if not found:
            return Decision(True, keys[0][1], keys[0][1], reset)
        tightest = min(found, key=lambda item: item[3] - item[2])
        if any(count >= limit for _, _, count, limit in found):
            return Decision(False, tightest[3], 0, reset)
        for offset, hashed, count, _ in found:
            _SLOT.pack_into(self._map, offset, hashed, window, count + 1)
        return Decision(True, tightest[3], tightest[3] - tightest[2] - 1, reset)

    def _slot(self, hashed: int, window: int) -> tuple[int, int, int] | None:
        """(offset, hash, count in this window) of the key's slot, claiming a free one."""
        start = hashed % SLOTS
        free = None
        for probe in range(PROBES):
            offset = ((start + probe) % SLOTS) * _SLOT.size
            stored, stored_window, count = _SLOT.unpack_from(self._map, offset)
            if stored == hashed:
                return offset, hashed, count if stored_window == window else 0
            if free is None and (stored == 0 or stored_window != window):
                free = offset
        if free is None:
            return None
        return free, hashed, 0
