"""Keyset paging: ``?limit=&after=<cursor>``, stable order by id.

The cursor is opaque to clients (base64url of the last id shown), so its form can change
without breaking them. A page asks the repository for one row more than ``limit``: that
row's presence, not a count, says whether a next page exists, and no page costs more
than its own rows. The next page's URL is in the body (``next``, null on the last page)
and in a ``Link: <...>; rel="next"`` header (RFC 8288).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response

from billcycle.ids import is_ascii_digits

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_PREFIX = "id:"


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


BAD_CURSOR = "The cursor in 'after' is not one this API returned."


def decode_cursor(cursor: str) -> int:
    """The last id shown; a cursor this API did not make is refused like any bad query
    parameter (422, ``errors: [{"parameter": "after", ...}]``)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    digits = raw.removeprefix(_PREFIX)
    if not raw.startswith(_PREFIX) or not is_ascii_digits(digits) or len(digits) > 19:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "after"), "msg": BAD_CURSOR, "input": cursor}]
        )
    return int(digits)


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: int | None

    @property
    def fetch(self) -> int:
        """Rows to ask for: one more than shown, to learn whether a next page exists."""
        return self.limit + 1


def page_request(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1 to 100)")
    ] = DEFAULT_LIMIT,
    after: Annotated[
        str | None,
        Query(max_length=64, description="The cursor from the previous page's `next` link"),
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, after=decode_cursor(after) if after is not None else None)


PageParams = Annotated[PageRequest, Depends(page_request)]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next: str | None


def paginate(
    request: Request,
    response: Response,
    page: PageRequest,
    rows: Sequence[T],
    id_of: Callable[[T], int],
) -> Page[T]:
    """``rows`` as fetched with ``page.fetch``; sets the ``Link`` header when more follow."""
    items = rows[: page.limit]
    if len(rows) <= page.limit:
        return Page(items, None)
    # An absolute-path reference: right behind any proxy that keeps the path.
    url = request.url.include_query_params(limit=page.limit, after=encode_cursor(id_of(items[-1])))
    next_url = f"{url.path}?{url.query}"
    response.headers["Link"] = f'<{next_url}>; rel="next"'
    return Page(items, next_url)
