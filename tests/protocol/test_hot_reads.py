"""GET /zuora/v1/bill-runs/{id} is answered below FastAPI's router (billcycle.zuora.
hot_reads) with the route's exact bytes: the same body, headers and error envelopes as
the ordinary path (taken here by adding a query string, which the hot path leaves)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import bindparam, event, select, update
from sqlalchemy.dialects import sqlite

from billcycle.billruns import repository as bill_runs
from billcycle.billruns.models import BillRun
from billcycle.db.direct import DirectSelect, direct_reads
from billcycle.db.engine import make_engine
from billcycle.db.session import unit_of_work
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy import management
from billcycle.tenancy.models import OAuthClient
from billcycle.web import observability
from tests.billruns.helpers import create_run, customers
from tests.support.api import Api

BILL_RUNS = "/zuora/v1/bill-runs"
VARYING = {"zuora-request-id", "ratelimit-remaining", "ratelimit-reset", "date"}


def _shape(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = [(k, "" if k in VARYING else v) for k, v in response.headers.multi_items()]
    return response.status_code, response.content, headers


def _without_ids(response: httpx.Response) -> tuple[int, dict[str, object], list[str]]:
    body = response.json()
    body.pop("processId", None)
    body.pop("requestId", None)
    return response.status_code, body, sorted(response.headers.keys())


def test_the_hot_path_answers_what_the_route_answers(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    customers(api, runtime, 2)
    run_id = create_run(api)["id"]
    jobs.run_until_idle()
    url = f"{BILL_RUNS}/{run_id}"
    hot = api.client.get(url, headers=api.zuora_headers)
    routed = api.client.get(f"{url}?via=router", headers=api.zuora_headers)
    assert hot.status_code == 200
    assert hot.json()["id"] == run_id
    assert _shape(hot) == _shape(routed)
    # gzip past 1000 bytes, as the route's answer.
    zipped = {**api.zuora_headers, "Accept-Encoding": "gzip"}
    assert _shape(api.client.get(url, headers=zipped)) == _shape(
        api.client.get(f"{url}?via=router", headers=zipped)
    )
    # Track ids, and the same errors in the same envelope.
    traced = {**api.zuora_headers, "Zuora-Track-Id": "poll-1"}
    assert api.client.get(url, headers=traced).headers["zuora-track-id"] == "poll-1"
    for path, headers in (
        (f"{BILL_RUNS}/{'f' * 32}", api.zuora_headers),
        (f"{BILL_RUNS}/BR-99999999", api.zuora_headers),
        (url, {}),
        (url, {"Authorization": "Bearer forged"}),
        (url, {"Authorization": "Basic abc"}),
        (url, {**api.zuora_headers, "Zuora-Entity-Ids": "not-an-entity"}),
        (url, {**api.zuora_headers, "Zuora-Org-Ids": "x"}),
        (url, {**api.zuora_headers, "Zuora-Version": "not-a-version"}),
    ):
        hot = api.client.get(path, headers=headers)
        routed = api.client.get(f"{path}?via=router", headers=headers)
        assert hot.status_code >= 400, (path, headers)
        assert _without_ids(hot) == _without_ids(routed), (path, headers)


def _statements(runtime: Runtime) -> list[str]:
    """Every statement the engine sends from now on (one entry per round trip: BEGIN and
    COMMIT are statements too on PostgreSQL, and a read-only unit sends neither)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", note)
    return seen


