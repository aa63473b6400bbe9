"""A tenant's invoice template fields (the console's settings page writes them; the
invoice documents read them). One row per tenant; no row means the defaults."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base
from billcycle.db.types import BigId, UtcDateTime


class TenantInvoiceSettings(Base):
    __tablename__ = "tenant_invoice_settings"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    invoice_logo_url: Mapped[str | None] = mapped_column(String(1000))
    invoice_seller_address: Mapped[str | None] = mapped_column(Text)
    invoice_footer: Mapped[str | None] = mapped_column(Text)
    payment_terms_days: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
