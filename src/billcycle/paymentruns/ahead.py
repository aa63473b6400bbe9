"""A payment run's next slice decided ahead (SQLite): the decision read of the slice the
collecting thread begins next (``chunk_repository.slice_rows``, ~10% of that thread's
time) runs on a thread and read connection of its own while the collecting thread
finishes the slice before it, and is used only when it is exactly what the read under
the write lock would answer.

SQLite has one writer: the collecting thread (begin, finish, begin, ...) is a payment
run's bottleneck, and a read on another connection runs beside it (WAL), outside the
GIL while SQLite steps. Why the rows read ahead are the rows the begin would read:

1. The collecting thread works on ONE connection for the whole chunk (``collect``
   pins it). At the start of the unit of work U that comes before the begin B (the
   finish of the slice before, or, for the chunk's second slice, the chunk's first
   begin) it reads that connection's ``PRAGMA data_version`` (v0), then asks for the
   read: the read's snapshot is taken after v0, so it is the state at v0, or that state
   plus U's commit (a commit is whole), plus whatever other connections committed
   after v0.
2. B, under the write lock, reads ``data_version`` again on the same connection. It
   changes for every commit of ANOTHER connection and never for the connection's own,
   so unchanged means nothing but U committed since v0: the state B reads against is
   the state at v0 plus U, and the rows read ahead saw the state at v0 or that same
   state. Changed (a payment taken through the API, the reconciler, another worker, a
   send thread writing billcycle's tables): the rows are read again under the lock.
3. U's own changes must not move any of B's decisions when the read came before U's
   commit. The decision read reads the slice's records (by account range), its
   invoices' balances, intentions and pending payments, its accounts' default methods
   and the accounts (currency and gateway). U writes its own slice's records (another
   range), payments on its records' invoices (a begin's intentions, a finish's
   settling: ledger entries, intentions forgotten), its payments' methods' counters (a
   finish) and nothing of the accounts' or invoices' rows the read takes. So the rows
   are used only when B's range is not U's and no row's invoice or method is one of
   U's payments' (``Finishing``; in a run each record's invoice is its account's, so
   they never meet, and a record with another account's invoice is read again). A
   second unit of work between the ask and B (not the pipeline's order) discards it.

PostgreSQL keeps reading under its own transaction (no pinned connection, nothing read
ahead): its begin is not the only writer's critical path."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from billcycle.db.bulk import dbapi
from billcycle.paymentruns import chunk_repository as chunk_repo
from billcycle.paymentruns import setbased
from billcycle.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finishing:
    """What the unit of work running while the read is ahead (a slice's finish, or the
    chunk's first begin) may change of what the read reads: its slice's account range,
    and its payments' invoices and methods."""

    first_account: int
    last_account: int
    invoices: frozenset[int]
    methods: frozenset[int]

    def touches(self, args: dict[str, Any], rows: list[Any]) -> bool:
        """Whether the finish could have changed any of ``rows`` (a read with ``args``):
        the ranges meet, or a row's invoice (column 4) or method (column 6) is one of
        the finish's."""
        if not (
            args["last_account"] < self.first_account or self.last_account < args["first_account"]
        ):
            return True
        invoices, methods = self.invoices, self.methods
        return any(row[4] in invoices or row[6] in methods for row in rows)


@dataclass
class _Asked:
    args: dict[str, Any]
    connection: Any  # the collecting thread's DBAPI connection (compared by identity)
    version: int
    # The decisions, whether ``between`` (the unit of work running meanwhile, when known
    # at the ask) could have changed them, told in the reader's thread, not the
    # writer's, and the rows only when it is not known (for :meth:`take` to tell).
    rows: Future[tuple[setbased.Decisions, bool | None, list[Any] | None]]
    between: Finishing | None = None


class DecisionsAhead:
    """The collecting thread's reader (see the module's note): :meth:`start` in a unit of
    work (a finish, or the chunk's first begin) before it writes, :meth:`take` in the
    begin after it under the write lock, given what that unit wrote. ``used`` and
    ``read_again`` count the slices that took the rows read ahead and those read again
    under the lock."""

    def __init__(self, runtime: Runtime, tenant_id: int) -> None:
        self._runtime = runtime
        self._tenant_id = tenant_id
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="payment-run-ahead")
        # The reader's own connection, opened and used in its thread only: no statement
        # of another unit of work left open on it can hold an older snapshot.
        self._connection: Connection | None = None
        self._asked: _Asked | None = None
        self.used = 0
        self.read_again = 0

    def start(
        self, session: Session, args: dict[str, Any], between: Finishing | None = None
    ) -> None:
        """Read the slice of ``args`` ahead, from now: ``session`` is the unit's that runs
        before the begin that uses the rows, on the connection that begin will have,
        before the unit writes. ``between``: what that unit may change, when known now
        (a finish): the reader thread tells whether it touches the rows, which
        :meth:`take` then need not (~2% of the collecting thread's Python)."""
        self._asked = None
        version = chunk_repo.data_version(session)
        connection = dbapi(session)
        self._asked = _Asked(
            args, connection, version, self._reader.submit(self._read, args, between), between
        )

    def discard(self) -> None:
        """Forget the read asked for (another unit of work runs before its begin)."""
        self._asked = None

    def _read(
        self, args: dict[str, Any], between: Finishing | None
    ) -> tuple[setbased.Decisions, bool | None, list[Any] | None]:
        if self._connection is None:
            self._connection = self._runtime.engine.connect()
        with Session(bind=self._connection, autoflush=False) as session:
            # One statement, its rows fetched whole: one snapshot, taken now.
            rows = chunk_repo.slice_rows(session, self._tenant_id, **args)
        decisions = setbased.decisions_of(rows)
        if between is not None:
            return decisions, between.touches(args, rows), None
        return decisions, None, rows

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def wait(self) -> None:
        """Until the read asked for last has its rows (or failed)."""
        asked = self._asked
        if asked is not None:
            asked.rows.exception()

    def take(
        self, session: Session, args: dict[str, Any], between: Finishing | None
    ) -> setbased.Decisions | None:
        """The decisions read ahead for ``args`` if they are what ``session`` (the
        begin's, holding the write lock) would read now, ``between`` being what the one
        unit of work since :meth:`start` may have changed; None: read them under the
        lock."""
        asked, self._asked = self._asked, None
        if asked is None:
            return None
        try:
            decisions, touched, rows = asked.rows.result()
        except Exception:
            log.warning("payment run: the next slice's decisions read ahead failed", exc_info=True)
            self.read_again += 1
            return None
        if (
            between is None
            or asked.args != args
            or dbapi(session) is not asked.connection
            or chunk_repo.data_version(session) != asked.version
            or (
                touched
                if asked.between is between
                else (rows is None or between.touches(args, rows))
            )
        ):
            self.read_again += 1
            return None
        self.used += 1
        return decisions

    def close(self) -> None:
        self._asked = None
        self._reader.submit(self._disconnect).result()
        self._reader.shutdown(wait=True)
