"""Background work of payments: the reconciler's sweep on every scheduler tick (one
indexed query when nothing is Processing)."""

from __future__ import annotations

from billcycle.jobs.registry import periodic
from billcycle.jobs.runner import JobRunner
from billcycle.payments import reconciler


@periodic
def reconcile_processing_payments(runner: JobRunner) -> None:
    """Settle electronic payments and refunds whose gateway outcome is still unknown."""
    reconciler.reconcile_due(runner.runtime)
