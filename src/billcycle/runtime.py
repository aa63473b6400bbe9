"""The long-lived objects of one process (server or worker), built once at start."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from billcycle.clock import Clock, SystemClock
from billcycle.config import Settings
from billcycle.context import ServiceContext
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.jobs.dispatch import Dispatcher


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    clock: Clock
    # Set once the process knows how it runs background work (see billcycle.jobs.wiring).
    dispatcher: Dispatcher | None = None

    @contextmanager
    def service_context(self, tenant_id: int) -> Iterator[ServiceContext]:
        with unit_of_work(self.session_factory) as session:
            yield ServiceContext(
                session=session,
                tenant_id=tenant_id,
                clock=self.clock,
                dispatcher=self.dispatcher,
            )

    def dispose(self) -> None:
        self.engine.dispose()


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    engine = make_engine(settings.database_url)
    return Runtime(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=clock or SystemClock(),
    )
