"""Every Zuora resource router, in the order they appear in the docs."""

from __future__ import annotations

from fastapi import APIRouter

from billcycle.zuora.routes import (
    accounts,
    bill_runs,
    billing_documents,
    catalog,
    gateway_settlement,
    invoice_files,
    invoices,
    objects,
    payment_methods,
    payment_runs,
    payments,
    refunds,
    subscriptions,
    usage,
)

RESOURCE_ROUTERS: list[APIRouter] = [
    objects.router,
    catalog.router,
    accounts.router,
    subscriptions.router,
    invoices.router,
    invoice_files.router,
    billing_documents.router,
    bill_runs.router,
    payment_methods.router,
    payment_methods.account_router,
    payment_methods.gateway_router,
    payments.router,
    refunds.router,
    gateway_settlement.router,
    payment_runs.router,
    usage.object_router,
    usage.router,
]
