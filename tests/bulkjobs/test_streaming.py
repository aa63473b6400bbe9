"""A job's records are answered record by record when the job is large: the bytes are
those of the one-piece answer (gzipped as any large answer is), read in pages from one
snapshot; a processed job's records show it as the Process request left it."""

from __future__ import annotations

import gzip
import json

from starlette.responses import JSONResponse

from billcycle.bulkjobs import repository as repo
from billcycle.bulkjobs import service
from billcycle.bulkjobs.models import BulkJob
from billcycle.bulkjobs.statuses import RecordStatus
from billcycle.db.session import snapshot_unit, unit_of_work
from billcycle.fusebill.routes import bulk_jobs as routes
from billcycle.fusebill.schemas import bulk_jobs as schemas
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy.service import set_bulk_jobs
from tests.bulkjobs.bulk_data import insert_posted_invoices
from tests.bulkjobs.helpers import create, get, posted_invoices, process
from tests.support.api import Api


def one_piece(runtime: Runtime, tenant_id: int, job_id: int) -> bytes:
    """The job with its records as the unstreamed answer renders it, from the database."""
    with runtime.service_context(tenant_id) as ctx:
        job = service.get_job(ctx, job_id)
        return bytes(JSONResponse(schemas.job_json(job, service.job_records(ctx, job))).body)


def test_streamed_bytes_equal_the_one_piece_answer(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    invoices = posted_invoices(runtime, tenant_id, 5).invoice_ids
    job_id = create(api, [*invoices, invoices[0], 999_999_999])["id"]  # a duplicate, a stranger
    jobs.run_until_idle()
    expected = one_piece(runtime, tenant_id, job_id)
    assert b'"FailedValidation"' in expected
    assert b'"PassedValidation"' in expected
    with (
        snapshot_unit(runtime.session_factory) as session,
        runtime.service_context(tenant_id) as ctx,
    ):
        job = service.get_job(ctx, job_id)
        reader = runtime.context(session, tenant_id)
        for page_size in (1, 2, 3, 7, 100):
            pages = service.job_record_pages(reader, job, page_size)
            assert b"".join(schemas.job_json_chunks(job, pages)) == expected
            texts = service.job_record_texts(reader, job, schemas.RECORD_TEMPLATE, page_size)
            if texts is not None:  # SQLite writes the records' text
                assert b"".join(schemas.job_json_text_chunks(job, texts)) == expected
        empty = b"".join(schemas.job_json_chunks(job, []))
    assert empty == bytes(JSONResponse(schemas.job_json(job, [])).body)


def test_records_written_by_the_database_read_as_python_writes_them(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """SQLite writes a streamed answer's records (``json_quote`` and ``printf``): every
    character a record's details or data can hold is escaped as Python's encoder
    escapes it (quotes, backslashes, each control character, non-ASCII as it is)."""
    tenant_id = api.tenant.tenant_id
    invoices = posted_invoices(runtime, tenant_id, 3).invoice_ids
    job_id = create(api, invoices)["id"]
    jobs.run_until_idle()
    odd = 'q"b\\s/ \u00e9\u20ac\U0001f600 \u2028 \x7f' + "".join(
        map(chr, range(1, 32))
    )  # (no NUL: no body holds one)
    with runtime.service_context(tenant_id) as ctx:
        job = service.get_job(ctx, job_id)
        ids = [record.id for record in service.job_records(ctx, job)]
        repo.set_status(ctx.session, ids[:1], RecordStatus.FAILED_VALIDATION, odd)
        repo.set_status(ctx.session, ids[1:2], RecordStatus.FAILED_VALIDATION, "")
    expected = one_piece(runtime, tenant_id, job_id)
    assert json.loads(expected)["records"][0]["details"] == odd
    with (
        snapshot_unit(runtime.session_factory) as session,
        runtime.service_context(tenant_id) as ctx,
    ):
        job = service.get_job(ctx, job_id)
        reader = runtime.context(session, tenant_id)
        texts = service.job_record_texts(reader, job, schemas.RECORD_TEMPLATE, 2)
        if texts is None:
            assert runtime.engine.dialect.name == "postgresql"
            return
        assert b"".join(schemas.job_json_text_chunks(job, texts)) == expected


def _big_job(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> int:
    tenant_id = api.tenant.tenant_id
    size = routes.STREAM_ABOVE + 7
    with unit_of_work(runtime.session_factory) as session:
        set_bulk_jobs(session, tenant_id, True, record_limit=size)
    invoices = insert_posted_invoices(runtime, tenant_id, size)
    job_id: int = create(api, invoices)["id"]
    jobs.run_until_idle()
    return job_id


def test_a_large_job_is_streamed_and_gzipped(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    job_id = _big_job(api, runtime, jobs)
    expected = one_piece(runtime, tenant_id, job_id)

    plain = api.client.get(
        f"/fusebill/v1/BulkApi/{job_id}",
        params={"view": "Full"},
        headers={**api.fusebill_headers, "Accept-Encoding": "identity"},
    )
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "application/json"
    assert "content-length" not in plain.headers  # streamed
    assert plain.content == expected

    zipped = api.client.get(
        f"/fusebill/v1/BulkApi/{job_id}",
        params={"view": "Full"},
        headers={**api.fusebill_headers, "Accept-Encoding": "gzip"},
    )
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == expected  # httpx gunzips
    # Without records the answer is the small one-piece job, as before.
    bare = get(api, f"/v1/BulkApi/{job_id}")
    assert bare.headers["content-length"] == str(len(bare.content))
    assert "records" not in bare.json()


def test_a_large_process_answer_shows_the_job_before_any_write_off(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    job_id = _big_job(api, runtime, jobs)
    response = process(api, job_id)
    assert response.status_code == 200
    assert "content-length" not in response.headers
    answer = response.json()
    assert answer["status"] == "Processing"
    assert {r["status"] for r in answer["records"]} == {"PassedValidation"}
    assert len(answer["records"]) == routes.STREAM_ABOVE + 7
    # The drains were released once the answer's snapshot was taken.
    assert any(call.name == "drain" for call in jobs.pending)
    jobs.run_until_idle()
    with runtime.service_context(tenant_id) as ctx:
        job = ctx.session.get(BulkJob, job_id)
        assert job is not None
        assert (job.status, job.processed_records) == ("Processed", routes.STREAM_ABOVE + 7)


def test_gzip_of_a_streamed_answer_is_valid_gzip(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    job_id = _big_job(api, runtime, jobs)
    url = f"/fusebill/v1/BulkApi/{job_id}?view=Full"
    headers = {**api.fusebill_headers, "Accept-Encoding": "gzip"}
    with api.client.stream("GET", url, headers=headers) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == one_piece(runtime, api.tenant.tenant_id, job_id)
