"""Every admin router, in the order they appear in the docs. A new resource (console
users, the clock, audit log, webhooks, ...) is one module here and one line below."""

from __future__ import annotations

from fastapi import APIRouter

from billcycle.admin.routes import (
    api_keys,
    audit,
    card_links,
    clock,
    collections,
    events,
    invoice_template,
    oauth_clients,
    payment_run_schedule,
    tenants,
)
from billcycle.admin.routes import units as units_of_measure

ADMIN_ROUTERS: list[APIRouter] = [
    tenants.router,
    oauth_clients.router,
    api_keys.router,
    card_links.router,
    collections.router,
    clock.router,
    payment_run_schedule.router,
    audit.router,
    units_of_measure.router,
    invoice_template.router,
    events.router,
]
