"""All SQL for the catalog.

``get_rate_plan`` and ``get_charges_of_rate_plan`` are used by subscriptions: keep
their signatures stable.

Catalog reads are hot (every subscribe and every catalog page), so nested objects are
loaded with ``selectinload``: one query per level, never one per row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from billcycle.catalog.models import Product, ProductRatePlan, ProductRatePlanCharge
from billcycle.subscriptions.models import SubscriptionCharge, SubscriptionRatePlan


def _plan_graph() -> LoaderOption:
    return selectinload(ProductRatePlan.charges).selectinload(ProductRatePlanCharge.tiers)


def _product_graph() -> LoaderOption:
    return (
        selectinload(Product.rate_plans)
        .selectinload(ProductRatePlan.charges)
        .selectinload(ProductRatePlanCharge.tiers)
    )


def add(session: Session, obj: Any) -> None:
    session.add(obj)


def get_product(
    session: Session, tenant_id: int, product_id: int, *, nested: bool = False
) -> Product | None:
    """A product; with ``nested`` its rate plans, charges and tiers come loaded too."""
    stmt = select(Product).where(Product.tenant_id == tenant_id, Product.id == product_id)
    if nested:
        stmt = stmt.options(_product_graph())
    return session.scalars(stmt).first()


def get_product_by_sku(
    session: Session, tenant_id: int, sku: str, *, nested: bool = False
) -> Product | None:
    stmt = (
        select(Product)
        .where(Product.tenant_id == tenant_id, Product.sku == sku)
        .order_by(Product.id)
    )
    if nested:
        stmt = stmt.options(_product_graph())
    return session.scalars(stmt).first()


def sku_taken(session: Session, tenant_id: int, sku: str, *, except_id: int | None = None) -> bool:
    stmt = select(Product.id).where(Product.tenant_id == tenant_id, Product.sku == sku)
    if except_id is not None:
        stmt = stmt.where(Product.id != except_id)
    return session.scalars(stmt.limit(1)).first() is not None


def list_products(session: Session, tenant_id: int, offset: int, limit: int) -> list[Product]:
    """A page of products, newest change first (Zuora's order), fully nested."""
    stmt = (
        select(Product)
        .where(Product.tenant_id == tenant_id)
        .order_by(Product.updated_at.desc(), Product.id.desc())
        .offset(offset)
        .limit(limit)
        .options(_product_graph())
    )
    return list(session.scalars(stmt))


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


def list_rate_plans_of_product(
    session: Session, tenant_id: int, product_id: int, offset: int, limit: int
) -> list[ProductRatePlan]:
    stmt = (
        select(ProductRatePlan)
        .where(ProductRatePlan.tenant_id == tenant_id, ProductRatePlan.product_id == product_id)
        .order_by(ProductRatePlan.id)
        .offset(offset)
        .limit(limit)
        .options(_plan_graph())
    )
    return list(session.scalars(stmt))


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


def get_charge(session: Session, tenant_id: int, charge_id: int) -> ProductRatePlanCharge | None:
    stmt = (
        select(ProductRatePlanCharge)
        .where(ProductRatePlanCharge.tenant_id == tenant_id, ProductRatePlanCharge.id == charge_id)
        .options(selectinload(ProductRatePlanCharge.tiers))
    )
    return session.scalars(stmt).first()


# --- references from subscriptions (what may not be deleted) ------------------------


def _referenced(session: Session, tenant_id: int, plan_ids: Any, charge_ids: Any) -> bool:
    by_plan = exists().where(
        SubscriptionRatePlan.tenant_id == tenant_id,
        SubscriptionRatePlan.product_rate_plan_id.in_(plan_ids),
    )
    by_charge = exists().where(
        SubscriptionCharge.tenant_id == tenant_id,
        SubscriptionCharge.product_rate_plan_charge_id.in_(charge_ids),
    )
    return bool(session.scalar(select(by_plan | by_charge)))


def product_in_use(session: Session, tenant_id: int, product_id: int) -> bool:
    plan_ids = select(ProductRatePlan.id).where(
        ProductRatePlan.tenant_id == tenant_id, ProductRatePlan.product_id == product_id
    )
    charge_ids = select(ProductRatePlanCharge.id).where(
        ProductRatePlanCharge.tenant_id == tenant_id,
        ProductRatePlanCharge.product_rate_plan_id.in_(plan_ids),
    )
    by_product = exists().where(
        SubscriptionRatePlan.tenant_id == tenant_id, SubscriptionRatePlan.product_id == product_id
    )
    return bool(session.scalar(select(by_product))) or _referenced(
        session, tenant_id, plan_ids, charge_ids
    )


def rate_plan_in_use(session: Session, tenant_id: int, rate_plan_id: int) -> bool:
    charge_ids = select(ProductRatePlanCharge.id).where(
        ProductRatePlanCharge.tenant_id == tenant_id,
        ProductRatePlanCharge.product_rate_plan_id == rate_plan_id,
    )
    return _referenced(session, tenant_id, [rate_plan_id], charge_ids)


def charge_in_use(session: Session, tenant_id: int, charge_id: int) -> bool:
    stmt = select(
        exists().where(
            SubscriptionCharge.tenant_id == tenant_id,
            SubscriptionCharge.product_rate_plan_charge_id == charge_id,
        )
    )
    return bool(session.scalar(stmt))


# --- deletes ----------------------------------------------------------------------


def delete_object(session: Session, obj: Product | ProductRatePlan | ProductRatePlanCharge) -> None:
    """Delete one catalog object and everything under it (the ORM cascades downwards)."""
    session.delete(obj)
