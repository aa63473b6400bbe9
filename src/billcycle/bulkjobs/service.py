"""Bulk jobs ("account uploads") as clients see them: create (records validated in the
background), read, list, process (records written off in the background), cancel.

Rules: one open job per tenant (validating, awaiting processing, or processing), at
most the tenant's record limit per job; BulkWriteOff (invoice ids) and BulkPayment
(payments, ``payment_records``). Every transition is
decided under the job's exclusive lock (``repository.lock_job``); the heavy work is
planned as chunks in the same transaction and dispatched only once it commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from billcycle.bulkjobs import records, tasks
from billcycle.bulkjobs import repository as repo
from billcycle.bulkjobs import statuses as st
from billcycle.bulkjobs.collector import no_cycle_collection
from billcycle.bulkjobs.models import BulkJob
from billcycle.bulkjobs.statuses import BulkJobStatus, BulkJobType, RecordStatus
from billcycle.bulkjobs.transitions import transition
from billcycle.context import ServiceContext
from billcycle.errors import ErrorCode, InvalidValue, NotFound, RuleViolation
from billcycle.events import service as events
from billcycle.events.statuses import EventType

RESOURCE = "bulk_job"
REFERENCE = "Bulk write off"
MAX_SETTINGS = 10_000
MAX_FILE_NAME = 255
# Records read per query when a job is answered record by record.
RECORD_PAGE = 10_000


def _not_found(job_id: int) -> NotFound:
    return NotFound(f"Bulk job {job_id} not found.", resource=RESOURCE)


def _bad_status(status: str, action: str) -> RuleViolation:
    # Fusebill's own wording (it answers this code with 400, not 409).
    return RuleViolation(
        f"Account upload status {status}, is not a valid status for {action}.",
        resource=RESOURCE,
        code=ErrorCode.BULK_JOB_STATUS,
    )


def find_type(upload_type: str) -> BulkJobType | None:
    """The canonical job type (matched case-insensitively), or None."""
    by_folded = {name.casefold(): name for name in st.CREATABLE_TYPES}
    return by_folded.get(upload_type.strip().casefold())


def check_type(upload_type: str, expected: BulkJobType = BulkJobType.BULK_WRITE_OFF) -> BulkJobType:
    """``upload_type`` as the job type ``expected`` (the shape of ``data`` says which)."""
    canonical = find_type(upload_type)
    if canonical == expected:
        return canonical
    if canonical is not None:
        raise InvalidValue(
            f"accountUploadType {canonical} does not match data: {_DATA_OF[canonical]}.",
            resource=RESOURCE,
            field="accountUploadType",
        )
    raise InvalidValue(
        f"accountUploadType '{upload_type[:40]}' is not valid: use BulkWriteOff or BulkPayment.",
        resource=RESOURCE,
        field="accountUploadType",
    )


_DATA_OF = {
    BulkJobType.BULK_WRITE_OFF: "a BulkWriteOff job's data lists invoice ids",
    BulkJobType.BULK_PAYMENT: "a BulkPayment job's data lists payments",
}
# Fusebill's own names for a job's default file and its reference.
_FILE_PREFIX = {BulkJobType.BULK_WRITE_OFF: "BulkWriteOff", BulkJobType.BULK_PAYMENT: "BulkPayment"}
_REFERENCE = {BulkJobType.BULK_WRITE_OFF: REFERENCE, BulkJobType.BULK_PAYMENT: "Bulk Payment"}


def default_file_name(
    ctx: ServiceContext, job_type: BulkJobType = BulkJobType.BULK_WRITE_OFF
) -> str:
    return f"{_FILE_PREFIX[job_type]}-{ctx.clock.today():%Y%m%d}.csv"


def create_job(
    ctx: ServiceContext,
    upload_type: str,
    invoice_ids: Sequence[int],
    *,
    chunk_size: int,
    file_name: str | None = None,
) -> BulkJob:
    """A new job of one record per invoice id, Validating; workers validate it."""
    job_type = check_type(upload_type)
    if not invoice_ids:
        raise InvalidValue(
            "data must list at least one invoice id.", resource=RESOURCE, field="data"
        )
    job = _new_job(ctx, job_type, [str(i) for i in invoice_ids], file_name)
    duplicates = records.duplicate_positions(invoice_ids)
    if duplicates:
        repo.preset_details(ctx.session, job.id, duplicates, records.DUPLICATE)
    tasks.plan_validation(ctx, job, chunk_size)
    return job


def create_payment_job(
    ctx: ServiceContext,
    upload_type: str,
    payments: Sequence[str],
    *,
    chunk_size: int,
    file_name: str | None = None,
) -> BulkJob:
    """A new BulkPayment job of one record per payment (each in the stored form of
    ``payment_records``: ``encode`` makes it from a ``NewCollection``), Validating;
    workers validate it."""
    job_type = check_type(upload_type, BulkJobType.BULK_PAYMENT)
    if not payments:
        raise InvalidValue("data must list at least one payment.", resource=RESOURCE, field="data")
    job = _new_job(ctx, job_type, payments, file_name)
    tasks.plan_validation(ctx, job, chunk_size)
    return job


def _new_job(
    ctx: ServiceContext, job_type: BulkJobType, data: Sequence[str], file_name: str | None
) -> BulkJob:
    limit = repo.record_limit(ctx.session, ctx.tenant_id)
    if len(data) > limit:
        raise InvalidValue(
            f"A bulk job takes at most {limit} records; {len(data)} were given.",
            resource=RESOURCE,
            field="data",
        )
    repo.lock_tenant(ctx.session, ctx.tenant_id)
    current = repo.open_job(ctx.session, ctx.tenant_id)
    if current is not None:
        raise RuleViolation(
            f"A bulk job cannot be created while bulk job {current.id} is {current.status}: "
            "process or cancel it first.",
            resource=RESOURCE,
        )
    job = repo.add_job(
        ctx.session,
        BulkJob(
            tenant_id=ctx.tenant_id,
            type=job_type,
            status=BulkJobStatus.VALIDATING,
            # Fusebill shows the creation time to the second.
            created_at=ctx.clock.now().replace(microsecond=0),
            total_records=len(data),
            successful_records=0,
            failed_records=0,
            total_processed_records=0,
            processed_records=0,
            failed_processed_records=0,
            file_name=(file_name or default_file_name(ctx, job_type))[:MAX_FILE_NAME],
            reference=_REFERENCE[job_type],
            internal_automated_flag=False,
        ),
    )
    repo.insert_records(ctx.session, ctx.tenant_id, job.id, data, RecordStatus.PENDING)
    events.emit_status_change(ctx, EventType.BULK_JOB_STATUS_CHANGED, job, None)
    return job


def get_job(ctx: ServiceContext, job_id: int) -> BulkJob:
    job = repo.get_job(ctx.session, ctx.tenant_id, job_id)
    if job is None:
        raise _not_found(job_id)
    return job


def job_records(ctx: ServiceContext, job: BulkJob) -> list[repo.RecordRow]:
    return repo.records_of(ctx.session, job.id)


def job_record_pages(
    ctx: ServiceContext, job: BulkJob, page_size: int = RECORD_PAGE
) -> Iterator[list[repo.RecordRow]]:
    """The job's records in seq order, a page at a time (what ``job_records`` returns, in
    bounded memory); read them all in one snapshot to see one state of the job."""
    after = 0
    while True:
        with no_cycle_collection():  # a page is thousands of rows (``collector``)
            page = repo.record_page(ctx.session, job.id, after_seq=after, limit=page_size)
            if not page:
                return
            after = page[-1][0]
            records = [record for _, record in page]
        yield records
        if len(page) < page_size:
            return


def job_record_texts(
    ctx: ServiceContext, job: BulkJob, template: str, page_size: int = RECORD_PAGE
) -> Iterator[list[str]] | None:
    """:func:`job_record_pages` with each record already written as text by the database
    (``repository.rendered_record_page``: ``template`` a printf format of the record's
    bulk job id, status, data and details as JSON strings, created entity or ``null``,
    id), or None where the database does not write them (PostgreSQL)."""
    if not repo.renders_records(ctx.session):
        return None
    return _record_texts(ctx, job, template, page_size)


def _record_texts(
    ctx: ServiceContext, job: BulkJob, template: str, page_size: int
) -> Iterator[list[str]]:
    after = 0
    while True:
        page = repo.rendered_record_page(
            ctx.session, job.id, after_seq=after, limit=page_size, template=template
        )
        if not page:
            return
        after = page[-1][0]
        yield [text for _, text in page]
        if len(page) < page_size:
            return


def list_jobs(
    ctx: ServiceContext, *, offset: int, limit: int, ascending: bool = False
) -> tuple[list[BulkJob], int]:
    """A page of the tenant's jobs (newest first by default) and how many there are."""
    return repo.list_jobs(
        ctx.session, ctx.tenant_id, offset=offset, limit=limit, ascending=ascending
    )


