"""Structured logs: JSON lines with request ids, worker lines with run and chunk ids, and
never a secret: a full flow through a real ``billcycle serve`` (tenants, credentials,
tokens, an operator key, an account, a card, a bill run, a card payment) logs at DEBUG
and no credential or card number it created appears anywhere in its output."""

from __future__ import annotations

import base64
import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from billcycle import logs
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.billruns.helpers import create_run, customers, get_run
from tests.ops.helpers import billcycle, serving, token, wait_until
from tests.support.api import Api
from tests.webhooks.helpers import receiver

CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
SECRET_KEY = "ops-test-signing-secret-" + "k" * 24


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """This process's log lines, as JSON, while the test runs."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure("json", "info", stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# -- the redaction processor ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("card 4242 4242 4242 4242 declined", "4242 4242 4242 4242"),
        ("pan=4000-0000-0000-0002", "4000-0000-0000-0002"),
        ("Authorization: Bearer eyJhbGciOi.abc.def", "eyJhbGciOi.abc.def"),
        ("Basic bc_0123456789abcdef_s3cr3tPart-xyz", "s3cr3tPart-xyz"),
        ("key bco_0123456789abcdef_operatorSecret", "operatorSecret"),
        ("client_id=abc&client_secret=hunter2hunter2&grant_type=x", "hunter2hunter2"),
        ('{"password": "correct horse"}', "correct"),
        ("INSERT ... [parameters: ('4242424242424242', 'tok')] (Background", "tok'"),
    ],
)
def test_scrub_removes_credentials_and_card_numbers(text: str, gone: str) -> None:
    assert gone not in logs.scrub(text)


def test_scrub_keeps_what_is_not_secret() -> None:
    # Ids, amounts and 16-digit numbers that fail the Luhn check stay readable.
    text = "invoice INV00000042 amount 1234.56 order 1234567890123456 run BR-00000007"
    assert logs.scrub(text) == text
    # A UUID (a track id) whose digit run "720061-0738-4059" passes Luhn is not a card.
    track = "track cb720061-0738-4059-bbfe-12147e005246 and 12345678-4242-4242-4242-000000000000"
    assert logs.scrub(track) == track
    assert logs.scrub("card 4242-4242-4242-4242.") == "card [card]."


def test_secret_fields_are_dropped_whatever_their_value(captured: io.StringIO) -> None:
    logs.get("test").warning(
        "setting up",
        client_secret="abc",
        api_key="def",
        card={"number": CARD, "securityCode": "123"},
        nested=[{"token": "t0k"}],
        count=3,
    )
    logging.getLogger("test.stdlib").error("failed with %s", f"Bearer xyz {CARD}")
    first, second = lines(captured.getvalue())
    assert first["client_secret"] == first["api_key"] == logs.REDACTED
    assert first["card"] == {"number": "[card]", "securityCode": logs.REDACTED}
    assert first["nested"] == [{"token": logs.REDACTED}]
    assert first["count"] == 3
    assert CARD not in second["event"]
    assert "xyz" not in second["event"]


# -- worker lines ------------------------------------------------------------------------


def test_worker_lines_name_the_run_and_its_chunks(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, captured: io.StringIO
) -> None:
    customers(api, runtime, 15)
    run = create_run(api)
    jobs.run_until_idle()
    assert get_run(api, run["id"])["status"] == "Completed"
    run_id = int(run["id"], 16)
    done = [
        line
        for line in lines(captured.getvalue())
        if line["event"] == "chunk done" and line.get("parent_id") == run_id
    ]
    assert sorted(line["chunk_seq"] for line in done) == [1, 2, 3]
    for line in done:
        assert line["kind"] == "bill_run"
        assert line["task"] == "drain"
        assert line["tenant"] == api.tenant.tenant_id
        assert line["records"] > 0
        assert line["duration_ms"] >= 0
        assert isinstance(line["chunk_id"], int)


def test_request_ids_are_distinct_version_4_uuids(api: Api) -> None:
    """As ``str(uuid.uuid4())`` wrote them (web.observability.new_request_id)."""
    ids = [
        api.client.get("/zuora/v1/accounts/A09999999", headers=api.zuora_headers).headers[
            "Zuora-Request-Id"
        ]
        for _ in range(50)
    ]
    assert len(set(ids)) == len(ids)
    for found in ids:
        parsed = uuid.UUID(found)
        assert str(parsed) == found
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_a_request_line_carries_ids_route_and_timing(api: Api, captured: io.StringIO) -> None:
    response = api.client.get(
        "/zuora/v1/accounts/A09999999",
        headers={**api.zuora_headers, "Zuora-Track-Id": "trace-me-42"},
    )
    assert response.status_code == 404
    (line,) = [line for line in lines(captured.getvalue()) if line.get("track_id") == "trace-me-42"]
    assert line["event"] == "request"
    assert line["request_id"] == response.headers["Zuora-Request-Id"]
    assert line["tenant"] == api.tenant.tenant_id
    assert line["route"] == "/zuora/v1/accounts/{account_key}"
    assert line["dialect"] == "zuora"
    assert line["status"] == 404
    assert line["duration_ms"] > 0
    assert line["level"] == "info"
    assert "timestamp" in line


# -- the full flow -----------------------------------------------------------------------


def _json_out(result: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.slow
def test_a_full_flow_logs_no_credential_and_no_card_number(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("the flow runs on the embedded default (serve runs the bill run)")
    url = f"sqlite:///{tmp_path / 'flow.db'}"
    env = {"BILLCYCLE_DATABASE_URL": url, "BILLCYCLE_SECRET_KEY": SECRET_KEY}
    cli_output: list[str] = []

    def cli(*args: str) -> Any:
        result = billcycle(*args, env=env, cwd=tmp_path)
        cli_output.append(result.stderr)
        return result

    loaded = cli("demo", "load", "--accounts", "4")
    assert loaded.returncode == 0, loaded.stderr
    demo = json.loads((tmp_path / "demo-credentials.json").read_text())
    first = _json_out(cli("tenant", "create", "Flow", "--json"))
    second = _json_out(cli("tenant", "create", "Other", "--json"))
    operator = cli("operator", "create", "ops", "--json")
    operator_key = str(_json_out(operator).get("key") or next(iter(_json_out(operator).values())))
    tenant_id = int(first["entityId"], 16)
    gateway = cli("gateway", "create", "test", "--tenant", str(tenant_id), "--default")
    assert gateway.returncode == 0, gateway.stderr
    secrets: dict[str, str] = {
        "signing secret": SECRET_KEY,
        "client secret": first["clientSecret"],
        "api key": first["apiKey"],
        "api key secret part": first["apiKey"].split("_", 2)[2],
        "other client secret": second["clientSecret"],
        "other api key": second["apiKey"],
        "operator key": operator_key,
        "card": CARD,
        "card digits": CARD[4:],
        "declined card": DECLINED_CARD,
        "demo client secret": demo["clientSecret"],
        "demo api key": demo["apiKey"],
    }
    log = tmp_path / "server.log"
    webhook_secret = "whsec_" + base64.b64encode(b"flow-webhook-signing-key-0123").decode()
    secrets["webhook secret"] = webhook_secret
    secrets["webhook secret key"] = webhook_secret.removeprefix("whsec_")
    with (
        receiver(500) as hook,
        serving(url, log, BILLCYCLE_LOG_FORMAT="json", BILLCYCLE_LOG_LEVEL="debug", **env) as (
            base,
            _server,
        ),
    ):
        access = token(base, first["clientId"], first["clientSecret"])
        secrets["access token"] = access
        wrong = httpx.post(
            f"{base}/zuora/oauth/token",
            data={
                "client_id": first["clientId"],
                "client_secret": second["clientSecret"],
                "grant_type": "client_credentials",
            },
        )
        assert wrong.status_code in (400, 401)
        zuora = httpx.Client(
            base_url=f"{base}/zuora",
            headers={"Authorization": f"Bearer {access}", "Zuora-Track-Id": "flow-1"},
            timeout=60,
        )
        fusebill = httpx.Client(
            base_url=f"{base}/fusebill",
            headers={"Authorization": f"Basic {first['apiKey']}"},
            timeout=60,
        )
        admin = httpx.Client(
            base_url=f"{base}/billcycle",
            headers={"Authorization": f"Bearer {operator_key}"},
            timeout=60,
        )
        created_key = admin.post(f"/v1/tenants/{tenant_id}/api-keys", json={"name": "flow"})
        for found in (created_key.json() if created_key.status_code < 300 else {}).values():
            if isinstance(found, str) and found.startswith("bc_"):
                secrets["admin-made api key"] = found
        assert admin.get(f"/v1/tenants/{tenant_id}/api-keys").status_code == 200
        # A signed webhook endpoint: its secret signs every delivery and is never logged.
        allowed = admin.put(
            f"/v1/tenants/{tenant_id}/webhook-settings", json={"webhooks_allow_private": True}
        )
        assert allowed.status_code == 200, allowed.text
        hooked = admin.post(
            f"/v1/tenants/{tenant_id}/webhooks",
            json={"url": hook.url, "event_types": ["*"], "secret": webhook_secret},
        )
        assert hooked.status_code == 201, hooked.text
        assert fusebill.get("/v1/customers/999999").status_code == 404
        account = zuora.post(
            "/v1/accounts",
            json={
                "name": "Flow Corp",
                "currency": "USD",
                "billCycleDay": 1,
                "billToContact": {"firstName": "Ada", "lastName": "Lovelace", "country": "US"},
            },
        )
        assert account.status_code == 200, account.text
        account_id = account.json()["accountId"]
        card = {
            "type": "CreditCard",
            "cardType": "Visa",
            "accountKey": account_id,
            "expirationMonth": 3,
            "expirationYear": 2031,
            "securityCode": "737",
        }
        method = zuora.post("/v1/payment-methods", json={**card, "cardNumber": CARD})
        assert method.status_code == 200, method.text
        declined = zuora.post("/v1/payment-methods", json={**card, "cardNumber": DECLINED_CARD})
        assert declined.status_code in (200, 400)
        bad = zuora.post("/v1/payment-methods", json={**card, "cardNumber": CARD[:-1] + "1"})
        assert bad.status_code == 400
        run = zuora.post(
            "/v1/bill-runs", json={"batches": ["AllBatches"], "targetDate": "2030-01-01"}
        )
        assert run.status_code == 200, run.text
        run_id = run.json()["id"]
        wait_until(
            lambda: zuora.get(f"/v1/bill-runs/{run_id}").json()["status"] == "Completed",
            120,
            "the bill run",
        )
        payment = zuora.post(
            "/v1/payments",
            json={
                "accountId": account_id,
                "amount": 12.5,
                "currency": "USD",
                "type": "Electronic",
                "paymentMethodId": method.json()["id"],
            },
        )
        assert payment.status_code == 200, payment.text
        zuora.get(f"/v1/accounts/{account_id}")
        # Deliveries made (the first answered 500, then retried): signed with the secret.
        wait_until(lambda: len(hook.received) >= 2, 120, "webhook deliveries and a retry")
        zuora.close()
        fusebill.close()
        admin.close()
    output = log.read_text(errors="replace") + "".join(cli_output)
    for what, secret in secrets.items():
        assert secret not in output, f"the {what} was logged"
    parsed = lines(log.read_text(errors="replace"))
    assert parsed, "no JSON log line"
    requests = [line for line in parsed if line["event"] == "request"]
    assert any(
        line["route"] == "/zuora/v1/payment-methods" and line["status"] == 200 for line in requests
    )
    tracked = [line for line in requests if line.get("track_id") == "flow-1"]
    assert tracked
    assert all(line["tenant"] == tenant_id for line in tracked)
    assert any(line["event"] == "chunk done" and line["kind"] == "bill_run" for line in parsed)
    # Log lines are JSON: nothing in uvicorn's or the standard library's own format.
    text = log.read_text(errors="replace")
    assert "INFO:" not in text
    assert "WARNING:" not in text
