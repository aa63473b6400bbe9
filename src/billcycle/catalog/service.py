"""The product catalog's rules: products, their rate plans and charges (create, read,
update, delete).

A charge's terms are resolved and validated by
:mod:`billcycle.catalog.charge_resolution` (words and numbers by
:mod:`billcycle.catalog.charge_terms`, prices by :mod:`billcycle.catalog.price_tiers`);
this module stores them. Objects a subscription points at cannot be deleted; deleting a
product deletes its rate plans and charges.
"""

from __future__ import annotations

from datetime import date

from billcycle.catalog import charge_resolution as resolution
from billcycle.catalog import repository as repo
from billcycle.catalog.charge_terms import choice, required_text, text
from billcycle.catalog.inputs import (
    ChargeChanges,
    NewCharge,
    NewProduct,
    NewRatePlan,
    ProductChanges,
    RatePlanChanges,
)
from billcycle.catalog.models import (
    CHARGE,
    PRODUCT,
    RATE_PLAN,
    Product,
    ProductRatePlan,
    ProductRatePlanCharge,
)
from billcycle.catalog.vocabulary import ProductCategory, RatePlanStatus
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, MissingField, NotFound, RuleViolation
from billcycle.tenancy.numbers import reserve
from billcycle.unset import UNSET

PRODUCT_NAME_MAX = 100
RATE_PLAN_NAME_MAX = 255
SKU_MAX = 50
DESCRIPTION_MAX = resolution.DESCRIPTION_MAX


def _check_period(start: date | None, end: date | None, resource: str) -> None:
    if start is not None and end is not None and start >= end:
        raise InvalidValue(
            f"EffectiveStartDate ({start}) must be before EffectiveEndDate ({end}).",
            resource=resource,
            field="EffectiveEndDate",
        )


# --- products -----------------------------------------------------------------------


def create_product(ctx: ServiceContext, new: NewProduct) -> Product:
    name = required_text(new.name, "Name", PRODUCT, PRODUCT_NAME_MAX)
    sku = _new_sku(ctx) if new.sku is None else _checked_sku(ctx, new.sku, None)
    _check_period(new.effective_start_date, new.effective_end_date, PRODUCT)
    now = ctx.clock.now()
    product = Product(
        tenant_id=ctx.tenant_id,
        name=name,
        sku=sku,
        description=text(new.description, "Description", PRODUCT, DESCRIPTION_MAX),
        category=_category(new.category),
        effective_start_date=new.effective_start_date,
        effective_end_date=new.effective_end_date,
        created_at=now,
        updated_at=now,
    )
    repo.add(ctx.session, product)
    ctx.session.flush()
    return product


def _category(value: str | None) -> str | None:
    if value is None:
        return None
    return choice(ProductCategory, value, "Category", PRODUCT).value


def _new_sku(ctx: ServiceContext) -> str:
    """Zuora numbers SKUs itself when none is given; skip any a client already chose."""
    while True:
        sku = f"SKU-{reserve(ctx.session, ctx.tenant_id, 'product_sku'):08d}"
        if not repo.sku_taken(ctx.session, ctx.tenant_id, sku):
            return sku


def _checked_sku(ctx: ServiceContext, value: str | None, product_id: int | None) -> str:
    sku = required_text(value, "SKU", PRODUCT, SKU_MAX)
    if repo.sku_taken(ctx.session, ctx.tenant_id, sku, except_id=product_id):
        raise RuleViolation(
            f"SKU '{sku}' is already used by another product.", resource=PRODUCT, field="SKU"
        )
    return sku


def get_product(ctx: ServiceContext, product_id: int, *, nested: bool = False) -> Product:
    product = repo.get_product(ctx.session, ctx.tenant_id, product_id, nested=nested)
    if product is None:
        raise NotFound(
            "Product {product} not found.", ids={"product": product_id}, resource=PRODUCT
        )
    return product


def find_product(
    ctx: ServiceContext, sku: str, *, product_id: int | None = None, nested: bool = True
) -> Product:
    """A product by its id, else by its SKU: a dialect whose key may be either (Zuora's
    ``product-key``) passes the id it read from the key, if any, and the key as the SKU."""
    product = None
    if product_id is not None:
        product = repo.get_product(ctx.session, ctx.tenant_id, product_id, nested=nested)
    if product is None:
        product = repo.get_product_by_sku(ctx.session, ctx.tenant_id, sku, nested=nested)
    if product is None:
        raise NotFound(f"Product {sku} not found.", resource=PRODUCT)
    return product


