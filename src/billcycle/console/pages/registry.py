"""Every router of the console, in matching order (fixed paths before ``{id}`` ones)."""

from __future__ import annotations

from fastapi import APIRouter

from billcycle.console.pages import (
    accounts,
    auth,
    bill_runs,
    bulk_jobs,
    catalog,
    clock,
    dashboard,
    events,
    invoices,
    payments,
    receivables,
    settings,
    webhooks,
)

ROUTERS: list[APIRouter] = [
    auth.router,
    dashboard.router,
    bill_runs.router,
    bulk_jobs.router,
    accounts.router,
    invoices.router,
    payments.router,
    receivables.router,
    catalog.router,
    settings.router,
    events.router,
    webhooks.router,
    clock.router,
]
