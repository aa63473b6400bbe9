"""Rules and bad input: one open job per tenant, the feature gate, the record limit,
malformed bodies and ids, actions in the wrong status. Every refusal is a clear 4xx in
Fusebill's envelope, and leaves nothing behind: no job, no write-off, nothing stuck."""

from __future__ import annotations

import gzip
import json
import random
from typing import Any

import pytest
from sqlalchemy import func, select

from billcycle.bulkjobs.models import BulkJob
from billcycle.db.session import unit_of_work
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy.service import create_tenant, set_bulk_jobs
from tests.bulkjobs.helpers import (
    cancel,
    create,
    error_message,
    get,
    ok,
    poll,
    post,
    posted_invoices,
    process,
    write_offs,
)
from tests.support.api import Api


def job_count(runtime: Runtime, tenant_id: int) -> int:
    with runtime.service_context(tenant_id) as ctx:
        return int(
            ctx.session.scalar(
                select(func.count()).select_from(BulkJob).where(BulkJob.tenant_id == tenant_id)
            )
            or 0
        )


def test_one_open_job_per_tenant(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    tenant_id = api.tenant.tenant_id
    billed = posted_invoices(runtime, tenant_id, 2)
    first = create(api, billed.invoice_ids[:1])["id"]
    blocked = f"A bulk job cannot be created while bulk job {first} is"

    def refused(status: str) -> None:
        response = post(api, "/v1/BulkApi", {"accountUploadType": "BulkWriteOff", "data": [1]})
        assert error_message(response, 409) == f"{blocked} {status}: process or cancel it first."

    refused("Validating")
    jobs.run_until_idle()
    refused("Validated")
    ok(process(api, first))
    refused("Processing")
    assert job_count(runtime, tenant_id) == 1
    jobs.run_until_idle()
    second = create(api, billed.invoice_ids[1:])["id"]
    ok(cancel(api, second))
    assert create(api, billed.invoice_ids[1:])["status"] == "Validating"
    assert job_count(runtime, tenant_id) == 3
    # Another tenant is not blocked by this tenant's open job.
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other", bulk_jobs=True)
    headers = {"Authorization": f"Basic {other.api_key}"}
    response = api.client.post("/fusebill/v1/bulkwriteoff", json={"data": [1]}, headers=headers)
    assert response.status_code == 200, response.text


def test_feature_gate_and_authentication(api: Api, runtime: Runtime) -> None:
    with unit_of_work(runtime.session_factory) as session:
        off = create_tenant(session, runtime.clock, "no bulk jobs")
    job_id = create(api, [1])["id"]
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/BulkApi", {"json": {"accountUploadType": "BulkWriteOff", "data": [1]}}),
        ("POST", "/v1/bulkwriteoff", {"json": {"data": [1]}}),
        ("POST", "/v1/BulkApi/upload", {"files": {"file": ("a.csv", b"1\n")}}),
        ("POST", "/v1/BulkApi/Process", {"json": {"id": job_id}}),
        ("POST", f"/v1/BulkApi/Cancel/{job_id}", {}),
        ("GET", f"/v1/BulkApi/{job_id}", {}),
        ("GET", "/v1/BulkApi", {}),
    ]
    for method, path, kwargs in calls:
        response = api.client.request(
            method, f"/fusebill{path}", headers={"Authorization": f"Basic {off.api_key}"}, **kwargs
        )
        error_message(response, 404)
        response = api.client.request(method, f"/fusebill{path}", **kwargs)
        assert error_message(response, 401) == "Authorization key is not in the correct format."
    assert job_count(runtime, off.tenant_id) == 0
    assert poll(api, job_id)["status"] == "Validating"


def test_record_limit(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    with unit_of_work(runtime.session_factory) as session:
        set_bulk_jobs(session, tenant_id, True, record_limit=3)
    response = post(api, "/v1/bulkwriteoff", {"data": [1, 2, 3, 4]})
    assert error_message(response, 400) == "A bulk job takes at most 3 records; 4 were given."
    assert job_count(runtime, tenant_id) == 0
    assert create(api, [1, 2, 3])["totalRecords"] == 3


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"accountUploadType": "BulkWriteOff", "data": []}, 400, "data must list at least one"),
        ({"accountUploadType": "BulkWriteOff"}, 400, "data is required"),
        ({"accountUploadType": "BulkWriteOff", "data": None}, 400, "data is required"),
        ({"accountUploadType": "BulkWriteOff", "data": "1,2"}, 400, "data must be a list"),
        ({"accountUploadType": "BulkWriteOff", "data": [1, "abc"]}, 400, 'data[1]: "abc" is not'),
        ({"accountUploadType": "BulkWriteOff", "data": [1.5]}, 400, "data[0]: 1.5 is not an id"),
        ({"accountUploadType": "BulkWriteOff", "data": [True]}, 400, "data[0]: true is not"),
        ({"accountUploadType": "BulkWriteOff", "data": [0]}, 400, "data[0]: 0 is not an id"),
        ({"accountUploadType": "BulkWriteOff", "data": [-4]}, 400, "data[0]: -4 is not an id"),
        ({"accountUploadType": "BulkWriteOff", "data": [2**63]}, 400, "is not an id"),
        ({"accountUploadType": "BulkWriteOff", "data": [{"id": 1}]}, 400, "is not an id"),
        ({"accountUploadType": "Nope", "data": [1]}, 400, "accountUploadType 'Nope' is not valid"),
        ({"accountUploadType": 7, "data": [1]}, 400, "accountUploadType: 7 is not a job type"),
        ({"data": [1]}, 400, "accountUploadType is required"),
        (
            {"accountUploadType": "BulkPayment", "data": [{"customerId": 1, "amount": 5}]},
            400,
            "data[0]: paymentMethod is required",
        ),
        (
            {"accountUploadType": "BulkPayment", "data": [1]},
            400,
            "data[0]: must be a payment object",
        ),
        ([1, 2], 400, "must be a JSON object"),
    ],
)
def test_bad_create_bodies(
    api: Api, runtime: Runtime, body: Any, status: int, message: str
) -> None:
    response = post(api, "/v1/BulkApi", body)
    assert message in error_message(response, status)
    assert job_count(runtime, api.tenant.tenant_id) == 0


