"""Every Fusebill resource router."""

from __future__ import annotations

from fastapi import APIRouter

from billcycle.fusebill.routes import bulk_jobs, customers, invoices, payments, writeoffs

FUSEBILL_ROUTERS: list[APIRouter] = [
    customers.router,
    invoices.router,
    writeoffs.router,
    bulk_jobs.router,
    payments.router,
]