def test_a_hot_get_is_one_statement_with_the_token_check_folded_in(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    customers(api, runtime, 1)
    run_id = create_run(api)["id"]
    jobs.run_until_idle()
    url = f"{BILL_RUNS}/{run_id}"
    assert api.client.get(url, headers=api.zuora_headers).status_code == 200  # warm caches
    seen = _statements(runtime)
    assert api.client.get(url, headers=api.zuora_headers).status_code == 200
    assert len(seen) == 1, seen
    assert "oauth_clients" in seen[0]
    assert "bill_runs" in seen[0]
    # The request's metrics name the route's template, as on the routed path.
    assert ("zuora", "/zuora/v1/bill-runs/{bill_run_id}", "GET", 200) in observability._SERIES


def test_a_rotated_or_deleted_client_is_refused_on_the_hot_path_before_anything_is_shown(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    customers(api, runtime, 1)
    run_id = create_run(api)["id"]
    jobs.run_until_idle()
    url = f"{BILL_RUNS}/{run_id}"
    assert api.client.get(url, headers=api.zuora_headers).status_code == 200
    with unit_of_work(runtime.session_factory) as session:
        client_pk = session.scalar(
            select(OAuthClient.id).where(OAuthClient.client_id == api.tenant.client_id)
        )
        assert client_pk is not None
        management.rotate_oauth_client(session, api.tenant.tenant_id, client_pk)
    for path in (url, f"{BILL_RUNS}/{'f' * 32}", f"{BILL_RUNS}/BR-00000001"):
        hot = api.client.get(path, headers=api.zuora_headers)
        routed = api.client.get(f"{path}?via=router", headers=api.zuora_headers)
        assert hot.status_code == 401, (path, hot.text)
        assert "deleted or rotated" in hot.text
        assert run_id not in hot.text
        assert _without_ids(hot) == _without_ids(routed), path
    with unit_of_work(runtime.session_factory) as session:
        management.delete_oauth_client(session, api.tenant.tenant_id, client_pk)
    assert api.client.get(url, headers=api.zuora_headers).status_code == 401


def test_the_hot_answer_follows_every_change_of_the_run_its_totals_and_failures(
    api: Api, runtime: Runtime
) -> None:
    # The hot path keeps the bytes it built from a row and answers them again for an
    # equal row (billcycle.zuora.hot_reads): any change must show at the next GET.
    accounts = customers(api, runtime, 2)
    run = create_run(api, targetDate="2026-03-01", name="first name")
    url = f"{BILL_RUNS}/{run['id']}"
    run_id = int(run["id"], 16)

    def same_as_routed() -> dict[str, Any]:
        hot = api.client.get(url, headers=api.zuora_headers)
        routed = api.client.get(f"{url}?via=router", headers=api.zuora_headers)
        assert hot.status_code == 200, hot.text
        assert _shape(hot) == _shape(routed)
        body: dict[str, Any] = hot.json()
        return body

    assert same_as_routed()["name"] == "first name"
    assert same_as_routed()["name"] == "first name"  # the kept answer
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        bill_runs.add_totals(ctx.session, run_id, {"USD": 12345})
    assert same_as_routed()["totalAmounts"] == [{"currency": "USD", "amount": 123.45}]
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        bill_runs.add_failures(
            ctx.session, ctx.tenant_id, run_id, {accounts[0][0]: "declined"}, ctx.clock.now()
        )
    assert same_as_routed()["accountFailures"] == [
        {"accountId": f"{accounts[0][0]:032x}", "message": "declined"}
    ]
    with unit_of_work(runtime.session_factory) as session:
        session.execute(
            update(BillRun)
            .where(BillRun.id == run_id)
            .values(name="second name", charge_type_to_exclude=["OneTime"])
        )
    body = same_as_routed()
    assert (body["name"], body["chargeTypeToExclude"]) == ("second name", ["OneTime"])


def test_direct_rows_are_the_same_only_type_for_type() -> None:
    # A JSON document the driver parsed: 1, 1.0 and True are equal in Python, not on
    # the wire, so an answer kept for one is not the answer for another.
    statement = DirectSelect(
        select(BillRun.__table__.c.id, BillRun.__table__.c.schedule), sqlite.dialect()
    )
    assert statement.same_row((1, {"runTime": 1}), (1, {"runTime": 1}))
    assert not statement.same_row((1, {"runTime": 1}), (1, {"runTime": True}))
    assert not statement.same_row((1, [1]), (1, [1.0]))
    assert not statement.same_row((1, {"runTime": 1}), (2, {"runTime": 1}))


def test_direct_reads_reuse_a_connection_drop_a_broken_one_and_close_on_dispose(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    reads = direct_reads(engine)
    runs = BillRun.__table__.c
    statement = DirectSelect(select(runs.id).where(runs.id == bindparam("run_id")), engine.dialect)
    assert reads.first(statement, {"run_id": -1}) is None
    with reads.connection() as first:
        pass
    with reads.connection() as again:
        assert again is first
    with pytest.raises(RuntimeError), reads.connection() as broken:
        raise RuntimeError("the read failed")
    with reads.connection() as fresh:
        assert fresh is not broken
    with pytest.raises(Exception):  # noqa: B017,PT011 - sqlite3 and psycopg word it apart
        broken.cursor().execute("SELECT 1")
    engine.dispose()
    with pytest.raises(Exception):  # noqa: B017,PT011
        fresh.cursor().execute("SELECT 1")