def list_products(ctx: ServiceContext, offset: int, limit: int) -> tuple[list[Product], bool]:
    """One page of products with their rate plans, charges and tiers; and whether more follow."""
    rows = repo.list_products(ctx.session, ctx.tenant_id, offset, limit + 1)
    return rows[:limit], len(rows) > limit


def update_product(ctx: ServiceContext, product_id: int, changes: ProductChanges) -> Product:
    product = get_product(ctx, product_id)
    if changes.name is not UNSET:
        product.name = required_text(changes.name, "Name", PRODUCT, PRODUCT_NAME_MAX)
    if changes.sku is not UNSET:
        product.sku = _checked_sku(ctx, changes.sku, product.id)
    if changes.description is not UNSET:
        product.description = text(changes.description, "Description", PRODUCT, DESCRIPTION_MAX)
    if changes.category is not UNSET:
        product.category = _category(changes.category)
    for field in ("effective_start_date", "effective_end_date"):
        value = getattr(changes, field)
        if value is None:
            name = "EffectiveStartDate" if field == "effective_start_date" else "EffectiveEndDate"
            raise MissingField(f"{name} cannot be removed.", resource=PRODUCT, field=name)
        if value is not UNSET:
            setattr(product, field, value)
    _check_period(product.effective_start_date, product.effective_end_date, PRODUCT)
    product.updated_at = ctx.clock.now()
    ctx.session.flush()
    return product


def delete_product(ctx: ServiceContext, product_id: int) -> None:
    product = get_product(ctx, product_id, nested=True)
    if repo.product_in_use(ctx.session, ctx.tenant_id, product.id):
        raise RuleViolation(
            "Product {product} is used by a subscription and cannot be deleted.",
            ids={"product": product.id},
            resource=PRODUCT,
        )
    repo.delete_object(ctx.session, product)
    ctx.session.flush()


# --- rate plans ---------------------------------------------------------------------


def create_rate_plan(ctx: ServiceContext, new: NewRatePlan) -> ProductRatePlan:
    product = repo.get_product(ctx.session, ctx.tenant_id, new.product_id)
    if product is None:
        raise InvalidValue(
            "Invalid value for ProductId: product {product} not found.",
            ids={"product": new.product_id},
            resource=RATE_PLAN,
            field="ProductId",
        )
    _check_period(new.effective_start_date, new.effective_end_date, RATE_PLAN)
    now = ctx.clock.now()
    plan = ProductRatePlan(
        tenant_id=ctx.tenant_id,
        product_id=product.id,
        name=required_text(new.name, "Name", RATE_PLAN, RATE_PLAN_NAME_MAX),
        description=text(new.description, "Description", RATE_PLAN, DESCRIPTION_MAX),
        effective_start_date=new.effective_start_date,
        effective_end_date=new.effective_end_date,
        created_at=now,
        updated_at=now,
    )
    repo.add(ctx.session, plan)
    ctx.session.flush()
    return plan


def get_rate_plan(ctx: ServiceContext, rate_plan_id: int) -> ProductRatePlan:
    """A rate plan with its product, charges and tiers loaded."""
    plan = repo.get_rate_plan(ctx.session, ctx.tenant_id, rate_plan_id)
    if plan is None:
        raise NotFound(
            "Product rate plan {rate_plan} not found.",
            ids={"rate_plan": rate_plan_id},
            resource=RATE_PLAN,
        )
    return plan


def list_rate_plans(
    ctx: ServiceContext, product_id: int, offset: int, limit: int
) -> tuple[list[ProductRatePlan], bool]:
    rows = repo.list_rate_plans_of_product(
        ctx.session, ctx.tenant_id, product_id, offset, limit + 1
    )
    return rows[:limit], len(rows) > limit


