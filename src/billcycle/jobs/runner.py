"""Executes tasks: the built-in ``drain`` and ``tick`` plus the domain's registered tasks.

``drain(kind, parent_id)`` loops: claim the parent's next chunk (committed at once, so
other workers skip it), do its work and mark it done in ONE transaction, which also
claims the chunk after it (one commit per chunk), repeat until no chunk is left.
Several drains of one parent share its chunks; a drain whose process dies leaves its
chunk to be re-claimed when the lease expires, by another drain or by one the reaper
dispatches on the next tick.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from billcycle import logs, metrics
from billcycle.context import ServiceContext
from billcycle.db.session import unit_of_work
from billcycle.jobs import chunks
from billcycle.jobs.dispatch import Dispatcher, TaskCall
from billcycle.jobs.registry import REGISTRY, require_loaded
from billcycle.runtime import Runtime

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


class LeaseLost(Exception):
    """The chunk was taken over (our lease ran out) or cancelled while we worked."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class JobRunner:
    def __init__(self, runtime: Runtime, dispatcher: Dispatcher) -> None:
        require_loaded()
        self.runtime = runtime
        self.dispatcher = dispatcher
        settings = runtime.settings
        self.lease = timedelta(seconds=settings.worker_lease_seconds)
        self.stale_after = timedelta(seconds=settings.worker_lease_seconds)
        self.fanout = settings.worker_fanout
        # Set to stop every drain of this process after its current chunk.
        self.stopping = threading.Event()
        self._stop_checks = threading.local()

    # -- entry points ----------------------------------------------------------------------

    def execute(self, call: TaskCall) -> None:
        if call.name == "drain":
            self.drain(str(call.kwargs["kind"]), int(call.kwargs["parent_id"]))
        elif call.name == "tick":
            self.tick()
        else:
            fn = REGISTRY.tasks.get(call.name)
            if fn is None:
                raise LookupError(f"unknown task {call.name}")
            fn(self, **call.kwargs)

    def dispatch(self, name: str, **kwargs: Any) -> None:
        """Run task ``name`` in the background now (not tied to a transaction)."""
        self.dispatcher.dispatch(TaskCall(name, kwargs))

    def context(self, tenant_id: int) -> Any:
        """A unit of work for ``tenant_id`` whose enqueued tasks go to this dispatcher."""
        return self.runtime.service_context(tenant_id)

    def start_drains(self, ctx: ServiceContext, kind: str, parent_id: int, count: int) -> None:
        """Dispatch drains for a parent once ``ctx`` commits (as many as can usefully run
        in parallel: no more than its chunks)."""
        for _ in range(max(1, min(self.fanout, count))):
            ctx.enqueue("drain", kind=kind, parent_id=parent_id)

    def plan_and_drain(
        self, ctx: ServiceContext, kind: str, parent_id: int, ranges: Sequence[chunks.ChunkRange]
    ) -> bool:
        """Plan a parent's chunks of ``kind`` over ``ranges`` and dispatch its drains once
        ``ctx`` commits (a run's start, a re-run); False when there is no chunk, and the
        caller finishes the parent itself."""
        chunks.plan(
            ctx.session,
            tenant_id=ctx.tenant_id,
            kind=kind,
            parent_id=parent_id,
            ranges=ranges,
            now=ctx.machine_clock.now(),
        )
        if not ranges:
            return False
        self.start_drains(ctx, kind, parent_id, len(ranges))
        return True

    # -- drain -----------------------------------------------------------------------------

    def drain(self, kind: str, parent_id: int) -> int:
        with logs.bound(task="drain", kind=kind, parent_id=parent_id):
            return self._drain(kind, parent_id)

    def _drain(self, kind: str, parent_id: int) -> int:
        handler = REGISTRY.chunk_handlers[kind]
        worker = worker_name()
        done = 0
        chunk = self._claim(kind, parent_id, worker)
        while chunk is not None:
            metrics.CHUNKS_CLAIMED.labels(kind).inc()
            claimed: chunks.ClaimedChunk | None = None
            started = time.monotonic()
            stopping = False
            try:
                with self.context(chunk.tenant_id) as ctx:
                    handler.process(self, ctx, chunk)
                    now = self.runtime.machine_clock.now()
                    if not chunks.complete(ctx.session, chunk.id, worker=worker, now=now):
                        raise LeaseLost(f"chunk {chunk.id} is no longer ours")
                    # The next claim commits with this chunk's work: one commit per chunk;
                    # a worker asked to stop (SIGTERM) claims nothing more.
                    stopping = self.stop_requested()
                    if not stopping:
                        claimed = self._claim(kind, parent_id, worker, ctx.session)
            except LeaseLost:
                metrics.CHUNKS_RETRIED.labels(kind).inc()
                log.warning(
                    "chunk %s of %s %s lost its lease; its work was rolled back",
                    chunk.id,
                    kind,
                    parent_id,
                )
                chunk = None if self.stop_requested() else self._claim(kind, parent_id, worker)
                continue
            except Exception as exc:
                log.exception(
                    "chunk %s of %s %s failed (attempt %s)",
                    chunk.id,
                    kind,
                    parent_id,
                    chunk.attempts,
                )
                self._after_failure(handler, chunk, worker, f"{type(exc).__name__}: {exc}")
                chunk = None if self.stop_requested() else self._claim(kind, parent_id, worker)
                continue
            done += 1
            metrics.CHUNKS_COMPLETED.labels(kind).inc()
            log.info(
                "chunk done",
                extra={
                    "chunk_id": chunk.id,
                    "chunk_seq": chunk.seq,
                    "tenant": chunk.tenant_id,
                    "attempt": chunk.attempts,
                    "records": chunk.size,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            if stopping:
                self._hand_back(kind, parent_id)
                break
            chunk = claimed
        return done

    # -- stopping --------------------------------------------------------------------------

    def stop_requested(self) -> bool:
        """The process is stopping (SIGTERM): finish the chunk in hand, claim no more."""
        if self.stopping.is_set():
            return True
        check = getattr(self._stop_checks, "check", None)
        return bool(check is not None and check())

    @contextmanager
    def stop_signal(self, check: Callable[[], bool]) -> Iterator[None]:
        """While the block runs in this thread, ``check()`` true means stop (procrastinate
        asks a job to stop when its worker shuts down)."""
        previous = getattr(self._stop_checks, "check", None)
        self._stop_checks.check = check
        try:
            yield
        finally:
            self._stop_checks.check = previous

    def _hand_back(self, kind: str, parent_id: int) -> None:
        """Stopping with chunks left: dispatch a drain for them now, so another worker
        takes them at once rather than when the reaper finds them."""
        with unit_of_work(self.runtime.session_factory) as session:
            left = chunks.open_count(session, kind=kind, parent_id=parent_id)
        if left:
            self.dispatch("drain", kind=kind, parent_id=parent_id)
        log.info("worker stopping: chunk finished, work handed back", extra={"chunks_left": left})

    def _claim(
        self, kind: str, parent_id: int, worker: str, session: Session | None = None
    ) -> chunks.ClaimedChunk | None:
        """Claim the parent's next chunk in ``session`` (committing with it), or in a
        transaction of its own, committed at once so that other workers skip the chunk."""
        if session is not None:
            return chunks.claim_next(
                session,
                kind=kind,
                parent_id=parent_id,
                worker=worker,
                now=self.runtime.machine_clock.now(),
                lease=self.lease,
            )
        with unit_of_work(self.runtime.session_factory) as own:
            return self._claim(kind, parent_id, worker, own)

    def _after_failure(
        self, handler: Any, chunk: chunks.ClaimedChunk, worker: str, error: str
    ) -> None:
        with self.context(chunk.tenant_id) as ctx:
            if chunk.attempts >= MAX_ATTEMPTS:
                # The parent first, then the chunk: the order in which a cancel locks them.
                handler.give_up(self, ctx, chunk, error)
                chunks.mark_failed(
                    ctx.session,
                    chunk.id,
                    worker=worker,
                    error=error,
                    now=self.runtime.machine_clock.now(),
                )
            else:
                chunks.release(ctx.session, chunk.id, worker=worker, error=error)
                ctx.enqueue("drain", kind=chunk.kind, parent_id=chunk.parent_id)
        if chunk.attempts >= MAX_ATTEMPTS:
            metrics.CHUNKS_FAILED.labels(chunk.kind).inc()
        else:
            metrics.CHUNKS_RETRIED.labels(chunk.kind).inc()

    # -- tick ------------------------------------------------------------------------------

    def tick(self) -> None:
        """The scheduler's heartbeat: domain periodic work, then the reapers."""
        for fn in REGISTRY.periodic:
            try:
                fn(self)
            except Exception:
                log.exception("periodic task %s failed", getattr(fn, "__name__", fn))
        self.reap()
        try:
            self.dispatcher.recover_stalled(self.stale_after)
        except Exception:
            log.exception("recovering stalled queue jobs failed")

    def reap(self) -> int:
        """Dispatch a drain for every parent that has chunks nobody is working on."""
        with unit_of_work(self.runtime.session_factory) as session:
            lost = chunks.parents_with_lost_chunks(
                session, now=self.runtime.machine_clock.now(), stale_after=self.stale_after
            )
        dispatched = 0
        for kind, parent_id in lost:
            if kind not in REGISTRY.chunk_handlers:
                # No handler in this process (a kind of another version, or of a test): a
                # drain could only fail; the chunks stay for a process that knows them.
                log.warning("chunks of unknown kind %s (parent %s) left alone", kind, parent_id)
                continue
            self.dispatch("drain", kind=kind, parent_id=parent_id)
            dispatched += 1
        return dispatched
