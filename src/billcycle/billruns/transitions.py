"""A bill run's status change, with its ``bill_run.status_changed`` event in the same
transaction (``jobs.transitions``)."""

from __future__ import annotations

from billcycle.billruns import repository as repo
from billcycle.billruns.models import BillRun
from billcycle.events.statuses import EventType
from billcycle.jobs.transitions import Transition, with_event

transition: Transition[BillRun] = with_event(repo.transition, EventType.BILL_RUN_STATUS_CHANGED)
