"""What every page module shares: reading in a read-only unit of work, running an
action in one write unit (recorded through ``actions.record_action``), and query values."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from billcycle.console.actions import record_action
from billcycle.console.render import redirect, request_id
from billcycle.console.session import Viewer, require_viewer, runtime_of
from billcycle.context import ServiceContext
from billcycle.errors import DomainError, ErrorKind, InvalidValue
from billcycle.reports.service import HistoryEntry, Sorting, object_history
from billcycle.web.units import Units

T = TypeVar("T")
CurrentViewer = Annotated[Viewer, Depends(require_viewer)]
PAGE_SIZE = 50
# Refusals an action answers on its object's page (the object is there, the action is not
# allowed now); a missing object is a 404 page.
SHOWN_ON_PAGE = (
    ErrorKind.RULE,
    ErrorKind.INVALID_VALUE,
    ErrorKind.MISSING_FIELD,
    ErrorKind.CONFLICT,
    ErrorKind.OVER_LIMIT,
    ErrorKind.UNKNOWN_FIELD,
)


def units(request: Request, viewer: Viewer) -> Units:
    return Units(runtime_of(request), viewer.tenant_id)


def read(request: Request, viewer: Viewer, work: Callable[[ServiceContext], T]) -> T:
    return units(request, viewer).read(work)


async def act(
    request: Request,
    viewer: Viewer,
    *,
    action: str,
    object_type: str,
    object_id: int | str,
    work: Callable[[ServiceContext], Any],
    back: str,
    notice: str,
) -> Response:
    """Runs ``work`` in one write unit of work; on a refusal nothing is written and the
    person is sent back to ``back`` with the reason."""
    runtime = runtime_of(request)
    try:
        result = await units(request, viewer).write(work)
    except DomainError as exc:
        if exc.kind not in SHOWN_ON_PAGE:
            raise
        _record(
            request, viewer, runtime.machine_clock.now(), action, object_type, object_id, "refused"
        )
        return redirect(request, back, error=str(exc))
    _record(request, viewer, runtime.machine_clock.now(), action, object_type, object_id, "ok")
    if isinstance(result, Response):
        return result
    return redirect(request, back, notice=notice)


def _record(
    request: Request,
    viewer: Viewer,
    at: Any,
    action: str,
    object_type: str,
    object_id: int | str,
    outcome: str,
) -> None:
    record_action(
        runtime_of(request),
        tenant_id=viewer.tenant_id,
        user_email=viewer.email,
        action=action,
        object_type=object_type,
        object_id=object_id,
        at=at,
        outcome=outcome,
        request_id=request_id(request),
        route=request.url.path,
    )


def trail(ctx: ServiceContext, object_type: str, object_id: int) -> list[HistoryEntry]:
    """An object's history for its page (the caller has found the object)."""
    return object_history(ctx, object_type, object_id)


def sorting(sort: str | None, default: str, *, descending: bool = True) -> Sorting:
    """``sort`` reads ``key`` (ascending) or ``-key`` (descending)."""
    if not sort:
        return Sorting(default, descending)
    return Sorting(sort.lstrip("-"), sort.startswith("-"))


def optional_int(value: str | None, field: str) -> int | None:
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidValue(f"{field} is a whole number.", field=field) from None


def optional_date(value: str | None, field: str) -> date | None:
    if value is None or value.strip() == "":
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidValue(f"{field} is a date (YYYY-MM-DD).", field=field) from None


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def csv_download(
    filename: str, header: list[str], pages: Iterator[Iterable[list[Any]]]
) -> StreamingResponse:
    """A CSV file streamed a page at a time: ``pages`` yields each keyset page's rows (it
    holds its own unit of work open while the download runs), so a million-row export
    never holds more than one page in memory."""

    def text() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        for page in pages:
            writer.writerows(page)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue()

    return StreamingResponse(
        text(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
