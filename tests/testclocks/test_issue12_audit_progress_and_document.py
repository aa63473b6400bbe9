"""Issue 12 audit: advancing a test clock "shows progress" (the service tells its caller
after each step where the clock is and what ran so far: the CLI's progress bar and the
console read it), and the admin API's clock endpoints are documented in its OpenAPI
document with the other admin resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from billcycle.runtime import Runtime
from billcycle.testclocks import service as clocks
from billcycle.testclocks.service import Advanced
from tests.testclocks.helpers import sandbox, year_of_billing


def test_an_advance_reports_each_step_with_the_clock_and_the_work_so_far(
    app: FastAPI, runtime: Runtime
) -> None:
    with TestClient(app) as client:
        book = year_of_billing(runtime, sandbox(runtime, client, "progress"))
    t = book.api.tenant.tenant_id
    seen: list[tuple[datetime, datetime, int, int]] = []

    def progress(at: datetime, done: Advanced) -> None:
        with runtime.service_context(t) as ctx:
            clock_now = clocks.read_clock(ctx).now
        seen.append((at, clock_now, done.steps, done.bill_runs))

    done = clocks.advance_by(runtime, t, timedelta(days=40), progress)  # Jan 10 -> Feb 19

    assert len(seen) == done.steps > 1
    instants = [at for at, *_ in seen]
    assert instants == sorted(set(instants))  # forward, one report a step
    assert instants[-1] == done.now == done.target
    # Each report comes after the clock was moved to that instant.
    assert all(at == clock_now for at, clock_now, *_ in seen)
    assert [steps for _, _, steps, _ in seen] == list(range(1, done.steps + 1))
    # The bill run of Feb 1, 06:00 UTC shows from its step on, and not before.
    run_time = datetime(2026, 2, 1, 6, tzinfo=UTC)
    assert [runs for at, _, _, runs in seen] == [int(at >= run_time) for at in instants]
    assert done.bill_runs == 1


def test_the_clock_endpoints_are_in_the_admin_openapi_document(app: FastAPI) -> None:
    with TestClient(app) as client:
        document = client.get("/billcycle/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    reading = paths["/v1/tenants/{tenant_id}/clock"]["get"]
    advance = paths["/v1/tenants/{tenant_id}/clock/advance"]["post"]
    assert "200" in reading["responses"]
    assert {"200", "404", "409", "422"} <= set(advance["responses"])
    body = advance["requestBody"]["content"]["application/json"]["schema"]
    schemas = document.json()["components"]["schemas"]
    fields = schemas[body["$ref"].rsplit("/", 1)[-1]]["properties"]
    assert {"days", "hours", "months", "to"} <= set(fields)
