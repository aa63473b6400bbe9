"""Fusebill routes: bulk jobs ("account uploads").

- ``POST /v1/BulkApi`` and ``POST /v1/bulkwriteoff``: create (answers the Validating job)
- ``POST /v1/BulkApi/upload``: create from a CSV file of invoice ids (multipart)
- ``GET /v1/BulkApi/{id}`` (``view=Full`` adds ``records``), ``GET /v1/BulkApi`` (paged)
- ``POST /v1/BulkApi/Process`` ``{"id": N}`` and ``POST /v1/BulkApi/Cancel/{id}``: the
  whole job object, records included (as Fusebill's cancel example shows it)

A job's records are answered in one piece (with a Content-Length) up to ``STREAM_ABOVE``
records, and beyond that streamed (chunked): the same bytes, read from the database a
page at a time in one snapshot taken after the request's commit, so a million-record
answer needs bounded memory. A processed job's drains are held until that snapshot is
taken, so its records show the job as the Process request left it, as before.

Every route is gated (404 while the tenant's bulk jobs are off). Bodies are read after
authentication and the feature check, so a caller learns nothing from how its body
would have been parsed. Statuses: 400 malformed input or a job in a status the action
does not accept (Fusebill's own wording and status), 404 unknown or another tenant's job,
409 a job already open.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from billcycle.bulkjobs import service
from billcycle.bulkjobs.csv_upload import parse_invoice_ids
from billcycle.bulkjobs.models import BulkJob
from billcycle.bulkjobs.payment_csv import parse_payments
from billcycle.bulkjobs.payment_records import encode
from billcycle.bulkjobs.statuses import BulkJobType
from billcycle.context import ServiceContext
from billcycle.db.session import snapshot_unit
from billcycle.errors import InvalidValue, MissingField
from billcycle.fusebill.deps import BulkCtx
from billcycle.fusebill.paging import PageParams, set_paging_headers
from billcycle.fusebill.schemas import bulk_jobs as schemas
from billcycle.fusebill.schemas import bulk_payment_stream
from billcycle.fusebill.schemas import payments as payment_schemas
from billcycle.jobs.dispatch import HeldDispatcher
from billcycle.runtime import Runtime

router = APIRouter(tags=["Bulk jobs"])

# Who a cancel over this API is recorded as (the key's tenant is the job's own).
CANCELLED_BY = "api"
SORTABLE = ("createdTimestamp", "id")

_JOB: dict[int | str, dict[str, Any]] = {
    200: {"model": schemas.BulkJobOut, "description": "The bulk job"}
}


def _json_body(model: type[Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _chunk_size(request: Request) -> int:
    return int(request.app.state.runtime.settings.bulk_job_chunk_size)


def _job(job: BulkJob, records: list[Any] | None = None) -> JSONResponse:
    return JSONResponse(schemas.job_json(job, records))


# Records above which a job with its records is streamed rather than answered in one piece.
STREAM_ABOVE = 10_000


def _streams(job: BulkJob) -> bool:
    return job.total_records > STREAM_ABOVE


def _streamed_job(
    request: Request,
    ctx: ServiceContext,
    job: BulkJob,
    on_snapshot: Callable[[], None] | None = None,
) -> StreamingResponse:
    """The job with its records, read in pages from one snapshot once the request's unit
    of work has committed (``on_snapshot`` runs as soon as that snapshot is taken)."""
    runtime: Runtime = request.app.state.runtime
    tenant_id = ctx.tenant_id

    def body() -> Iterator[bytes]:
        try:
            with snapshot_unit(runtime.session_factory) as session:
                reader = runtime.context(session, tenant_id)
                texts = service.job_record_texts(reader, job, schemas.RECORD_TEMPLATE)
                if texts is not None:  # SQLite writes each record's text
                    first_text = next(texts, [])
                    if on_snapshot is not None:
                        on_snapshot()
                    yield from schemas.job_json_text_chunks(
                        job, itertools.chain([first_text], texts)
                    )
                    return
                pages = service.job_record_pages(reader, job)
                first = next(pages, [])
                if on_snapshot is not None:
                    on_snapshot()
                yield from schemas.job_json_chunks(job, itertools.chain([first], pages))
        finally:
            if on_snapshot is not None:
                on_snapshot()

    return StreamingResponse(body(), media_type="application/json")


# -- create ------------------------------------------------------------------------------------


@router.post(
    "/v1/bulkapi",
    response_class=JSONResponse,
    responses=_JOB,
    summary="Create a bulk job",
    openapi_extra=_json_body(schemas.CreateBody),
)
def create_bulk_job(
    request: Request, ctx: BulkCtx, raw: Annotated[bytes, Depends(_raw_body)]
) -> Response:
    """Create a job (``BulkWriteOff``: ``data`` lists invoice ids; ``BulkPayment``: ``data``
    lists Create Payment bodies) and start validating it. Poll it with
    ``GET /v1/BulkApi/{id}``; process it once Validated."""
    streamed = bulk_payment_stream.read(raw)
    if streamed is not None and schemas.is_bulk_payment(
        {"accountuploadtype": streamed.upload_type}
    ):
        return _job(
            service.create_payment_job(
                ctx, streamed.upload_type, streamed.records, chunk_size=_chunk_size(request)
            )
        )
    fields = schemas.json_object(raw)
    if schemas.is_bulk_payment(fields):
        return _job(
            service.create_payment_job(
                ctx,
                fields["accountuploadtype"],
                payment_schemas.parse_bulk_payments(fields),
                chunk_size=_chunk_size(request),
            )
        )
    body = schemas.parse_create_body(fields)
    if body.upload_type is None:
        raise MissingField(
            "accountUploadType is required: use BulkWriteOff.", field="accountUploadType"
        )
    job = service.create_job(
        ctx, body.upload_type, body.invoice_ids, chunk_size=_chunk_size(request)
    )
    return _job(job)


@router.post(
    "/v1/bulkwriteoff",
    response_class=JSONResponse,
    responses=_JOB,
    summary="Create a bulk write-off job",
    openapi_extra=_json_body(schemas.CreateBody),
)
def create_bulk_write_off(
    request: Request, ctx: BulkCtx, raw: Annotated[bytes, Depends(_raw_body)]
) -> Response:
    """Fusebill's bulk write-off procedure: a BulkWriteOff job of the given invoice ids."""
    body = schemas.parse_create(raw)
    upload_type = body.upload_type or BulkJobType.BULK_WRITE_OFF
    if upload_type.strip().casefold() != BulkJobType.BULK_WRITE_OFF.casefold():
        raise InvalidValue(
            f"POST /v1/bulkwriteoff creates BulkWriteOff jobs, not '{upload_type[:40]}'.",
            field="accountUploadType",
        )
    job = service.create_job(ctx, upload_type, body.invoice_ids, chunk_size=_chunk_size(request))
    return _job(job)


