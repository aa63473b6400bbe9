"""Receivables: the AR aging report per currency, drill-down to accounts (keyset-paged,
largest or smallest balances first), and their CSV exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from billcycle.console.pages.common import CurrentViewer, csv_download, read, sorting, units
from billcycle.console.render import page
from billcycle.console.session import Viewer, runtime_of
from billcycle.db.session import snapshot_unit
from billcycle.errors import InvalidValue
from billcycle.money import from_minor
from billcycle.reports import service as reports

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
CSV_PAGE = 1000


@router.get("/receivables")
def aging(request: Request, viewer: CurrentViewer) -> Response:
    rows = read(request, viewer, reports.aging)
    return page(
        request,
        "receivables.html.j2",
        title="Receivables",
        rows=rows,
        buckets=reports.AGING_BUCKETS,
    )


@router.get("/receivables.csv")
def aging_csv(request: Request, viewer: CurrentViewer) -> Response:
    rows = read(request, viewer, reports.aging)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["currency", *reports.AGING_BUCKETS, "total", "invoices"])
    for row in rows:
        writer.writerow(
            [
                row.currency,
                *(from_minor(b, row.currency) for b in row.buckets),
                from_minor(row.total, row.currency),
                row.invoices,
            ]
        )
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="aging.csv"'},
    )


def _bucket(value: str | None) -> int | None:
    if value is None or value.strip() in ("", "all"):
        return None
    try:
        bucket = int(value)
    except ValueError:
        raise InvalidValue("bucket is 0-4 or all.", field="bucket") from None
    if not 0 <= bucket < len(reports.AGING_BUCKETS):
        raise InvalidValue("No such aging bucket.", field="bucket")
    return bucket


def _label(bucket: int | None) -> str:
    return "All" if bucket is None else reports.AGING_BUCKETS[bucket]


async def _aged(request: Request, viewer: Viewer) -> None:
    """The per-account buckets are counted at another business date (its first read
    after the tenant's midnight, or a test clock moved): move them, in a write unit."""
    await units(request, viewer).write(reports.age_receivables)


@router.get("/receivables/{currency}.csv")
async def aging_accounts_csv(
    request: Request, viewer: CurrentViewer, currency: str, bucket: str | None = None
) -> Response:
    """(Declared before the page: its path would match this one.) Every account of the
    bucket, largest balances first, streamed: read page by page
    (keyset) in ONE snapshot, so the file shows one state of the summary however long the
    download takes."""
    chosen = _bucket(bucket)
    runtime = runtime_of(request)
    stale = await run_in_threadpool(
        read,
        request,
        viewer,
        lambda ctx: reports.aging_accounts(ctx, currency=currency, bucket=chosen, limit=1) is None,
    )
    if stale:
        await _aged(request, viewer)
    code = currency.upper()

    def pages() -> Iterator[list[list[Any]]]:
        after: str | None = None
        with snapshot_unit(runtime.session_factory) as session:
            ctx = runtime.context(session, viewer.tenant_id)
            while True:
                found = reports.aging_accounts(
                    ctx, currency=code, bucket=chosen, after=after, limit=CSV_PAGE
                )
                if found is None:  # the business date moved during the download
                    raise RuntimeError("the aging buckets moved to another date; download again")
                yield [
                    [number, name, _label(chosen), from_minor(balance, code), count]
                    for _id, number, name, balance, count in found.rows
                ]
                if found.next_cursor is None:
                    return
                after = found.next_cursor

    header = ["account_number", "account_name", "bucket", "open_balance", "invoices"]
    return csv_download(f"receivables-{code}-{_label(chosen)}.csv", header, pages())


@router.get("/receivables/{currency}")
async def aging_accounts(
    request: Request,
    viewer: CurrentViewer,
    currency: str,
    bucket: str | None = None,
    sort: str | None = None,
    after: str | None = None,
) -> Response:
    chosen = _bucket(bucket)
    order = sorting(sort, "balance")

    def work(ctx: Any) -> Any:
        return reports.aging_accounts(
            ctx, currency=currency, bucket=chosen, sort=order, after=after, limit=PAGE_SIZE
        )

    found = await run_in_threadpool(read, request, viewer, work)
    if found is None:
        await _aged(request, viewer)
        found = await run_in_threadpool(read, request, viewer, work)
    return page(
        request,
        "receivables_accounts.html.j2",
        title=f"Receivables {currency.upper()} · {_label(chosen)}",
        accounts=found,
        currency=currency.upper(),
        label=_label(chosen),
        bucket="all" if chosen is None else str(chosen),
        sort=sort or "-balance",
    )
