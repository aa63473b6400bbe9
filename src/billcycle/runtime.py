"""The long-lived objects of one process (server or worker), built once at start."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from billcycle.clock import BusinessClock, Clock, SystemClock
from billcycle.config import Settings
from billcycle.context import ORG_SCOPE_KEY, ServiceContext
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.jobs.dispatch import Dispatcher
from billcycle.tenancy.clocks import BusinessClocks


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    # Business time as every tenant reads it (in its own zone; see business_clock).
    clock: Clock
    # Machine time: leases, the reaper, token expiry, idempotency windows.
    machine_clock: Clock = field(default_factory=SystemClock)
    # Set once the process knows how it runs background work (see billcycle.jobs.wiring).
    dispatcher: Dispatcher | None = None
    business_clocks: BusinessClocks = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.business_clocks = BusinessClocks(self.clock, self.machine_clock)

    def business_clock(self, session: Session, tenant_id: int) -> BusinessClock:
        """``tenant_id``'s business clock (its zone read through ``session`` at most once
        in a while: see :class:`BusinessClocks`)."""
        return self.business_clocks.for_tenant(session, tenant_id)

    def context(
        self, session: Session, tenant_id: int, org_ids: frozenset[int] | None = None
    ) -> ServiceContext:
        """A service context for ``tenant_id`` over a unit of work the caller owns; limited
        to ``org_ids``, every read of ``session`` keeps to their accounts."""
        if org_ids is not None:
            session.info[ORG_SCOPE_KEY] = tuple(sorted(org_ids))
        return ServiceContext(
            session=session,
            tenant_id=tenant_id,
            clock=self.business_clock(session, tenant_id),
            machine_clock=self.machine_clock,
            dispatcher=self.dispatcher,
            org_ids=org_ids,
        )

    def remembered_context(
        self, tenant_id: int, org_ids: frozenset[int] | None = None
    ) -> ServiceContext | None:
        """A service context for work that reads and writes nothing through its session
        (rules and row values before a one-statement write: ``accounts.service.
        new_account_rows``), when the tenant's clock needs no database read; None
        otherwise. Its session is never connected (nothing to close)."""
        clock = self.business_clocks.remembered(tenant_id)
        if clock is None:
            return None
        return ServiceContext(
            session=self.session_factory(),
            tenant_id=tenant_id,
            clock=clock,
            machine_clock=self.machine_clock,
            dispatcher=self.dispatcher,
            org_ids=org_ids,
        )

    @contextmanager
    def service_context(
        self, tenant_id: int, org_ids: frozenset[int] | None = None
    ) -> Iterator[ServiceContext]:
        with unit_of_work(self.session_factory) as session:
            yield self.context(session, tenant_id, org_ids)

    def dispose(self) -> None:
        self.engine.dispose()


def build_runtime(
    settings: Settings, clock: Clock | None = None, machine_clock: Clock | None = None
) -> Runtime:
    engine = make_engine(settings.database_url, wal_limit_mb=settings.sqlite_wal_limit_mb)
    return Runtime(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=clock or SystemClock(),
        machine_clock=machine_clock or SystemClock(),
    )