@router.post(
    "/v1/bulkpaymentsubmit",
    response_class=JSONResponse,
    responses=_JOB,
    summary="Create a bulk payment job",
    openapi_extra=_json_body(payment_schemas.BulkPaymentBody),
)
def create_bulk_payment(
    request: Request, ctx: BulkCtx, raw: Annotated[bytes, Depends(_raw_body)]
) -> Response:
    """Fusebill's bulk payment procedure: a BulkPayment job of the given Create Payment
    bodies (Cash, Check or DirectDeposit; allocated to named invoices or automatically).
    ``createdEntityId`` of a processed record is its payment's id."""
    streamed = bulk_payment_stream.read(raw)
    fields = schemas.json_object(raw) if streamed is None else {}
    given = fields.get("accountuploadtype") if streamed is None else streamed.upload_type
    upload_type = given or BulkJobType.BULK_PAYMENT
    if not schemas.is_bulk_payment({"accountuploadtype": upload_type}):
        raise InvalidValue(
            f"POST /v1/bulkPaymentSubmit creates BulkPayment jobs, not '{str(upload_type)[:40]}'.",
            field="accountUploadType",
        )
    job = service.create_payment_job(
        ctx,
        str(upload_type),
        payment_schemas.parse_bulk_payments(fields) if streamed is None else streamed.records,
        chunk_size=_chunk_size(request),
    )
    return _job(job)


