"""Bulk write-offs: list, new job (pasted invoice ids or a CSV file), detail with live
counters and the records filterable by status, Process and Cancel, results as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from billcycle.bulkjobs import service as jobs
from billcycle.bulkjobs import statuses as st
from billcycle.bulkjobs.csv_upload import parse_invoice_ids
from billcycle.bulkjobs.statuses import BulkJobStatus, BulkJobType, RecordStatus
from billcycle.console.pages.common import (
    PAGE_SIZE,
    CurrentViewer,
    _record,
    act,
    read,
    trail,
    units,
)
from billcycle.console.render import fragment, page, redirect
from billcycle.console.session import checked_form, runtime_of
from billcycle.context import ServiceContext
from billcycle.db.session import read_only_unit
from billcycle.errors import DomainError, InvalidValue
from billcycle.reports import service as reports

router = APIRouter(include_in_schema=False)
LIVE = frozenset({BulkJobStatus.VALIDATING, BulkJobStatus.PROCESSING})
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def job_actions(status: str) -> list[str]:
    found = []
    if status in st.PROCESSABLE:
        found.append("process")
    if status in st.CANCELLABLE:
        found.append("cancel")
    return found


@router.get("/bulk-jobs")
def list_jobs(
    request: Request, viewer: CurrentViewer, status: str | None = None, after: str | None = None
) -> Response:
    found = read(
        request,
        viewer,
        lambda ctx: reports.bulk_jobs(
            ctx, statuses=[status] if status else [], after=after, limit=PAGE_SIZE
        ),
    )
    return page(
        request,
        "bulk_jobs.html.j2",
        title="Bulk jobs",
        jobs=found,
        status=status or "",
        statuses=list(BulkJobStatus),
    )


@router.get("/bulk-jobs/new")
def new_job_form(request: Request, viewer: CurrentViewer) -> Response:
    return page(request, "bulk_job_new.html.j2", title="New bulk write-off", errors={}, pasted="")


@router.post("/bulk-jobs/new")
async def create_job(request: Request, viewer: CurrentViewer) -> Response:
    form = await checked_form(request, viewer)
    pasted = str(form.get("invoice_ids") or "")
    upload = form.get("file")
    file_name: str | None = None
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read(MAX_UPLOAD_BYTES + 1)
            if len(content) > MAX_UPLOAD_BYTES:
                raise InvalidValue("The file is larger than 20 MB.", field="file")
            ids = parse_invoice_ids(content)
            file_name = upload.filename
        elif pasted.strip():
            try:
                ids = parse_invoice_ids(pasted.replace(" ", ",").replace("\t", ",").encode())
            except InvalidValue as exc:
                raise InvalidValue(str(exc), field="invoice_ids") from None
        else:
            raise InvalidValue("Paste invoice ids or choose a CSV file.", field="invoice_ids")
        chunk = int(runtime_of(request).settings.bulk_job_chunk_size)

        def work(ctx: ServiceContext) -> int:
            return jobs.create_job(
                ctx, BulkJobType.BULK_WRITE_OFF, ids, chunk_size=chunk, file_name=file_name
            ).id

        job_id = await units(request, viewer).write(work)
    except DomainError as exc:
        field = exc.field if exc.field in ("file", "invoice_ids") else "form"
        return page(
            request,
            "bulk_job_new.html.j2",
            code=400,
            title="New bulk write-off",
            errors={field: str(exc)},
            pasted=pasted,
        )
    _record(
        request, viewer, runtime_of(request).machine_clock.now(), "create", "bulk_job", job_id, "ok"
    )
    return redirect(request, f"/bulk-jobs/{job_id}", notice="The bulk job was created.")


@router.get("/bulk-jobs/{job_id}")
def job_detail(
    request: Request,
    viewer: CurrentViewer,
    job_id: int,
    status: str | None = None,
    after: str | None = None,
) -> Response:
    def work(ctx: ServiceContext) -> tuple[Any, Any, Any]:
        job = jobs.get_job(ctx, job_id)
        records = reports.job_records(ctx, job.id, status=status, after=after, limit=PAGE_SIZE)
        return job, records, trail(ctx, "bulk_job", job.id)

    job, records, history = read(request, viewer, work)
    return page(
        request,
        "bulk_job.html.j2",
        title=f"Bulk job {job.id}",
        job=job,
        records=records,
        status=status or "",
        statuses=list(RecordStatus),
        live=job.status in LIVE,
        actions=job_actions(job.status),
        trail=history,
    )


@router.get("/bulk-jobs/{job_id}/progress")
def job_progress(request: Request, viewer: CurrentViewer, job_id: int) -> Response:
    job = read(request, viewer, lambda ctx: jobs.get_job(ctx, job_id))
    response = fragment(request, "_job_progress.html.j2", job=job, live=job.status in LIVE)
    if job.status not in LIVE:
        response.headers["HX-Refresh"] = "true"
    return response


@router.get("/bulk-jobs/{job_id}/records.csv")
def job_csv(request: Request, viewer: CurrentViewer, job_id: int) -> Response:
    read(request, viewer, lambda ctx: jobs.get_job(ctx, job_id))  # 404 for another tenant's
    runtime = runtime_of(request)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["record_id", "invoice_id", "status", "details", "write_off_id"])
        with read_only_unit(runtime.session_factory) as session:
            ctx = runtime.context(session, viewer.tenant_id)
            job = jobs.get_job(ctx, job_id)
            for chunk in jobs.job_record_pages(ctx, job):
                for record in chunk:
                    writer.writerow(
                        [
                            record.id,
                            record.data,
                            record.status,
                            record.details or "",
                            record.created_entity_id or "",
                        ]
                    )
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        rows(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="bulk-job-{job_id}.csv"'},
    )


@router.post("/bulk-jobs/{job_id}/process")
async def process(request: Request, viewer: CurrentViewer, job_id: int) -> Response:
    await checked_form(request, viewer)
    chunk = int(runtime_of(request).settings.bulk_job_chunk_size)
    return await act(
        request,
        viewer,
        action="process",
        object_type="bulk_job",
        object_id=job_id,
        work=lambda ctx: jobs.process_job(ctx, job_id, chunk_size=chunk),
        back=f"/bulk-jobs/{job_id}",
        notice="Processing started.",
    )


@router.post("/bulk-jobs/{job_id}/cancel")
async def cancel(request: Request, viewer: CurrentViewer, job_id: int) -> Response:
    await checked_form(request, viewer)
    return await act(
        request,
        viewer,
        action="cancel",
        object_type="bulk_job",
        object_id=job_id,
        work=lambda ctx: jobs.cancel_job(ctx, job_id, cancelled_by=viewer.email),
        back=f"/bulk-jobs/{job_id}",
        notice="The bulk job was cancelled.",
    )
