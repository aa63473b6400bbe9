from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId, ExactDecimal, UtcDateTime

# The resource an error about a subscription or its parts names.
SUBSCRIPTION = "subscription"


class Subscription(TenantScoped, Timestamps, Base):
    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("uq_subscriptions_tenant_number", "tenant_id", "subscription_number", unique=True),
    )

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    subscription_number: Mapped[str] = mapped_column(String(100), nullable=False)
    # The values of billcycle.subscriptions.statuses: SubscriptionStatus, TermType,
    # TermPeriodType, RenewalSetting.
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    term_type: Mapped[str] = mapped_column(String(10), nullable=False)
    initial_term: Mapped[int | None] = mapped_column(Integer)
    initial_term_period_type: Mapped[str] = mapped_column(String(10), nullable=False)
    renewal_term: Mapped[int | None] = mapped_column(Integer)
    renewal_term_period_type: Mapped[str] = mapped_column(String(10), nullable=False)
    current_term: Mapped[int | None] = mapped_column(Integer)
    current_term_period_type: Mapped[str] = mapped_column(String(10), nullable=False)
    auto_renew: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    renewal_setting: Mapped[str] = mapped_column(String(40), nullable=False)
    contract_effective_date: Mapped[date] = mapped_column(Date, nullable=False)
    service_activation_date: Mapped[date | None] = mapped_column(Date)
    customer_acceptance_date: Mapped[date | None] = mapped_column(Date)
    subscription_start_date: Mapped[date] = mapped_column(Date, nullable=False)
    term_start_date: Mapped[date] = mapped_column(Date, nullable=False)
    term_end_date: Mapped[date | None] = mapped_column(Date)  # exclusive; None = evergreen
    subscription_end_date: Mapped[date | None] = mapped_column(Date)  # exclusive
    cancelled_date: Mapped[date | None] = mapped_column(Date)
    suspended_date: Mapped[date | None] = mapped_column(Date)
    resumed_date: Mapped[date | None] = mapped_column(Date)
    invoice_separately: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    notes: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    rate_plans: Mapped[list[SubscriptionRatePlan]] = relationship(
        back_populates="subscription",
        order_by="SubscriptionRatePlan.id",
        cascade="all, delete-orphan",
    )


class SubscriptionRatePlan(TenantScoped, Timestamps, Base):
    __tablename__ = "subscription_rate_plans"

    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id"), nullable=False)
    product_rate_plan_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("product_rate_plans.id"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    product_name: Mapped[str] = mapped_column(String(255), nullable=False)
    product_sku: Mapped[str] = mapped_column(String(100), nullable=False)
    # Set when the rate plan is removed by an amendment; its charges end on that date.
    removed_date: Mapped[date | None] = mapped_column(Date)

    subscription: Mapped[Subscription] = relationship(back_populates="rate_plans")
    charges: Mapped[list[SubscriptionCharge]] = relationship(
        back_populates="rate_plan",
        order_by="(SubscriptionCharge.charge_number, SubscriptionCharge.segment)",
        cascade="all, delete-orphan",
    )


class SubscriptionCharge(TenantScoped, Timestamps, Base):
    """One segment of a subscription charge.

    A price or quantity change, a suspension or a resumption ends the current segment
    and starts a new one, so every segment is rated with one set of terms and its own
    billed-through watermark (Zuora's "charge segments"). ``charge_number`` is shared by
    a charge's segments; the API shows the latest one.
    """

    __tablename__ = "subscription_charges"
    __table_args__ = (
        UniqueConstraint("tenant_id", "charge_number", "segment"),
        # The bill run loads all charges of a chunk of accounts in one query.
        Index("ix_subscription_charges_account", "tenant_id", "account_id"),
    )

    subscription_rate_plan_id: Mapped[int] = mapped_column(
        BigId,
        ForeignKey("subscription_rate_plans.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    subscription_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id"), nullable=False)
    product_rate_plan_charge_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("product_rate_plan_charges.id"), nullable=False, index=True
    )
    charge_number: Mapped[str] = mapped_column(String(50), nullable=False)
    segment: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    is_last_segment: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    charge_type: Mapped[str] = mapped_column(String(20), nullable=False)
    charge_model: Mapped[str] = mapped_column(String(40), nullable=False)
    billing_period: Mapped[str | None] = mapped_column(String(20))
    specific_billing_period: Mapped[int | None] = mapped_column(Integer)
    billing_timing: Mapped[str] = mapped_column(String(20), nullable=False)
    bill_cycle_type: Mapped[str] = mapped_column(String(40), nullable=False)
    bill_cycle_day: Mapped[int | None] = mapped_column(Integer)  # fixed day, when not from account
    weekly_bill_cycle_day: Mapped[str | None] = mapped_column(String(10))
    trigger_event: Mapped[str] = mapped_column(String(30), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal, nullable=False)
    price: Mapped[Decimal | None] = mapped_column(ExactDecimal)  # flat fee / per unit price
    uom: Mapped[str | None] = mapped_column(String(25))
    # Overage Pricing: the units each period includes before the overage price applies.
    included_units: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    # Discount charges: what they discount (rateplan/subscription/account), which charge
    # types (ONETIME, RECURRING, USAGE, concatenated as Zuora writes them), for how
    # many billing periods (None: for as long as the charge runs).
    discount_level: Mapped[str | None] = mapped_column(String(20))
    apply_discount_to: Mapped[str | None] = mapped_column(String(40))
    up_to_periods: Mapped[int | None] = mapped_column(Integer)
    effective_start_date: Mapped[date] = mapped_column(Date, nullable=False)
    effective_end_date: Mapped[date | None] = mapped_column(Date)  # exclusive
    # Start of the charge's first segment: every segment bills on the grid phased from it.
    grid_start_date: Mapped[date | None] = mapped_column(Date)
    # The watermark: exclusive end of what has been billed (Zuora's chargedThroughDate).
    billed_through: Mapped[date | None] = mapped_column(Date)
    processed_through: Mapped[date | None] = mapped_column(Date)
    last_billed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    rate_plan: Mapped[SubscriptionRatePlan] = relationship(back_populates="charges")
    tiers: Mapped[list[SubscriptionChargeTier]] = relationship(
        back_populates="charge",
        order_by="SubscriptionChargeTier.tier",
        cascade="all, delete-orphan",
    )


class SubscriptionChargeTier(TenantScoped, Base):
    __tablename__ = "subscription_charge_tiers"
    __table_args__ = (UniqueConstraint("subscription_charge_id", "tier"),)

    subscription_charge_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("subscription_charges.id", ondelete="CASCADE"), nullable=False
    )
    tier: Mapped[int] = mapped_column(Integer, nullable=False)
    starting_unit: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    ending_unit: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    price: Mapped[Decimal] = mapped_column(ExactDecimal, nullable=False)
    price_format: Mapped[str] = mapped_column(String(20), nullable=False)

    charge: Mapped[SubscriptionCharge] = relationship(back_populates="tiers")
