"""Jobs from CSV files: ``POST /v1/BulkApi/upload`` and ``billcycle bulk-job``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from billcycle.cli.main import app
from billcycle.clock import FrozenClock
from billcycle.config import Settings
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.bulkjobs.helpers import error_message, ok, poll, post, posted_invoices, write_offs
from tests.support.api import Api


def upload(api: Api, name: str, content: bytes, **data: Any) -> Any:
    fields = {"accountUploadType": "BulkWriteOff", **data}
    return post(
        api,
        "/v1/BulkApi/upload",
        files={"file": (name, content, "text/csv")},
        data={k: v for k, v in fields.items() if v is not None},
    )


def test_upload_a_csv(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> None:
    a, b, c = posted_invoices(runtime, api.tenant.tenant_id, 3).invoice_ids
    content = f'\ufeffInvoiceId\r\n{a}\r\n"{b}", {c},\r\n\r\n'.encode()
    job = ok(upload(api, "C:\\exports\\write-offs-january.csv", content))
    assert job["fileName"] == "write-offs-january.csv"
    assert job["totalRecords"] == 3
    jobs.run_until_idle()
    assert [r["data"] for r in poll(api, job["id"])["records"]] == [str(a), str(b), str(c)]
    ok(post(api, "/v1/BulkApi/Process", {"id": job["id"]}))
    jobs.run_until_idle()
    assert poll(api, job["id"])["status"] == "Processed"
    assert set(write_offs(runtime, api.tenant.tenant_id)) == {a, b, c}


@pytest.mark.parametrize(
    ("name", "content", "fields", "message"),
    [
        ("a.csv", b"InvoiceId\n1\nx2\n", {}, "Line 3: 'x2' is not an invoice id"),
        ("a.csv", b"1\n2.5\n", {}, "Line 2: '2.5' is not an invoice id"),
        ("a.csv", b"1\n0\n", {}, "Line 2: '0' is not an invoice id"),
        ("a.csv", b"InvoiceId\n", {}, "data must list at least one invoice id"),
        ("a.csv", b"", {}, "data must list at least one invoice id"),
        ("a.csv", b"\xff\xfe1\x00", {}, "The file is not UTF-8 text."),
        ("a.csv", b"1\n", {"accountUploadType": None}, "accountUploadType is required"),
        ("a.csv", b"1\n", {"accountUploadType": "BulkPayment"}, "names no StaxBillID column"),
    ],
)
def test_bad_uploads(
    api: Api, runtime: Runtime, name: str, content: bytes, fields: dict[str, Any], message: str
) -> None:
    assert message in error_message(upload(api, name, content, **fields), 400)
    assert api.client.get("/fusebill/v1/BulkApi", headers=api.fusebill_headers).json() == []


def test_upload_needs_a_multipart_file(api: Api) -> None:
    response = post(api, "/v1/BulkApi/upload", {"accountUploadType": "BulkWriteOff"})
    assert "multipart/form-data" in error_message(response, 400)
    response = post(api, "/v1/BulkApi/upload", data={"accountUploadType": "BulkWriteOff"})
    assert "multipart/form-data" in error_message(response, 400)
    response = post(
        api,
        "/v1/BulkApi/upload",
        content=b"--xx\r\nbroken",
        headers={"Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert error_message(response, 400)


cli = CliRunner()


def _invoke(*args: str) -> Any:
    result = cli.invoke(app, list(args))
    return result


def test_cli_create_process_show_cancel(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert _invoke("db", "upgrade", "--database", url).exit_code == 0
    created = _invoke("tenant", "create", "Acme", "--json", "--bulk-jobs", "--database", url)
    tenant_id = str(int(json.loads(created.stdout)["entityId"], 16))
    plain = _invoke("tenant", "create", "Plain", "--json", "--database", url)
    plain_id = str(int(json.loads(plain.stdout)["entityId"], 16))

    engine = make_engine(url)
    runtime = Runtime(
        settings=Settings(database_url=url),
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=FrozenClock(datetime(2026, 1, 10, 9, tzinfo=UTC)),
    )
    invoice_ids = posted_invoices(runtime, int(tenant_id), 3).invoice_ids
    csv = tmp_path / "january.csv"
    csv.write_text("InvoiceId\n" + "\n".join(map(str, invoice_ids)) + "\n")
    common = ("--tenant-id", tenant_id, "--database", url)

    result = _invoke("bulk-job", "create", "--csv", str(csv), "--json", *common)
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert (job["status"], job["fileName"], job["successfulRecords"]) == (
        "Validated",
        "january.csv",
        3,
    )
    job_id = str(job["id"])

    result = _invoke("bulk-job", "process", job_id, "--json", *common)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "Processed"

    result = _invoke("bulk-job", "show", job_id, "--records", "--json", *common)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert [r["status"] for r in shown["records"]] == ["Processed"] * 3
    assert set(write_offs(runtime, int(tenant_id))) == set(invoice_ids)

    result = _invoke("bulk-job", "show", job_id, *common)
    assert result.exit_code == 0, result.output
    assert "Processed" in result.stdout

    result = _invoke("bulk-job", "cancel", job_id, *common)
    assert result.exit_code == 1
    assert "is not a valid status for cancellation" in result.output

    result = _invoke("bulk-job", "create", "--csv", str(csv), "--no-wait", *common)
    assert result.exit_code == 0, result.output
    assert "Validating" in result.stdout  # `billcycle serve` would validate it

    result = _invoke("bulk-job", "show", "999999", *common)
    assert (result.exit_code, "Bulk job 999999 not found." in result.output) == (1, True)
    result = _invoke(
        "bulk-job", "create", "--csv", str(csv), "--tenant-id", plain_id, "--database", url
    )
    assert result.exit_code == 1
    assert "Bulk jobs are not enabled" in result.output
    engine.dispose()
