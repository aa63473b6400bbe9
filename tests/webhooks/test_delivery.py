"""Webhook delivery to a real local receiver: Standard Webhooks signatures, retries on
the back-off schedule (machine time moved by the test), the attempt log, order by
object, disabling a dead endpoint, re-delivery and the SSRF rule at delivery time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from billcycle.accounts import service as accounts
from billcycle.accounts.inputs import AccountChanges
from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.webhooks import service as webhooks
from billcycle.webhooks import signing
from tests.accounts.factories import new_account
from tests.billruns.helpers import create_run, customers, get_run
from tests.support.api import Api
from tests.webhooks.helpers import add_endpoint, deliver, real_time, receiver


def test_a_posted_invoice_and_a_completed_bill_run_arrive_signed_and_verifiable(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    real_time(machine_clock)
    tenant_id = api.tenant.tenant_id
    with receiver() as hook:
        _, secret = add_endpoint(
            runtime, tenant_id, hook.url, "invoice.posted", "bill_run.status_changed"
        )
        customers(api, runtime, 3)
        run = create_run(api, name="January", autoPost=True)
        jobs.run_until_idle()
        assert get_run(api, run["id"])["status"] == "Posted"
        deliver(jobs)

        verifier = Webhook(secret)
        for received in hook.received:
            # Raises unless webhook-id, webhook-timestamp and webhook-signature verify.
            verified = verifier.verify(received.body, received.headers)
            assert verified["id"] == received.headers["webhook-id"]
        posted = hook.of_type("invoice.posted")
        assert len(posted) == 3
        invoice = posted[0].json
        assert invoice["object_type"] == "invoice"
        assert invoice["tenant_id"] == tenant_id
        assert invoice["data"]["object"]["status"] == "Posted"
        assert invoice["data"]["object"]["amount"] == "60.00"
        statuses = [r.json["data"]["status"] for r in hook.of_type("bill_run.status_changed")]
        assert statuses == ["Pending", "Processing", "Completed", "PostInProgress", "Posted"]
        completed = hook.of_type("bill_run.status_changed")[2].json
        assert completed["object_id"] == int(run["id"], 16)
        assert completed["data"]["object"]["invoices_created"] == 3
        # A forged body fails verification.
        forged = posted[0].body.replace(b"Posted", b"Paid!!")
        try:
            verifier.verify(forged, posted[0].headers)
        except Exception:
            pass
        else:
            raise AssertionError("a forged body verified")
        # Nothing is delivered twice.
        count = len(hook.received)
        deliver(jobs)
        assert len(hook.received) == count


def test_a_receiver_failing_three_times_gets_the_event_once_more_and_the_log_shows_four(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    machine_clock: FrozenClock,
    admin: TestClient,
) -> None:
    tenant_id = api.tenant.tenant_id
    with receiver(500, 503, 500) as hook:
        endpoint_id, _ = add_endpoint(runtime, tenant_id, hook.url, "account.created")
        with runtime.service_context(tenant_id) as ctx:
            new_account(ctx, name="Flaky Receiver Inc")
        deliver(jobs)
        assert len(hook.received) == 1
        # Not due yet: nothing is sent before the back-off has passed.
        machine_clock.advance(timedelta(seconds=4))
        deliver(jobs)
        assert len(hook.received) == 1
        for wait in (timedelta(seconds=1), timedelta(seconds=30), timedelta(minutes=2)):
            machine_clock.advance(wait)
            deliver(jobs)
        assert len(hook.received) == 4
        # Delivered: no more attempts, however long we wait.
        machine_clock.advance(timedelta(days=4))
        deliver(jobs)
        assert len(hook.received) == 4
        ids = {r.headers["webhook-id"] for r in hook.received}
        assert len(ids) == 1  # the same event every time
        assert len({r.body for r in hook.received}) == 1
        assert len({r.headers["webhook-timestamp"] for r in hook.received}) == 4

    base = f"/billcycle/v1/tenants/{tenant_id}"
    deliveries = admin.get(f"{base}/webhooks/{endpoint_id}/deliveries").json()["data"]
    assert len(deliveries) == 1
    assert deliveries[0]["status"] == "succeeded"
    assert deliveries[0]["attempts"] == 4
    assert deliveries[0]["event_id"] == ids.pop()
    log = admin.get(f"{base}/webhook-deliveries/{deliveries[0]['id']}/attempts").json()
    assert [a["status_code"] for a in log] == [500, 503, 500, 200]
    assert [a["succeeded"] for a in log] == [False, False, False, True]
    assert log[0]["response_excerpt"] == "receiver says no"
    assert all(a["latency_ms"] >= 0 for a in log)
    endpoint = admin.get(f"{base}/webhooks/{endpoint_id}").json()
    assert endpoint["enabled"] is True
    assert endpoint["failing_since"] is None


def test_a_receiver_closing_the_connection_gets_each_attempt_once(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    machine_clock: FrozenClock,
    admin: TestClient,
) -> None:
    tenant_id = api.tenant.tenant_id
    with receiver() as hook:
        hook.drop = 1
        endpoint_id, _ = add_endpoint(runtime, tenant_id, hook.url, "account.created")
        with runtime.service_context(tenant_id) as ctx:
            new_account(ctx, name="Hang-up")
        deliver(jobs)
        assert len(hook.received) == 1  # sent once in the attempt, not re-sent
        machine_clock.advance(timedelta(seconds=5))
        deliver(jobs)
        assert len(hook.received) == 2
    base = f"/billcycle/v1/tenants/{tenant_id}"
    [delivery] = admin.get(f"{base}/webhooks/{endpoint_id}/deliveries").json()["data"]
    log = admin.get(f"{base}/webhook-deliveries/{delivery['id']}/attempts").json()
    assert [a["status_code"] for a in log] == [None, 200]
    assert log[0]["error"]
    assert delivery["status"] == "succeeded"


def test_a_runs_per_invoice_deliveries_are_made_with_its_chunks_and_keep_object_order(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    machine_clock: FrozenClock,
    admin: TestClient,
) -> None:
    tenant_id = api.tenant.tenant_id
    base = f"/billcycle/v1/tenants/{tenant_id}"
    with receiver() as hook, receiver() as other:
        endpoint_id, _ = add_endpoint(
            runtime, tenant_id, hook.url, "invoice.posted", "invoice.written_off"
        )
        every_id, _ = add_endpoint(runtime, tenant_id, other.url, "*")
        runs_only, _ = add_endpoint(runtime, tenant_id, other.url, "bill_run.status_changed")
        customers(api, runtime, 9)  # two posting chunks' worth at the suite's chunk size
        run = create_run(api, name="January", autoPost=True)
        jobs.run_until_idle()
        assert get_run(api, run["id"])["status"] == "Posted"
        # No fan-out has run yet: the posting chunks made their events' deliveries.
        posted = admin.get(f"{base}/events", params={"type": "invoice.posted"}).json()["data"]
        assert len(posted) == 9
        made = admin.get(f"{base}/webhooks/{endpoint_id}/deliveries").json()["data"]
        assert sorted(d["event_id"] for d in made) == sorted(e["id"] for e in posted)
        assert {d["status"] for d in made} == {"pending"}
        # Every subscriber got them, and only a subscriber.
        to_every = admin.get(f"{base}/webhooks/{every_id}/deliveries").json()["data"]
        assert {e["id"] for e in posted} <= {d["event_id"] for d in to_every}
        to_runs = admin.get(f"{base}/webhooks/{runs_only}/deliveries").json()["data"]
        assert not {e["id"] for e in posted} & {d["event_id"] for d in to_runs}

        # A later event of one of those invoices waits for its invoice.posted, which
        # the receiver refuses once.
        first = posted[0]
        hook.refuse_once = lambda r: r.json["id"] == first["id"]
        number = first["data"]["object"]["invoice_number"]
        response = api.client.put(
            f"/zuora/v1/invoices/{number}/write-off", json={}, headers=api.zuora_headers
        )
        assert response.status_code == 200, response.text
        deliver(jobs)
        kinds = [(r.json["type"], r.json["object_id"]) for r in hook.received]
        assert ("invoice.written_off", first["object_id"]) not in kinds
        machine_clock.advance(timedelta(seconds=5))
        deliver(jobs)
        assert len(hook.received) == 11  # nine, the refused one again, the write-off
        assert len(other.received) >= 9
        kinds = [(r.json["type"], r.json["object_id"]) for r in hook.received]
        assert kinds[-1] == ("invoice.written_off", first["object_id"])
        assert kinds.count(("invoice.posted", first["object_id"])) == 2
        assert len({r.headers["webhook-id"] for r in hook.received}) == 10
        # The fan-out did not make them again.
        machine_clock.advance(timedelta(days=1))
        deliver(jobs)
        assert len(hook.received) == 11


def test_a_receiver_timing_out_is_retried_on_schedule_and_gets_the_event_once_more(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    machine_clock: FrozenClock,
    admin: TestClient,
) -> None:
    # A short timeout so the receiver's stall passes it; nothing here asserts a duration.
    runtime.settings = runtime.settings.model_copy(update={"webhook_timeout_seconds": 0.2})
    tenant_id = api.tenant.tenant_id
    with receiver() as hook:
        hook.slow = 1
        endpoint_id, _ = add_endpoint(runtime, tenant_id, hook.url, "account.created")
        with runtime.service_context(tenant_id) as ctx:
            new_account(ctx, name="Slowpoke Ltd")
        deliver(jobs)
        assert len(hook.received) == 1  # asked once; the answer came too late
        deliver(jobs)
        assert len(hook.received) == 1  # not due before the back-off
        machine_clock.advance(timedelta(seconds=5))
        deliver(jobs)
        assert len(hook.received) == 2
        machine_clock.advance(timedelta(days=4))
        deliver(jobs)
        assert len(hook.received) == 2  # delivered: nothing lost, nothing sent again
        assert len({r.headers["webhook-id"] for r in hook.received}) == 1
    base = f"/billcycle/v1/tenants/{tenant_id}"
    [delivery] = admin.get(f"{base}/webhooks/{endpoint_id}/deliveries").json()["data"]
    assert delivery["status"] == "succeeded"
    log = admin.get(f"{base}/webhook-deliveries/{delivery['id']}/attempts").json()
    assert [a["status_code"] for a in log] == [None, 200]
    assert log[0]["error"]


def test_an_endpoint_gets_at_most_its_concurrency_of_requests_at_once(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"webhook_max_concurrency": 2})
    tenant_id = api.tenant.tenant_id
    with receiver() as hook:
        hook.slow, hook.slow_seconds = 6, 0.2
        add_endpoint(runtime, tenant_id, hook.url, "account.created")
        with runtime.service_context(tenant_id) as ctx:
            for i in range(6):
                new_account(ctx, name=f"Busy {i}")  # six objects: no order holds them back
        deliver(jobs)
        assert len(hook.received) == 6
        assert 1 <= hook.max_in_flight <= 2


def test_retries_stop_after_three_days_and_a_dead_endpoint_is_disabled_with_an_event(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    machine_clock: FrozenClock,
    admin: TestClient,
) -> None:
    tenant_id = api.tenant.tenant_id
    with receiver(*([500] * 1000)) as hook:
        endpoint_id, _ = add_endpoint(runtime, tenant_id, hook.url, "account.created")
        with runtime.service_context(tenant_id) as ctx:
            new_account(ctx, name="First")
        deliver(jobs)
        for _ in range(40):  # every 2 hours for 80 hours
            machine_clock.advance(timedelta(hours=2))
            deliver(jobs)
        attempts = len(hook.received)
        assert 8 <= attempts <= 20  # 5 s, 30 s, 2 min, 10 min, 30 min, 2 h, 6 h, 12 h, ...
        base = f"/billcycle/v1/tenants/{tenant_id}"
        first = admin.get(f"{base}/webhooks/{endpoint_id}/deliveries").json()["data"][0]
        assert first["status"] == "failed"  # gave up after three days
        machine_clock.advance(timedelta(days=3))
        with runtime.service_context(tenant_id) as ctx:
            new_account(ctx, name="Second")
        deliver(jobs)  # fails, more than 5 days after the first failure: disabled
        assert len(hook.received) == attempts + 1
        endpoint = admin.get(f"{base}/webhooks/{endpoint_id}").json()
        assert endpoint["enabled"] is False
        assert "failed for 5 days" in endpoint["disabled_reason"]
        disabled = admin.get(f"{base}/events", params={"type": "webhook_endpoint.disabled"})
        [event] = disabled.json()["data"]
        assert event["object_id"] == endpoint_id
        with runtime.service_context(tenant_id) as ctx:
            new_account(ctx, name="Third")
        machine_clock.advance(timedelta(hours=1))
        deliver(jobs)
        assert len(hook.received) == attempts + 1  # a disabled endpoint gets nothing


def test_deliveries_of_one_object_keep_their_order(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, machine_clock: FrozenClock
) -> None:
    tenant_id = api.tenant.tenant_id
    with receiver() as hook:
        add_endpoint(runtime, tenant_id, hook.url, "account.created", "account.updated")
        with runtime.service_context(tenant_id) as ctx:
            account = new_account(ctx, name="Ordered")
            other = new_account(ctx, name="Unrelated")
        account_id = account.id
        hook.refuse_once = lambda r: r.json["object_id"] == account_id
        with runtime.service_context(tenant_id) as ctx:
            found = accounts.require_account(ctx, account.id)
            accounts.update_account(ctx, found, AccountChanges(name="Ordered, renamed"))
        deliver(jobs)
        # account.created of "Ordered" failed: its update waits; the other account's
        # event is not held up (the two objects' requests went out concurrently).
        assert sorted((r.json["type"], r.json["object_id"]) for r in hook.received) == sorted(
            [("account.created", account.id), ("account.created", other.id)]
        )
        machine_clock.advance(timedelta(seconds=5))
        deliver(jobs)
        assert [(r.json["type"], r.json["object_id"]) for r in hook.received[2:]] == [
            ("account.created", account.id),
            ("account.updated", account.id),
        ]


def test_manual_redelivery_and_the_test_event(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, admin: TestClient
) -> None:
    tenant_id = api.tenant.tenant_id
    base = f"/billcycle/v1/tenants/{tenant_id}"
    with receiver() as hook:
        endpoint_id, _ = add_endpoint(runtime, tenant_id, hook.url, "account.created")
        with runtime.service_context(tenant_id) as ctx:
            new_account(ctx, name="Again")
        deliver(jobs)
        assert len(hook.received) == 1
        event_id = hook.received[0].headers["webhook-id"]
        response = admin.post(f"{base}/events/{event_id}/redeliver", json={})
        assert response.status_code == 202, response.text
        assert response.json()["deliveries"] == 1
        deliver(jobs)
        assert [r.headers["webhook-id"] for r in hook.received] == [event_id, event_id]
        test = admin.post(f"{base}/webhooks/{endpoint_id}/test")
        assert test.status_code == 202, test.text
        deliver(jobs)
        assert hook.received[-1].json["type"] == "webhook.test"
        assert hook.received[-1].headers["webhook-id"] == test.json()["event_id"]
        assert admin.post(f"{base}/events/evt_unknown/redeliver", json={}).status_code == 404


def test_a_private_address_refused_at_delivery_time_is_logged_not_sent(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, admin: TestClient
) -> None:
    tenant_id = api.tenant.tenant_id
    base = f"/billcycle/v1/tenants/{tenant_id}"
    with receiver() as hook:
        endpoint_id, _ = add_endpoint(runtime, tenant_id, hook.url, "account.created")
        # The operator withdraws the permission after the endpoint was added.
        assert admin.put(
            f"{base}/webhook-settings", json={"webhooks_allow_private": False}
        ).json() == {"webhooks_allow_private": False}
        with runtime.service_context(tenant_id) as ctx:
            new_account(ctx, name="Nope")
        deliver(jobs)
        assert hook.received == []
    [delivery] = admin.get(f"{base}/webhooks/{endpoint_id}/deliveries").json()["data"]
    assert delivery["status"] == "pending"
    assert delivery["attempts"] == 1
    [attempt] = admin.get(f"{base}/webhook-deliveries/{delivery['id']}/attempts").json()
    assert attempt["status_code"] is None
    assert "private address" in attempt["error"]


def test_signatures_match_the_reference_library() -> None:
    secret = signing.new_secret()
    body = b'{"id":"evt_1"}'
    headers = signing.headers(secret, "evt_1", 1_800_000_000, body)
    wh = Webhook(secret)
    expected = wh.sign("evt_1", datetime.fromtimestamp(1_800_000_000, UTC), body.decode())
    assert headers["webhook-signature"] == expected
    assert webhooks.SUBSCRIBABLE  # every event type but the test one
