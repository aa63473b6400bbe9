"""Background work of usage: loading an uploaded usage file.

The load is the import's one work chunk (``imports.IMPORT_CHUNK``), run by the job
layer's drain: claimed with a lease, done in the transaction that writes the rows, so a
worker killed mid-load leaves the chunk to be claimed again (by the reaper's drain once
the lease runs out) and the file is loaded exactly once, whole or not at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from billcycle.context import ServiceContext
from billcycle.db.bulk import is_postgres
from billcycle.db.session import unit_of_work
from billcycle.jobs import chunks
from billcycle.jobs.chunks import ClaimedChunk
from billcycle.jobs.registry import chunk_handler, task
from billcycle.jobs.runner import JobRunner, LeaseLost, worker_name
from billcycle.usage import imports

log = logging.getLogger(__name__)

INTERNAL_ERROR = "The file could not be loaded: an internal error occurred (see the server log)."


@task("usage.import")
def load_import(runner: JobRunner, *, tenant_id: int, import_id: int) -> None:
    """Pending -> Processing (committed, so a client polling sees it), then the load as
    the import's chunk. A second delivery finds the chunk done and loads nothing."""
    with runner.context(tenant_id) as ctx:
        imports.begin_import(ctx, import_id)
    runner.drain(imports.IMPORT_CHUNK, import_id)


class LoadChunk:
    """One import's whole load in the drain's unit of work (which marks the chunk done).

    A long load renews its lease between batches, in a short transaction of its own, so
    no other worker takes over a live load. PostgreSQL only: on SQLite the load holds the
    single write lock, a second transaction could not commit, and a take-over could not
    either (its claim waits for the lock), so the lease needs no renewal there.
    """

    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None:
        keep = _lease_keeper(runner, chunk) if is_postgres(ctx.session) else None
        imports.process_import(ctx, chunk.parent_id, keep)

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        log.error("usage import %s failed every attempt: %s", chunk.parent_id, error)
        imports.fail_import(ctx, chunk.parent_id, INTERNAL_ERROR)


def _lease_keeper(runner: JobRunner, chunk: ClaimedChunk) -> Callable[[], None]:
    runtime = runner.runtime
    worker = worker_name()  # the drain's name for this thread: the chunk's owner
    every = runner.lease.total_seconds() / 3
    last = [time.monotonic()]

    def keep() -> None:
        if time.monotonic() - last[0] < every:
            return
        with unit_of_work(runtime.session_factory) as session:
            kept = chunks.extend_lease(
                session,
                chunk.id,
                worker=worker,
                now=runtime.machine_clock.now(),
                lease=runner.lease,
            )
        if not kept:
            raise LeaseLost(f"usage import chunk {chunk.id} is no longer ours")
        last[0] = time.monotonic()

    return keep


chunk_handler(imports.IMPORT_CHUNK, LoadChunk())
