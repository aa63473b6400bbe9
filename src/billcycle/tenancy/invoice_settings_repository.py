"""SQL of the tenant invoice settings (one row per tenant)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from billcycle.tenancy.invoice_settings_models import TenantInvoiceSettings


def get_settings(session: Session, tenant_id: int) -> TenantInvoiceSettings | None:
    return session.scalars(
        select(TenantInvoiceSettings).where(TenantInvoiceSettings.tenant_id == tenant_id)
    ).first()


def add_settings(session: Session, row: TenantInvoiceSettings) -> TenantInvoiceSettings:
    session.add(row)
    session.flush()
    return row