def test_bulkwriteoff_takes_only_write_offs(api: Api, runtime: Runtime) -> None:
    response = post(api, "/v1/bulkwriteoff", {"accountUploadType": "BulkPayment", "data": [1]})
    assert "creates BulkWriteOff jobs" in error_message(response, 400)
    job = ok(post(api, "/v1/bulkwriteoff", {"data": ["12", 13]}))  # digit strings are ids
    assert job["type"] == "BulkWriteOff"
    assert [r["data"] for r in poll(api, job["id"])["records"]] == ["12", "13"]


def test_garbage_bodies(api: Api, runtime: Runtime) -> None:
    rng = random.Random(4)
    garbage = bytes(rng.getrandbits(8) for _ in range(2 * 1024 * 1024))
    for path in ("/v1/BulkApi", "/v1/bulkwriteoff", "/v1/BulkApi/Process"):
        response = post(api, path, content=garbage)
        assert error_message(response, 400) == "The request body is not valid JSON."
        response = post(
            api,
            path,
            content=gzip.compress(b"{" * 100_000),
            headers={"Content-Encoding": "gzip"},
        )
        assert error_message(response, 400) == "The request body is not valid JSON."
    response = post(api, "/v1/BulkApi", content=b"")
    assert error_message(response, 400) == "The request body is not valid JSON."
    big = json.dumps({"accountUploadType": "BulkWriteOff", "data": [1] * 3_000_000}).encode()
    assert error_message(post(api, "/v1/BulkApi", content=big), 400) == (
        "A bulk job takes at most 1000 records; 3000000 were given."
    )
    huge = json.dumps({"accountUploadType": "BulkWriteOff", "data": [1] * 4_000_000}).encode()
    assert "larger than the limit" in error_message(post(api, "/v1/BulkApi", content=huge), 413)
    assert job_count(runtime, api.tenant.tenant_id) == 0


def test_job_ids_and_statuses(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    tenant_id = api.tenant.tenant_id
    billed = posted_invoices(runtime, tenant_id, 1)
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other", bulk_jobs=True)
    foreign = api.client.post(
        "/fusebill/v1/bulkwriteoff",
        json={"data": [1]},
        headers={"Authorization": f"Basic {other.api_key}"},
    ).json()["id"]
    # Another tenant's job does not exist here.
    assert error_message(get(api, f"/v1/BulkApi/{foreign}"), 404) == (
        f"Bulk job {foreign} not found."
    )
    error_message(process(api, foreign), 404)
    error_message(cancel(api, foreign), 404)
    assert "ids are integers" in error_message(get(api, "/v1/BulkApi/abc"), 400)
    error_message(get(api, "/v1/BulkApi/0"), 404)
    error_message(post(api, "/v1/BulkApi/Cancel/x1"), 400)
    error_message(post(api, "/v1/BulkApi/Process", {"settings": "x"}), 400)
    error_message(post(api, "/v1/BulkApi/Process", {"id": foreign, "settings": 5}), 400)
    error_message(post(api, "/v1/BulkApi/Process", {"id": "abc"}), 400)

    job_id = create(api, billed.invoice_ids)["id"]
    response = process(api, job_id)
    assert error_message(response, 400) == (
        "Account upload status Validating, is not a valid status for processing."
    )
    jobs.run_until_idle()
    assert ok(process(api, job_id))["status"] == "Processing"
    response = process(api, job_id)
    assert error_message(response, 400) == (
        "Account upload status Processing, is not a valid status for processing."
    )
    jobs.run_until_idle()
    assert poll(api, job_id)["status"] == "Processed"
    assert len(write_offs(runtime, tenant_id)) == 1

    cancelled = create(api, [1])["id"]
    ok(cancel(api, cancelled))
    assert error_message(process(api, cancelled), 400) == (
        "Account upload status ProcessedWithErrors, is not a valid status for processing."
    )
    assert error_message(cancel(api, cancelled), 400) == (
        "Account upload status ProcessedWithErrors, is not a valid status for cancellation."
    )
    jobs.run_until_idle()
    assert len(write_offs(runtime, tenant_id)) == 1
    # Nothing left open or pending: a new job can be created.
    assert create(api, [2])["status"] == "Validating"


def test_documented_in_openapi(api: Api) -> None:
    spec = ok(api.client.get("/fusebill/openapi.json"))
    for path in (
        "/v1/bulkapi",
        "/v1/bulkwriteoff",
        "/v1/bulkapi/upload",
        "/v1/bulkapi/process",
        "/v1/bulkapi/cancel/{job_id}",
        "/v1/bulkapi/{job_id}",
    ):
        assert path in spec["paths"], path
    assert "BulkJobOut" in spec["components"]["schemas"]
