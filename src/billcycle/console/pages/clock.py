"""A sandbox tenant's test clock: its business time, and a form that advances it by a
number of days or to a date (``testclocks.service``, the same calls as ``billcycle clock
advance`` and the admin API's ``.../clock/advance``). A production tenant has no clock:
the page says so and an advance is refused by the service."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio.to_thread
from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from billcycle.console.pages.common import SHOWN_ON_PAGE, CurrentViewer, _record, form_text, read
from billcycle.console.render import page, redirect
from billcycle.console.session import checked_form, runtime_of
from billcycle.context import ServiceContext
from billcycle.errors import DomainError, ErrorKind, InvalidValue
from billcycle.ids import is_ascii_digits
from billcycle.testclocks import service as clocks

router = APIRouter(include_in_schema=False)
MAX_DAYS = 3660


def _reading(ctx: ServiceContext) -> tuple[clocks.ClockReading | None, datetime, str]:
    """The sandbox's clock, or None and the real time for a production tenant."""
    try:
        return clocks.read_clock(ctx), ctx.clock.now(), ""
    except DomainError as exc:
        return None, ctx.clock.now(), str(exc)


@router.get("/clock")
def clock_page(request: Request, viewer: CurrentViewer) -> Response:
    reading, now, refusal = read(request, viewer, _reading)
    return page(
        request,
        "clock.html.j2",
        title="Test clock",
        reading=reading,
        now=now,
        refusal=refusal,
        values={"days": "", "to": ""},
        errors={},
    )


def _mover(form: FormData, zone: str) -> tuple[str, Any]:
    """What the form asks: ("days", n) or ("to", the date's midnight in the tenant's
    zone); exactly one of the two."""
    days, to = form_text(form, "days"), form_text(form, "to")
    if bool(days) == bool(to):
        raise InvalidValue("Give a number of days or a date, not both.", field="days")
    if days:
        if not is_ascii_digits(days) or not 1 <= int(days) <= MAX_DAYS:
            raise InvalidValue(f"Days are a whole number from 1 to {MAX_DAYS}.", field="days")
        return "days", int(days)
    try:
        target = date.fromisoformat(to)
    except ValueError:
        raise InvalidValue("The date is YYYY-MM-DD.", field="to") from None
    return "to", datetime.combine(target, time(0), tzinfo=ZoneInfo(zone))


@router.post("/clock/advance")
async def advance(request: Request, viewer: CurrentViewer) -> Response:
    form = await checked_form(request, viewer)
    runtime = runtime_of(request)
    reading, now, refusal = read(request, viewer, _reading)

    def record(outcome: str) -> None:
        _record(
            request,
            viewer,
            runtime.machine_clock.now(),
            "advance_clock",
            "tenant",
            viewer.tenant_id,
            outcome,
        )

    try:
        kind, amount = _mover(form, reading.time_zone if reading else "UTC")
        if kind == "days":
            done = await anyio.to_thread.run_sync(
                lambda: clocks.advance_by(runtime, viewer.tenant_id, timedelta(days=amount))
            )
        else:
            done = await anyio.to_thread.run_sync(
                lambda: clocks.advance_to(runtime, viewer.tenant_id, amount)
            )
    except DomainError as exc:
        if exc.kind not in SHOWN_ON_PAGE:
            raise
        record("refused")
        return page(
            request,
            "clock.html.j2",
            code=400 if exc.kind in (ErrorKind.INVALID_VALUE, ErrorKind.MISSING_FIELD) else 409,
            title="Test clock",
            reading=reading,
            now=now,
            refusal=refusal,
            values={"days": form_text(form, "days"), "to": form_text(form, "to")},
            errors={exc.field if exc.field in ("days", "to") else "form": str(exc)},
        )
    record("ok")
    return redirect(
        request,
        "/clock",
        notice=(
            f"The clock moved {done.days} day(s) to {done.now.isoformat()}:"
            f" {done.bill_runs} bill run(s), {done.payment_runs} payment run(s)."
        ),
    )
