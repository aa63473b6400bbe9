"""The product catalog, read-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from billcycle.catalog import service as catalog
from billcycle.console.pages.common import CurrentViewer, read
from billcycle.console.render import page
from billcycle.context import ServiceContext

router = APIRouter(include_in_schema=False)
SHOWN = 200


@router.get("/catalog")
def catalog_page(request: Request, viewer: CurrentViewer, offset: int = 0) -> Response:
    offset = max(0, offset)

    def work(ctx: ServiceContext) -> tuple[list[Any], bool]:
        products, more = catalog.list_products(ctx, offset, SHOWN)
        return [catalog.get_product(ctx, p.id, nested=True) for p in products], more

    products, more = read(request, viewer, work)
    return page(
        request,
        "catalog.html.j2",
        title="Catalog",
        products=products,
        more=more,
        offset=offset,
        shown=SHOWN,
    )
