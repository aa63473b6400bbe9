"""Managing endpoints through the admin API and the CLI; bad input is a clear 4xx or
CLI error and changes nothing."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from billcycle.cli.common import console as cli_console
from billcycle.cli.main import app as cli
from billcycle.runtime import Runtime
from tests.support.api import Api
from tests.webhooks.helpers import receiver

SHORT_SECRET = "whsec_" + base64.b64encode(b"x" * 23).decode()
GOOD_SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


def _base(api: Api) -> str:
    return f"/billcycle/v1/tenants/{api.tenant.tenant_id}"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"url": "ftp://example.com/hook"}, "url", "URL"),
        ({"url": "file:///etc/passwd"}, "url", "URL"),
        ({"url": "http://127.0.0.1:8080/hook"}, "url", "private"),
        ({"url": "http://10.1.2.3/hook"}, "url", "private"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url", "private"),
        ({"url": "http://[::1]/hook"}, "url", "private"),
        ({"url": "http://localhost/hook"}, "url", "private"),
        ({"url": "http://no-such-host.invalid/hook"}, "url", "cannot be resolved"),
        ({"event_types": ["invoice.exploded"]}, "event_types", "Unknown event type"),
        ({"event_types": []}, "event_types", ""),
        ({"secret": SHORT_SECRET}, "secret", "at least 24"),
        ({"secret": "not base64 at all!"}, "secret", "base64"),
    ],
)
def test_bad_endpoints_are_refused_and_nothing_changes(
    api: Api, admin: TestClient, body: dict[str, object], field: str, words: str
) -> None:
    payload = {"url": "https://8.8.8.8/hook", "event_types": ["invoice.posted"], **body}
    response = admin.post(f"{_base(api)}/webhooks", json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    text = problem["detail"] + " ".join(e["detail"] for e in problem.get("errors") or [])
    assert words in text
    assert admin.get(f"{_base(api)}/webhooks").json()["data"] == []


def test_endpoint_lifecycle_through_the_admin_api(
    api: Api, admin: TestClient, other_tenant: object
) -> None:
    base = _base(api)
    assert admin.get(f"{base}/webhook-settings").json() == {"webhooks_allow_private": False}
    assert admin.put(f"{base}/webhook-settings", json={"webhooks_allow_private": True}).json() == {
        "webhooks_allow_private": True
    }
    created = admin.post(
        f"{base}/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["*"], "secret": GOOD_SECRET},
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"] == GOOD_SECRET
    assert endpoint["event_types"] == ["*"]
    listed = admin.get(f"{base}/webhooks").json()["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]
    changed = admin.patch(
        f"{base}/webhooks/{endpoint['id']}",
        json={"event_types": ["invoice.posted", "payment.failed"], "enabled": False},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["event_types"] == ["invoice.posted", "payment.failed"]
    assert changed.json()["enabled"] is False
    bad = admin.patch(f"{base}/webhooks/{endpoint['id']}", json={"url": "gopher://x"})
    assert bad.status_code == 422
    assert admin.get(f"{base}/webhooks/{endpoint['id']}").json()["url"] == "http://127.0.0.1:9/hook"
    # Another tenant's endpoint is not found.
    other = f"/billcycle/v1/tenants/{other_tenant.tenant_id}"  # type: ignore[attr-defined]
    assert admin.get(f"{other}/webhooks/{endpoint['id']}").status_code == 404
    assert admin.delete(f"{base}/webhooks/{endpoint['id']}").status_code == 204
    assert admin.delete(f"{base}/webhooks/{endpoint['id']}").status_code == 404
    assert admin.get(f"{base}/webhooks").json()["data"] == []


def test_the_cli_adds_lists_tests_and_removes(
    api: Api,
    runtime: Runtime,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = CliRunner()
    # A terminal wide enough for whole URLs (the CLI's console is built once per process,
    # so a COLUMNS variable set for one invocation does not always reach it).
    monkeypatch.setattr(cli_console, "width", 250)
    tenant = str(api.tenant.tenant_id)
    db = ["--tenant", tenant, "--database", database_url]
    with receiver() as hook:
        refused = runner.invoke(cli, ["webhook", "add", hook.url, "--event", "*", *db])
        assert refused.exit_code == 1
        assert "private" in refused.output
        assert (
            "webhooks_allow_private: yes"
            in runner.invoke(cli, ["webhook", "settings", "--allow-private", *db]).output
        )
        for args, words in (
            (["ftp://x/y", "--event", "*"], "http"),
            ([hook.url, "--event", "no.such"], "Unknown event type"),
            ([hook.url, "--event", "*", "--secret", SHORT_SECRET], "at least 24"),
        ):
            result = runner.invoke(cli, ["webhook", "add", *args, *db])
            assert result.exit_code == 1, result.output
            assert words in result.output
        added = runner.invoke(
            cli, ["webhook", "add", hook.url, "--event", "invoice.posted,account.created", *db]
        )
        assert added.exit_code == 0, added.output
        endpoint_id = added.output.split("Webhook endpoint ")[1].split()[0]
        secret = added.output.split("(shown once): ")[1].split()[0]
        listed = runner.invoke(cli, ["webhook", "list", *db])
        assert hook.url in listed.output
        tested = runner.invoke(cli, ["webhook", "test", endpoint_id, *db])
        assert tested.exit_code == 0, tested.output
        assert "HTTP 200" in tested.output
        [received] = hook.received
        assert received.json["type"] == "webhook.test"
        Webhook(secret).verify(received.body, received.headers)  # the CLI ran on real time
        shown = runner.invoke(cli, ["webhook", "deliveries", endpoint_id, *db])
        assert "succeeded" in shown.output
        removed = runner.invoke(cli, ["webhook", "remove", endpoint_id, *db])
        assert removed.exit_code == 0, removed.output
        again = runner.invoke(cli, ["webhook", "remove", endpoint_id, *db])
        assert again.exit_code == 1
        assert "not found" in again.output
