from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId, ExactDecimal

# The resource an error about each object names (the Zuora dialect picks its code by it).
PRODUCT = "product"
RATE_PLAN = "product_rate_plan"
CHARGE = "product_rate_plan_charge"


class Product(TenantScoped, Timestamps, Base):
    __tablename__ = "products"
    __table_args__ = (
        Index("ix_products_tenant_name", "tenant_id", "name"),
        Index("uq_products_tenant_sku", "tenant_id", "sku", unique=True),
        Index("ix_products_tenant_updated", "tenant_id", "updated_at"),
    )

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    sku: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100))
    effective_start_date: Mapped[date] = mapped_column(Date, nullable=False)
    effective_end_date: Mapped[date] = mapped_column(Date, nullable=False)

    rate_plans: Mapped[list[ProductRatePlan]] = relationship(
        back_populates="product", order_by="ProductRatePlan.id", cascade="all, delete-orphan"
    )


class ProductRatePlan(TenantScoped, Timestamps, Base):
    __tablename__ = "product_rate_plans"

    product_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    effective_start_date: Mapped[date | None] = mapped_column(Date)
    effective_end_date: Mapped[date | None] = mapped_column(Date)

    product: Mapped[Product] = relationship(back_populates="rate_plans")
    charges: Mapped[list[ProductRatePlanCharge]] = relationship(
        back_populates="rate_plan",
        order_by="ProductRatePlanCharge.id",
        cascade="all, delete-orphan",
    )


class ProductRatePlanCharge(TenantScoped, Timestamps, Base):
    """A catalog charge. Enum-like columns hold Zuora's exact strings, the values of
    :mod:`billcycle.catalog.vocabulary`."""

    __tablename__ = "product_rate_plan_charges"

    product_rate_plan_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("product_rate_plans.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    charge_type: Mapped[str] = mapped_column(String(20), nullable=False)
    charge_model: Mapped[str] = mapped_column(String(40), nullable=False)
    billing_period: Mapped[str | None] = mapped_column(String(20))
    specific_billing_period: Mapped[int | None] = mapped_column(Integer)
    billing_timing: Mapped[str] = mapped_column(String(20), nullable=False)
    bill_cycle_type: Mapped[str] = mapped_column(String(40), nullable=False)
    bill_cycle_day: Mapped[int | None] = mapped_column(Integer)
    weekly_bill_cycle_day: Mapped[str | None] = mapped_column(String(10))
    trigger_event: Mapped[str] = mapped_column(String(30), nullable=False)
    default_quantity: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    uom: Mapped[str | None] = mapped_column(String(25))
    # Overage Pricing: the units each period includes before the overage price applies.
    included_units: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    # Discount charges: what they discount (rateplan/subscription/account), which charge
    # types (ONETIME, RECURRING, USAGE, concatenated as Zuora writes them), for how
    # many billing periods (None: for as long as the charge runs).
    discount_level: Mapped[str | None] = mapped_column(String(20))
    apply_discount_to: Mapped[str | None] = mapped_column(String(40))
    up_to_periods: Mapped[int | None] = mapped_column(Integer)

    rate_plan: Mapped[ProductRatePlan] = relationship(back_populates="charges")
    tiers: Mapped[list[ProductRatePlanChargeTier]] = relationship(
        back_populates="charge",
        order_by="(ProductRatePlanChargeTier.currency, ProductRatePlanChargeTier.tier)",
        cascade="all, delete-orphan",
    )


class ProductRatePlanChargeTier(TenantScoped, Base):
    """One price point per currency (tier 1 only, for flat fee and per unit models)."""

    __tablename__ = "product_rate_plan_charge_tiers"
    __table_args__ = (UniqueConstraint("product_rate_plan_charge_id", "currency", "tier"),)

    product_rate_plan_charge_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("product_rate_plan_charges.id", ondelete="CASCADE"), nullable=False
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    tier: Mapped[int] = mapped_column(Integer, nullable=False)
    starting_unit: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    ending_unit: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    price: Mapped[Decimal] = mapped_column(ExactDecimal, nullable=False)
    price_format: Mapped[str] = mapped_column(String(20), nullable=False)

    charge: Mapped[ProductRatePlanCharge] = relationship(back_populates="tiers")
