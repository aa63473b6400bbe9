"""GET /zuora/v1/bill-runs/{id} is answered below FastAPI's router (billcycle.zuora.
hot_reads) with the route's exact bytes: the same body, headers and error envelopes as
the ordinary path (taken here by adding a query string, which the hot path leaves)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event, select

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
