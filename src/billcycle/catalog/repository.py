"""All SQL for the catalog.

``get_rate_plan`` and ``get_charges_of_rate_plan`` are used by subscriptions: keep
their signatures stable.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billcycle.catalog.models import ProductRatePlan, ProductRatePlanCharge


def get_rate_plan(session: Session, tenant_id: int, rate_plan_id: int) -> ProductRatePlan | None:
    """A product rate plan with its product, charges and their tiers loaded."""
    stmt = (
        select(ProductRatePlan)
        .where(ProductRatePlan.tenant_id == tenant_id, ProductRatePlan.id == rate_plan_id)
        .options(
            selectinload(ProductRatePlan.product),
            selectinload(ProductRatePlan.charges).selectinload(ProductRatePlanCharge.tiers),
        )
    )
    return session.scalars(stmt).first()


def get_charges_of_rate_plan(
    session: Session, tenant_id: int, rate_plan_id: int
) -> list[ProductRatePlanCharge]:
    stmt = (
        select(ProductRatePlanCharge)
        .where(
            ProductRatePlanCharge.tenant_id == tenant_id,
            ProductRatePlanCharge.product_rate_plan_id == rate_plan_id,
        )
        .options(selectinload(ProductRatePlanCharge.tiers))
        .order_by(ProductRatePlanCharge.id)
    )
    return list(session.scalars(stmt))
