"""Fusebill list paging: ``pageSize``, 0-based ``pageNumber``, ``sortOrder`` /
``sortExpression``, and the ``X-*`` response headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Query
from starlette.responses import Response

MAX_PAGE_SIZE = 100
# The highest 0-based page index a list accepts: pageNumber * pageSize must stay a
# database integer (a 64-bit offset); past it a 400, never a 500.
MAX_PAGE_NUMBER = 100_000_000


@dataclass(frozen=True)
class FusebillPage:
    number: int
    size: int
    sort_order: Literal["Ascending", "Descending"]
    sort_expression: str | None

    @property
    def offset(self) -> int:
        return self.number * self.size


def fusebill_page(
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = 20,
    page_number: Annotated[int, Query(alias="pageNumber", ge=0, le=MAX_PAGE_NUMBER)] = 0,
    sort_order: Annotated[
        Literal["Ascending", "Descending"], Query(alias="sortOrder")
    ] = "Descending",
    sort_expression: Annotated[str | None, Query(alias="sortExpression", max_length=64)] = None,
) -> FusebillPage:
    return FusebillPage(page_number, page_size, sort_order, sort_expression)


PageParams = Annotated[FusebillPage, Depends(fusebill_page)]


def set_paging_headers(response: Response, page: FusebillPage, total: int, sort_field: str) -> None:
    max_index = max((total - 1) // page.size, 0)
    headers = response.headers
    headers["X-Count"] = str(min(page.size, max(total - page.offset, 0)))
    headers["X-MaxCount"] = str(total)
    headers["X-CurrentPage"] = str(page.number)
    headers["X-PageSize"] = str(page.size)
    headers["X-MaxPageIndex"] = str(max_index)
    headers["X-NextPage"] = str(page.number + 1 if page.number < max_index else -1)
    headers["X-PreviousPage"] = str(page.number - 1 if page.number > 0 else -1)
    headers["X-SortOrder"] = page.sort_order
    headers["X-SortExpression"] = sort_field
