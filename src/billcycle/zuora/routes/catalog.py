"""Zuora's catalog REST API: the product catalog as nested, read-only JSON.

``GET /v1/catalog/products`` and ``GET /v1/catalog/product/{product-key}`` answer each
product with its rate plans, charges and prices per currency (Zuora-Version 230.0 and
later, and date versions; older numeric versions get the URL of the rate plan list
instead, as Zuora does). Catalog objects are written through the object API
(:mod:`billcycle.zuora.routes.objects`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query
from starlette.requests import Request

from billcycle.catalog import service
from billcycle.catalog.models import RATE_PLAN, Product
from billcycle.ids import parse_zuora_id, require_zuora_id
from billcycle.zuora.deps import Ctx
from billcycle.zuora.paging import Page, PageNumber, next_page_url
from billcycle.zuora.schemas.catalog import (
    CatalogProduct,
    CatalogProductResponse,
    CatalogProductsResponse,
    RatePlanResponse,
    RatePlansOfProductResponse,
    catalog_product,
    catalog_rate_plan,
    rate_plan_response,
)

router = APIRouter(tags=["Catalog"])

# Zuora's catalog pages: 10 items by default, at most 40.
CATALOG_PAGE_SIZE = 10
CATALOG_MAX_PAGE_SIZE = 40
_NESTED_PLANS_SINCE = 230.0

# Zuora names this parameter ``product-key``; Starlette path parameters must be identifiers.
ProductKey = Annotated[str, Path(description="The product's 32-hex id or its SKU")]


def _catalog_page(
    page: PageNumber = 1,
    page_size: Annotated[
        int,
        Query(alias="pageSize", ge=1, le=CATALOG_MAX_PAGE_SIZE, description="Items per page"),
    ] = CATALOG_PAGE_SIZE,
) -> Page:
    return Page(number=page, size=page_size)


CatalogPage = Annotated[Page, Depends(_catalog_page)]


def _plans_as_url(
    zuora_version: Annotated[str | None, Header(alias="Zuora-Version")] = None,
) -> bool:
    """Numeric minor versions before 230.0 list rate plans by URL (the protocol
    middleware has already refused unparseable versions)."""
    if zuora_version is None:
        return False
    try:
        return float(zuora_version.strip()) < _NESTED_PLANS_SINCE
    except ValueError:
        return False  # a date version: newer than every numeric one


PlansAsUrl = Annotated[bool, Depends(_plans_as_url)]


def _find_product(ctx: Ctx, product_key: str, *, nested: bool) -> Product:
    """Zuora's ``product-key``: the product's 32-hex id, else its SKU."""
    return service.find_product(
        ctx, product_key, product_id=parse_zuora_id(product_key), nested=nested
    )


@router.get(
    "/v1/catalog/products",
    response_model=CatalogProductsResponse,
    summary="List all products, with their rate plans, charges and prices",
)
def list_products(
    request: Request, ctx: Ctx, page: CatalogPage, plans_as_url: PlansAsUrl
) -> CatalogProductsResponse:
    products, has_more = service.list_products(ctx, page.offset, page.size)
    today = ctx.clock.today()
    return CatalogProductsResponse(
        products=[
            catalog_product(p, today, plans_as_url=plans_as_url, shape=CatalogProduct)
            for p in products
        ],
        next_page=next_page_url(request, page, has_more),
    )


@router.get(
    "/v1/catalog/product/{product_key}",
    response_model=CatalogProductResponse,
    summary="Retrieve a product by id or SKU, with its rate plans, charges and prices",
)
def get_product(
    product_key: ProductKey, ctx: Ctx, plans_as_url: PlansAsUrl
) -> CatalogProductResponse:
    product = _find_product(ctx, product_key, nested=not plans_as_url)
    return catalog_product(
        product, ctx.clock.today(), plans_as_url=plans_as_url, shape=CatalogProductResponse
    )


@router.get(
    "/v1/rateplan/{product_key}/productRatePlan",
    response_model=RatePlansOfProductResponse,
    summary="List the rate plans of a product, with their charges and prices",
)
def list_rate_plans_of_product(
    request: Request, product_key: ProductKey, ctx: Ctx, page: CatalogPage
) -> RatePlansOfProductResponse:
    product = _find_product(ctx, product_key, nested=False)
    plans, has_more = service.list_rate_plans(ctx, product.id, page.offset, page.size)
    today = ctx.clock.today()
    return RatePlansOfProductResponse(
        product_rate_plans=[catalog_rate_plan(plan, today) for plan in plans],
        next_page=next_page_url(request, page, has_more),
    )


@router.get(
    "/v1/product-rate-plans/{id}",
    response_model=RatePlanResponse,
    summary="Retrieve a product rate plan",
)
def get_rate_plan(
    plan_key: Annotated[str, Path(alias="id", description="The rate plan's 32-hex id")],
    ctx: Ctx,
) -> RatePlanResponse:
    plan = service.get_rate_plan(ctx, require_zuora_id(plan_key, RATE_PLAN))
    return rate_plan_response(plan, ctx.clock.today())