def process_job(
    ctx: ServiceContext, job_id: int, *, chunk_size: int, settings: str | None = None
) -> BulkJob:
    """Validated | ValidatedWithErrors -> Processing; workers write the passed records'
    invoices off (or record their payments), then Processed | ProcessedWithErrors."""
    job = repo.lock_job(ctx.session, ctx.tenant_id, job_id)
    if job is None:
        raise _not_found(job_id)
    if job.status not in st.PROCESSABLE:
        raise _bad_status(job.status, "processing")
    if settings is not None and len(settings) > MAX_SETTINGS:
        raise InvalidValue(
            f"settings is longer than {MAX_SETTINGS} characters.",
            resource=RESOURCE,
            field="settings",
        )
    now = ctx.clock.now()
    transition(
        ctx,
        job.id,
        st.PROCESSABLE,
        BulkJobStatus.PROCESSING,
        importing_at=now,
        modified_at=now,
        settings=settings,
    )
    ctx.session.refresh(job)
    tasks.plan_processing(ctx, job, chunk_size)
    return _fresh(ctx, job)


def cancel_job(ctx: ServiceContext, job_id: int, *, cancelled_by: str) -> BulkJob:
    """Any unfinished job -> ProcessedWithErrors: its incomplete records become
    FailedProcessing ("Manually marked as Failed."), finished ones stay as they are.

    Under the job's exclusive lock, which waits for the chunks in flight: a worker's
    chunk either committed before (its records stay Processed) or, starting after, finds
    the job cancelled and writes nothing.
    """
    job = repo.lock_job(ctx.session, ctx.tenant_id, job_id)
    if job is None:
        raise _not_found(job_id)
    if job.status not in st.CANCELLABLE:
        raise _bad_status(job.status, "cancellation")
    tasks.cancel_chunks(ctx, job.id)
    failed = repo.fail_incomplete(ctx.session, job.id, st.MANUALLY_FAILED)
    now = ctx.clock.now()
    repo.add_counts(ctx.session, job.id, now=now, failed_processing=failed)
    transition(
        ctx,
        job.id,
        st.CANCELLABLE,
        BulkJobStatus.PROCESSED_WITH_ERRORS,
        cancelled_at=now,
        cancelled_by=cancelled_by[:100],
        modified_at=now,
    )
    return _fresh(ctx, job)


def _fresh(ctx: ServiceContext, job: BulkJob) -> BulkJob:
    ctx.session.refresh(job)
    return job


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a job stands, for progress displays."""

    status: str
    total: int
    validated: int
    to_process: int
    processed: int

    @property
    def validating(self) -> bool:
        return self.status == BulkJobStatus.VALIDATING

    @property
    def processing(self) -> bool:
        return self.status == BulkJobStatus.PROCESSING


def progress(job: BulkJob) -> Progress:
    return Progress(
        status=job.status,
        total=job.total_records,
        validated=job.successful_records + job.failed_records,
        to_process=job.successful_records,
        processed=job.total_processed_records,
    )
