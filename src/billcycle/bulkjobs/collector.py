"""The cyclic garbage collector paused around a bulk job's page or chunk of rows."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector off meanwhile (process-wide; back on after, unless
    another thread had it off already, whose own exit turns it back on).

    A bulk job's chunk or page holds thousands of rows (tuples, lists) alive at once:
    enough to set off young collections that promote them, and every few chunks a full
    collection of the process's whole heap (~300,000 objects of the application itself
    where it was not frozen at start-up: ``billcycle worker``, the benches; ~15-20% of a
    BulkPayment chunk's CPU at 100,000 records). Rows hold no cycle: reference counting
    frees them when the chunk or page is done, so nothing is left for the collector,
    and it runs as before after."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
