"""Fusebill wire shapes for bulk jobs ("account uploads").

Requests are read from the raw body (property names matched case-insensitively and
unknown ones ignored, as Fusebill's deserializer does): create
``{"accountUploadType": "BulkWriteOff", "data": [13789624, 13789632]}``, process
``{"id": 373335, "settings": "..."}``.

The job object lists every field, null or not, in the order of Fusebill's own responses;
with ``view=Full`` its ``records`` come first. ``uri`` is null as in Fusebill's
examples, ``accountId`` is the tenant (Fusebill's "account" is the billing account).
Jobs are built as plain dicts rather than models: a million-record job's ``records``
would cost seconds of model validation for nothing.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from billcycle.bulkjobs.models import BulkJob
from billcycle.bulkjobs.repository import RecordRow
from billcycle.errors import InvalidValue, MissingField, NotFound
from billcycle.fusebill.timestamps import UNSET_TIMESTAMP, fusebill_timestamp

MAX_ID = 2**63 - 1
_INTEGER = re.compile(r"^[+-]?\d{1,40}$", re.ASCII)
_SHOWN = 40

# -- requests ----------------------------------------------------------------------------


def _invalid(message: str, field: str | None = None) -> InvalidValue:
    return InvalidValue(message, resource="bulk_job", field=field)


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _json_object(raw: bytes) -> dict[str, Any]:
    """The body as an object whose keys are folded to lower case."""
    # The cyclic collector off meanwhile: a million-record body parses into millions of
    # dicts and lists, which set off collections of the whole heap again and again (more
    # than half the parse's time); what the parse builds holds no cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise _invalid("The request body is not valid JSON.") from None
    finally:
        if collecting:
            gc.enable()
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    return {str(key).casefold(): value for key, value in body.items()}


def _positive_id(value: Any, name: str) -> int:
    """A JSON integer, or a string of digits (Fusebill's deserializer takes both)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _invalid(f"{name}: {_shown(value)} is not an id (a positive integer).", name)
    if isinstance(value, str):
        if not _INTEGER.match(value.strip()):
            raise _invalid(f"{name}: {_shown(value)} is not an id (a positive integer).", name)
        number = int(value.strip())
    else:
        number = int(value)
    if not 1 <= number <= MAX_ID:
        raise _invalid(f"{name}: {number} is not an id (a positive integer).", name)
    return number


@dataclass(frozen=True, slots=True)
class CreateRequest:
    upload_type: str | None
    invoice_ids: list[int]


def parse_create(raw: bytes) -> CreateRequest:
    return parse_create_body(_json_object(raw))


def json_object(raw: bytes) -> dict[str, Any]:
    """The body as an object whose keys are folded to lower case (400 otherwise)."""
    return _json_object(raw)


def is_bulk_payment(body: Mapping[str, Any]) -> bool:
    """Whether a folded create body asks for a BulkPayment job (its ``data`` are payments)."""
    upload_type = body.get("accountuploadtype")
    return isinstance(upload_type, str) and upload_type.strip().casefold() == "bulkpayment"


def parse_create_body(body: dict[str, Any]) -> CreateRequest:
    upload_type = body.get("accountuploadtype")
    if upload_type is not None and not isinstance(upload_type, str):
        raise _invalid(
            f"accountUploadType: {_shown(upload_type)} is not a job type: use BulkWriteOff.",
            "accountUploadType",
        )
    if "data" not in body or body["data"] is None:
        raise MissingField(
            "data is required: the list of invoice ids to write off.",
            resource="bulk_job",
            field="data",
        )
    data = body["data"]
    if not isinstance(data, list):
        raise _invalid("data must be a list of invoice ids.", "data")
    return CreateRequest(
        upload_type=upload_type,
        invoice_ids=[_positive_id(value, f"data[{i}]") for i, value in enumerate(data)],
    )


@dataclass(frozen=True, slots=True)
class ProcessRequest:
    id: int
    settings: str | None


def parse_process(raw: bytes) -> ProcessRequest:
    body = _json_object(raw)
    if body.get("id") is None:
        raise MissingField("id is required: the bulk job to process.", field="id")
    settings = body.get("settings")
    if settings is not None and not isinstance(settings, str):
        raise _invalid("settings must be a string.", "settings")
    return ProcessRequest(id=_positive_id(body["id"], "id"), settings=settings)


def parse_job_id(value: str) -> int:
    """A job id from a path. Not an integer: 400; an integer that cannot be an id: 404."""
    text = value.strip()
    if not _INTEGER.match(text):
        raise _invalid(f"Invalid bulk job id '{value[:_SHOWN]}': ids are integers.", "id")
    number = int(text)
    if not 1 <= number <= MAX_ID:
        raise NotFound(f"Bulk job {text} not found.", resource="bulk_job")
    return number


def wants_records(query: Mapping[str, str]) -> bool:
    """``view=Full``, name and value in any case."""
    return any(
        key.casefold() == "view" and value.strip().casefold() == "full"
        for key, value in query.items()
    )


# -- responses -----------------------------------------------------------------------------


def record_json(record: RecordRow) -> dict[str, Any]:
    return {
        "accountUploadId": record.bulk_job_id,
        "status": record.status,
        "data": record.data,
        "details": record.details,
        "createdEntityId": record.created_entity_id,
        "id": record.id,
        "uri": None,
    }


def job_json(job: BulkJob, records: Sequence[RecordRow] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if records is not None:
        body["records"] = [record_json(record) for record in records]
    body.update(_job_fields(job))
    return body


def _dumps(value: Any) -> str:
    """JSON exactly as Starlette's ``JSONResponse`` renders it."""
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    )


def job_json_chunks(job: BulkJob, pages: Iterable[Sequence[RecordRow]]) -> Iterator[bytes]:
    """The bytes of ``JSONResponse(job_json(job, records))``, a page of records at a time:
    a million-record job is answered without ever holding its records or its body."""
    return job_json_text_chunks(job, ([_records_text(page)] for page in pages))


def job_json_text_chunks(job: BulkJob, pages: Iterable[list[str]]) -> Iterator[bytes]:
    """:func:`job_json_chunks` of pages whose records are already written as text (each
    as ``RECORD_TEMPLATE`` writes it: ``service.job_record_texts``)."""
    yield b'{"records":['
    first = True
    for page in pages:
        if not page:
            continue
        text = ",".join(page)
        if not text:
            continue
        yield (text if first else "," + text).encode("utf-8")
        first = False
    yield ("]," + _dumps(_job_fields(job))[1:]).encode("utf-8")


# One record's JSON as ``_dumps(record_json(record))`` renders it, written by one format
# per record (no dict, no encoder walk: a million-record job's answer renders ~3x faster).
# The same format is SQLite's printf template for ``service.job_record_texts`` (its
# arguments in this order, the texts already JSON strings, ``null`` for a missing value).
_RECORD = RECORD_TEMPLATE = (
    '{"accountUploadId":%d,"status":%s,"data":%s,"details":%s,"createdEntityId":%s,'
    '"id":%d,"uri":null}'
)
_string: Any = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.encode_basestring


def _records_text(page: Sequence[RecordRow]) -> str:
    """``_dumps([record_json(r) for r in page])`` without its brackets."""
    string = _string
    words: dict[str, str] = {}
    parts: list[str] = []
    for rid, job_id, status, data, details, entity in page:
        shown = words.get(status)
        if shown is None:
            shown = words[status] = string(status)
        parts.append(
            _RECORD
            % (
                job_id,
                shown,
                string(data),
                "null" if details is None else string(details),
                "null" if entity is None else int(entity),
                rid,
            )
        )
    return ",".join(parts)


def _job_fields(job: BulkJob) -> dict[str, Any]:
    return {
        "accountId": job.tenant_id,
        "type": job.type,
        "status": job.status,
        "createdTimestamp": fusebill_timestamp(job.created_at),
        "completedTimestamp": fusebill_timestamp(job.completed_at),
        "totalRecords": job.total_records,
        "successfulRecords": job.successful_records,
        "failedRecords": job.failed_records,
        "totalProcessedRecords": job.total_processed_records,
        "processedRecords": job.processed_records,
        "failedProcessedRecords": job.failed_processed_records,
        "importingTimestamp": fusebill_timestamp(job.importing_at),
        "processedTimestamp": fusebill_timestamp(job.processed_at),
        "fileName": job.file_name,
        "reference": job.reference,
        "relatedId": job.related_id,
        "internalAutomatedFlag": job.internal_automated_flag,
        "modifiedTimestamp": fusebill_timestamp(job.modified_at) or UNSET_TIMESTAMP,
        "id": job.id,
        "uri": None,
    }


# -- documentation models (the OpenAPI schema; responses are built by job_json) -------------


class _Doc(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class CreateBody(_Doc):
    account_upload_type: str = Field(examples=["BulkWriteOff"])
    data: list[int] = Field(examples=[[13789624, 13789632]])


class ProcessBody(_Doc):
    id: int = Field(examples=[373335])
    settings: str | None = None


class BulkJobRecordOut(_Doc):
    account_upload_id: int
    status: str = Field(
        description="Pending, PassedValidation, FailedValidation, Processed, FailedProcessing"
    )
    data: str
    details: str | None
    created_entity_id: int | None = Field(description="The write-off's id once processed")
    id: int
    uri: str | None


class BulkJobOut(_Doc):
    records: list[BulkJobRecordOut] | None = Field(default=None, description="Only with view=Full")
    account_id: int
    type: str
    status: str
    created_timestamp: str
    completed_timestamp: str | None
    total_records: int
    successful_records: int
    failed_records: int
    total_processed_records: int
    processed_records: int
    failed_processed_records: int
    importing_timestamp: str | None
    processed_timestamp: str | None
    file_name: str | None
    reference: str | None
    related_id: int | None
    internal_automated_flag: bool
    modified_timestamp: str
    id: int
    uri: str | None