def update_rate_plan(
    ctx: ServiceContext, rate_plan_id: int, changes: RatePlanChanges
) -> ProductRatePlan:
    plan = get_rate_plan(ctx, rate_plan_id)
    if changes.product_id is not UNSET and changes.product_id != plan.product_id:
        raise InvalidValue(
            "ProductId of a product rate plan cannot be changed.",
            resource=RATE_PLAN,
            field="ProductId",
        )
    if changes.name is not UNSET:
        plan.name = required_text(changes.name, "Name", RATE_PLAN, RATE_PLAN_NAME_MAX)
    if changes.description is not UNSET:
        plan.description = text(changes.description, "Description", RATE_PLAN, DESCRIPTION_MAX)
    if changes.effective_start_date is not UNSET:
        plan.effective_start_date = changes.effective_start_date
    if changes.effective_end_date is not UNSET:
        plan.effective_end_date = changes.effective_end_date
    _check_period(plan.effective_start_date, plan.effective_end_date, RATE_PLAN)
    plan.updated_at = ctx.clock.now()
    ctx.session.flush()
    return plan


def rate_plan_status(plan: ProductRatePlan, today: date) -> RatePlanStatus:
    """A plan without dates has its product's."""
    start = plan.effective_start_date or plan.product.effective_start_date
    end = plan.effective_end_date or plan.product.effective_end_date
    if today < start:
        return RatePlanStatus.NotStarted
    if today > end:
        return RatePlanStatus.Expired
    return RatePlanStatus.Active


def delete_rate_plan(ctx: ServiceContext, rate_plan_id: int) -> None:
    plan = get_rate_plan(ctx, rate_plan_id)
    if repo.rate_plan_in_use(ctx.session, ctx.tenant_id, plan.id):
        raise RuleViolation(
            "Product rate plan {rate_plan} is used by a subscription and cannot be deleted.",
            ids={"rate_plan": plan.id},
            resource=RATE_PLAN,
        )
    repo.delete_object(ctx.session, plan)
    ctx.session.flush()


# --- charges ------------------------------------------------------------------------


def create_charge(ctx: ServiceContext, new: NewCharge) -> ProductRatePlanCharge:
    plan = repo.get_rate_plan(ctx.session, ctx.tenant_id, new.product_rate_plan_id)
    if plan is None:
        raise InvalidValue(
            "Invalid value for ProductRatePlanId: product rate plan {rate_plan} not found.",
            ids={"rate_plan": new.product_rate_plan_id},
            resource=CHARGE,
            field="ProductRatePlanId",
        )
    resolved = resolution.resolve(new)
    now = ctx.clock.now()
    charge = ProductRatePlanCharge(
        tenant_id=ctx.tenant_id, product_rate_plan_id=plan.id, created_at=now, updated_at=now
    )
    resolution.apply(charge, resolved)
    charge.tiers = resolution.tier_rows(ctx.tenant_id, resolved)
    repo.add(ctx.session, charge)
    ctx.session.flush()
    return charge


def get_charge(ctx: ServiceContext, charge_id: int) -> ProductRatePlanCharge:
    """A charge with its tiers loaded."""
    charge = repo.get_charge(ctx.session, ctx.tenant_id, charge_id)
    if charge is None:
        raise NotFound(
            "Product rate plan charge {charge} not found.",
            ids={"charge": charge_id},
            resource=CHARGE,
        )
    return charge


def update_charge(
    ctx: ServiceContext, charge_id: int, changes: ChargeChanges
) -> ProductRatePlanCharge:
    charge = get_charge(ctx, charge_id)
    moved = changes.product_rate_plan_id
    if moved is not UNSET and moved != charge.product_rate_plan_id:
        raise InvalidValue(
            "ProductRatePlanId of a product rate plan charge cannot be changed.",
            resource=CHARGE,
            field="ProductRatePlanId",
        )
    resolved = resolution.resolve(resolution.merge(resolution.as_new_charge(charge), changes))
    resolution.apply(charge, resolved)
    stored = tuple(resolution.tier_of_row(row) for row in charge.tiers)
    if stored != resolved.tiers:
        # Delete before inserting: (charge, currency, tier) is unique.
        charge.tiers.clear()
        ctx.session.flush()
        charge.tiers.extend(resolution.tier_rows(ctx.tenant_id, resolved))
    charge.updated_at = ctx.clock.now()
    ctx.session.flush()
    return charge


def delete_charge(ctx: ServiceContext, charge_id: int) -> None:
    charge = get_charge(ctx, charge_id)
    if repo.charge_in_use(ctx.session, ctx.tenant_id, charge.id):
        raise RuleViolation(
            "Product rate plan charge {charge} is used by a subscription and cannot be deleted.",
            ids={"charge": charge.id},
            resource=CHARGE,
        )
    repo.delete_object(ctx.session, charge)
    ctx.session.flush()