@dataclass(frozen=True)
class Upload:
    file_name: str | None
    content: bytes
    upload_type: str | None


async def _upload(request: Request) -> Upload:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise InvalidValue(
            "Upload the file as multipart/form-data: a 'file' part with the invoice ids and "
            "an 'accountUploadType' field."
        )
    try:
        form = await request.form(max_files=1, max_fields=10)
    except (MultiPartException, HTTPException) as exc:
        raise InvalidValue("The multipart body is malformed.") from exc
    try:
        upload: UploadFile | None = None
        upload_type: str | None = None
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                upload = upload or value
            elif key.casefold() == "accountuploadtype":
                upload_type = value
        if upload is None:
            raise MissingField("A 'file' part with the invoice ids is required.", field="file")
        content = await upload.read()
        name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
        return Upload(file_name=name or None, content=content, upload_type=upload_type)
    finally:
        await form.close()


@router.post(
    "/v1/bulkapi/upload",
    response_class=JSONResponse,
    responses=_JOB,
    summary="Create a bulk job from a CSV file",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "accountUploadType"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "accountUploadType": {"type": "string", "example": "BulkWriteOff"},
                        },
                    }
                }
            },
        }
    },
)
def upload_bulk_job(
    request: Request, ctx: BulkCtx, upload: Annotated[Upload, Depends(_upload)]
) -> Response:
    """BulkWriteOff: a file of invoice ids, one per line or comma-separated, with an
    optional header line. BulkPayment: a CSV of payments (``StaxBillID``, ``Amount``,
    ``Reference``, ``PaymentMethod``, ``InvoiceID``/``AllocationAmount`` pairs; see
    docs/fusebill-api.md). The job's ``fileName`` is the uploaded file's name."""
    if upload.upload_type is None:
        raise MissingField(
            "accountUploadType is required: use BulkWriteOff.", field="accountUploadType"
        )
    if service.find_type(upload.upload_type) == BulkJobType.BULK_PAYMENT:
        return _job(
            service.create_payment_job(
                ctx,
                upload.upload_type,
                [encode(payment) for payment in parse_payments(upload.content)],
                chunk_size=_chunk_size(request),
                file_name=upload.file_name,
            )
        )
    invoice_ids = parse_invoice_ids(upload.content)
    job = service.create_job(
        ctx,
        upload.upload_type,
        invoice_ids,
        chunk_size=_chunk_size(request),
        file_name=upload.file_name,
    )
    return _job(job)


