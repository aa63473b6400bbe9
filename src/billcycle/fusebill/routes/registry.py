"""Every Fusebill resource router."""

from __future__ import annotations

from fastapi import APIRouter

from billcycle.fusebill.routes import (
    billing_settings,
    bulk_jobs,
    customers,
    invoice_pdfs,
    invoices,
    payments,
    writeoffs,
)

FUSEBILL_ROUTERS: list[APIRouter] = [
    customers.router,
    billing_settings.router,
    invoices.router,
    invoice_pdfs.router,
    writeoffs.router,
    bulk_jobs.router,
    payments.router,
]
