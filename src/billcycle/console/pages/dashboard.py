"""The dashboard: runs in progress (live), runs awaiting review, open bulk jobs, failed
payments and accounts in collections."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from billcycle.console.pages.common import CurrentViewer, read
from billcycle.console.render import fragment, page
from billcycle.reports import service as reports

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request, viewer: CurrentViewer) -> Response:
    board = read(request, viewer, reports.dashboard)
    return page(request, "dashboard.html.j2", title="Dashboard", board=board)


@router.get("/dashboard/runs")
def runs_in_progress(request: Request, viewer: CurrentViewer) -> Response:
    """The live part (htmx polls it): one query."""
    runs = read(
        request,
        viewer,
        lambda ctx: reports.bill_runs(ctx, statuses=reports.RUNS_IN_PROGRESS, limit=10).rows,
    )
    return fragment(request, "_runs_progress.html.j2", runs=runs)
