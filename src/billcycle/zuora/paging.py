"""Zuora's REST paging: ``page`` (1-based) and ``pageSize``, with a ``nextPage`` URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query
from starlette.requests import Request

MAX_PAGE_SIZE = 10_000
# The highest page number a list accepts: (page - 1) * pageSize must stay a database
# integer (a 64-bit offset) whatever the page size; past it a 400, never a 500.
MAX_PAGE_NUMBER = 100_000_000

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE_NUMBER, description="Page number, from 1")]
"""The ``page`` query parameter of every Zuora list."""


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def page_params(
    page: PageNumber = 1,
    page_size: Annotated[
        int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE, description="Items per page")
    ] = 20,
) -> Page:
    return Page(number=page, size=page_size)


PageParams = Annotated[Page, Depends(page_params)]


def next_page_url(request: Request, page: Page, has_more: bool) -> str | None:
    """The URL of the next page, or None on the last page (Zuora omits nextPage then)."""
    if not has_more:
        return None
    url = request.url.include_query_params(page=page.number + 1, pageSize=page.size)
    return str(url)
