"""Receivables: the AR aging report per currency, drill-down to accounts and invoices,
and its CSV export."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from billcycle.console.pages.common import CurrentViewer, read
from billcycle.console.render import page
from billcycle.money import from_minor
from billcycle.reports import service as reports

router = APIRouter(include_in_schema=False)


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


@router.get("/receivables/{currency}")
def aging_accounts(
    request: Request, viewer: CurrentViewer, currency: str, bucket: int | None = None
) -> Response:
    found = read(
        request, viewer, lambda ctx: reports.aging_accounts(ctx, currency=currency, bucket=bucket)
    )
    label = reports.AGING_BUCKETS[bucket] if bucket is not None and 0 <= bucket < 5 else "All"
    return page(
        request,
        "receivables_accounts.html.j2",
        title=f"Receivables {currency.upper()} · {label}",
        accounts=found,
        currency=currency.upper(),
        label=label,
    )
