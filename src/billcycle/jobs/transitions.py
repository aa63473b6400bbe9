"""A run's guarded status change with its ``*.status_changed`` event in the same
transaction (one event per change, whatever the size of the run), for the kinds of run
that move through statuses this way (bill runs, payment runs).

Each package keeps its own guarded ``UPDATE`` (``repository.transition``: move only from
an allowed status; a concurrent move makes this one a no-op) and names its event type;
what happens around them is written here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from billcycle.context import ServiceContext
from billcycle.events import service as events
from billcycle.events.statuses import EventType

# A run's model class (it has a ``status`` column).
RunT = TypeVar("RunT", contravariant=True)


class Move(Protocol[RunT]):
    """A package's ``repository.transition``."""

    def __call__(
        self, session: Session, run: RunT, allowed: Sequence[str], to_status: str, **values: Any
    ) -> bool: ...


class Transition(Protocol[RunT]):
    def __call__(
        self,
        ctx: ServiceContext,
        run: RunT,
        allowed: Sequence[str],
        to_status: str,
        **values: Any,
    ) -> bool: ...


def with_event(move: Move[RunT], event_type: EventType) -> Transition[RunT]:
    """``transition(ctx, run, allowed, to_status, **values)``: ``move`` and, when the run
    moved, ``event_type`` with its previous and its new status."""

    def transition(
        ctx: ServiceContext, run: Any, allowed: Sequence[str], to_status: str, **values: Any
    ) -> bool:
        previous: str = run.status
        moved = move(ctx.session, run, allowed, to_status, **values)
        if moved:
            events.emit_status_change(ctx, event_type, run, previous)
        return moved

    return transition
