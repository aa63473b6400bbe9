"""A payment run's status change, with its ``payment_run.status_changed`` event in the
same transaction (``jobs.transitions``)."""

from __future__ import annotations

from billcycle.events.statuses import EventType
from billcycle.jobs.transitions import Transition, with_event
from billcycle.paymentruns import repository as repo
from billcycle.paymentruns.models import PaymentRun

transition: Transition[PaymentRun] = with_event(
    repo.transition, EventType.PAYMENT_RUN_STATUS_CHANGED
)
