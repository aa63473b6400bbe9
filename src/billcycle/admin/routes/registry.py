"""Every admin router, in the order they appear in the docs. A new resource (console
users, the clock, audit log, webhooks, ...) is one module here and one line below."""

from __future__ import annotations

from fastapi import APIRouter

from billcycle.admin.routes import (
    api_keys,
    card_links,
    collections,
    events,
    oauth_clients,
    tenants,
)

ADMIN_ROUTERS: list[APIRouter] = [
    tenants.router,
    oauth_clients.router,
    api_keys.router,
    card_links.router,
    collections.router,
    events.router,
]