async def _payment_file(request: Request) -> Upload:
    """A payments CSV: the whole body as ``text/csv``, or a multipart ``file`` part."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        upload = await _upload(request)
        return Upload(upload.file_name, upload.content, BulkJobType.BULK_PAYMENT)
    if content_type.startswith(("text/csv", "text/plain", "application/csv")):
        return Upload(None, await request.body(), BulkJobType.BULK_PAYMENT)
    raise InvalidValue(
        "Send the payments as text/csv, or as multipart/form-data with a 'file' part."
    )


@router.post(
    "/v1/bulkpaymentsubmit/upload",
    response_class=JSONResponse,
    responses=_JOB,
    summary="Create a bulk payment job from a CSV file",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        }
    },
)
def upload_bulk_payments(
    request: Request, ctx: BulkCtx, upload: Annotated[Upload, Depends(_payment_file)]
) -> Response:
    """A BulkPayment job from a CSV of payments: a header line, then one payment a line
    (``StaxBillID``, ``Amount``, optional ``Reference``, ``PaymentMethod``, ``Source``,
    ``InvoiceID``/``AllocationAmount`` pairs, ``AutoAllocate``, ``AutoAllocateOrder``)."""
    job = service.create_payment_job(
        ctx,
        BulkJobType.BULK_PAYMENT,
        [encode(payment) for payment in parse_payments(upload.content)],
        chunk_size=_chunk_size(request),
        file_name=upload.file_name,
    )
    return _job(job)


# -- process and cancel --------------------------------------------------------------------------


@router.post(
    "/v1/bulkapi/process",
    response_class=JSONResponse,
    responses=_JOB,
    summary="Process a validated bulk job",
    openapi_extra=_json_body(schemas.ProcessBody),
)
def process_bulk_job(
    request: Request, ctx: BulkCtx, raw: Annotated[bytes, Depends(_raw_body)]
) -> Response:
    """Write off the invoices of the records that passed validation, in the background."""
    body = schemas.parse_process(raw)
    held = HeldDispatcher(ctx.dispatcher) if ctx.dispatcher is not None else None
    job = service.process_job(
        replace(ctx, dispatcher=held) if held is not None else ctx,
        body.id,
        chunk_size=_chunk_size(request),
        settings=body.settings,
    )
    if held is not None and _streams(job):
        return _streamed_job(request, ctx, job, on_snapshot=held.release)
    if held is not None:
        held.release()  # the drains are dispatched at the commit, after this answer is built
    return _job(job, service.job_records(ctx, job))


@router.post(
    "/v1/bulkapi/cancel/{job_id}",
    response_class=JSONResponse,
    responses=_JOB,
    summary="Cancel a bulk job",
)
def cancel_bulk_job(job_id: str, request: Request, ctx: BulkCtx) -> Response:
    """Mark every incomplete record FailedProcessing ("Manually marked as Failed."); the job
    becomes ProcessedWithErrors and a new job may be created."""
    job = service.cancel_job(ctx, schemas.parse_job_id(job_id), cancelled_by=CANCELLED_BY)
    if _streams(job):  # a cancelled job's records are final: read them after the commit
        return _streamed_job(request, ctx, job)
    return _job(job, service.job_records(ctx, job))


# -- read ------------------------------------------------------------------------------------


@router.get("/v1/bulkapi", response_class=JSONResponse, summary="List bulk jobs")
def list_bulk_jobs(ctx: BulkCtx, page: PageParams) -> Response:
    """The tenant's jobs, newest first (``sortOrder=Ascending`` for oldest first)."""
    wanted = (page.sort_expression or "").strip()
    if wanted and wanted.casefold() not in {name.casefold() for name in SORTABLE}:
        raise InvalidValue(
            f"Invalid sortExpression '{wanted[:40]}'. Sortable fields: {', '.join(SORTABLE)}.",
            field="sortExpression",
        )
    jobs, total = service.list_jobs(
        ctx, offset=page.offset, limit=page.size, ascending=page.sort_order == "Ascending"
    )
    response = JSONResponse([schemas.job_json(job) for job in jobs])
    set_paging_headers(response, page, total, "createdTimestamp")
    return response


@router.get(
    "/v1/bulkapi/{job_id}", response_class=JSONResponse, responses=_JOB, summary="Poll a bulk job"
)
def get_bulk_job(job_id: str, request: Request, ctx: BulkCtx) -> Response:
    """A job in any status; ``view=Full`` adds every record with its status and details."""
    job = service.get_job(ctx, schemas.parse_job_id(job_id))
    if not schemas.wants_records(request.query_params):
        return _job(job)
    if _streams(job):
        return _streamed_job(request, ctx, job)
    return _job(job, service.job_records(ctx, job))
