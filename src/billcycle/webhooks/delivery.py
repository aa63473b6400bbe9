"""Fan-out and delivery: what the workers do with the outbox.

* :func:`fan_out` turns new outbox events into one delivery per subscribed, enabled
  endpoint (events claimed with ``FOR UPDATE SKIP LOCKED``, so several workers share it).
* :func:`deliver_endpoint` holds an endpoint's lease (one task per endpoint at a time)
  and sends its due deliveries, up to ``webhook_max_concurrency`` requests in flight
  (asyncio, keep-alive, with a timeout: ``webhooks/http.py``), oldest first, and never
  two of one object at once nor
  a later one before an earlier one has succeeded or been given up: per-endpoint order
  by object. Every attempt is logged; a failed one is retried on the back-off schedule
  for up to three days; an endpoint failing for ``webhook_disable_after_days`` is
  disabled with a ``webhook_endpoint.disabled`` event.

A delivery is marked delivered only after the receiver answered 2xx, in a transaction
after the request: a crash in between sends it again (at least once; receivers dedupe on
``webhook-id``). The network is never touched inside a database transaction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from billcycle import metrics
from billcycle.db.session import unit_of_work
from billcycle.errors import InvalidValue
from billcycle.events import repository as events_repo
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.runtime import Runtime
from billcycle.webhooks import addresses, http, signing
from billcycle.webhooks import repository as repo
from billcycle.webhooks.schedule import RETRY_WINDOW, delay_after
from billcycle.webhooks.service import ALL
from billcycle.webhooks.statuses import DeliveryStatus

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 1000
# Pending deliveries looked at per round (due or not), per request in flight: large
# rounds for a healthy endpoint (fewer commits), small ones for a failing one, whose
# round of timeouts then lasts at most 25 timeouts, well within the endpoint's lease.
WINDOW_PER_REQUEST = 200
WINDOW_PER_REQUEST_FAILING = 25
MAX_WINDOW = 5000
EXCERPT = 500
LEASE = timedelta(minutes=10)
T = TypeVar("T")


# -- fan-out -------------------------------------------------------------------------------


def fan_out(runtime: Runtime, *, max_batches: int = 1000) -> set[int]:
    """Make the deliveries of every event not fanned out yet (at most ``max_batches``
    batches of them); returns the endpoints that got new deliveries."""
    return fan_out_some(runtime, max_batches=max_batches)[0]


def fan_out_some(
    runtime: Runtime, *, max_batches: int, wait_for_writers: bool = True
) -> tuple[set[int], bool]:
    """As :func:`fan_out`; also says whether events were left for later.

    ``wait_for_writers=False`` (the scheduler's tick): on SQLite, a batch that finds
    another writer holding the database's write lock is not made: the fan-out stops
    there, quietly (a debug log, ``billcycle_webhook_fan_out_skipped``), and says
    nothing was left, for the next tick does the rest. Waiting instead could outlast
    the busy timeout behind a long unit of work (a 10k sandbox's collections day) and
    fail with "database is locked", logged as an error, for nothing lost either way.
    """
    touched: set[int] = set()
    for _ in range(max_batches):
        with unit_of_work(runtime.session_factory) as session:
            if not wait_for_writers and not events_repo.write_lock_free(session):
                metrics.WEBHOOK_FAN_OUT_SKIPPED.inc()
                log.debug("webhook fan-out skipped: another writer holds the database")
                return touched, False
            batch = events_repo.claim_unfanned(session, FAN_OUT_BATCH)
            if not batch:
                break
            endpoints = repo.enabled_endpoints(session, sorted({e.tenant_id for e in batch}))
            now = runtime.machine_clock.now()
            for endpoint in endpoints:
                wanted = None if ALL in endpoint.event_types else endpoint.event_types
                ids = [
                    e.id
                    for e in batch
                    if e.tenant_id == endpoint.tenant_id and (wanted is None or e.type in wanted)
                ]
                if repo.fan_out_to(
                    session, endpoint, ids, wanted, now=now, give_up_at=now + RETRY_WINDOW
                ):
                    touched.add(endpoint.id)
            events_repo.mark_fanned_out(session, [e.id for e in batch])
        if len(batch) < FAN_OUT_BATCH:
            return touched, False
    return touched, True


# -- delivery ------------------------------------------------------------------------------


def body_of(delivery: repo.PendingDelivery, tenant_id: int) -> bytes:
    """billcycle's own webhook body."""
    return json.dumps(
        {
            "id": delivery.event_id,
            "type": delivery.type,
            "occurred_at": delivery.occurred_at.isoformat(),
            "tenant_id": tenant_id,
            "object_type": delivery.object_type,
            "object_id": delivery.object_id,
            "data": delivery.payload,
        },
        separators=(",", ":"),
    ).encode()


@dataclass(frozen=True)
class Outcome:
    delivery: repo.PendingDelivery
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    excerpt: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _eligible(pending: Sequence[repo.PendingDelivery], now: datetime) -> list[repo.PendingDelivery]:
    """The first pending delivery of each object, if it is due (order by object)."""
    seen: set[str] = set()
    chosen: list[repo.PendingDelivery] = []
    for delivery in pending:
        if delivery.object_key in seen:
            continue
        seen.add(delivery.object_key)
        if delivery.next_attempt_at <= now:
            chosen.append(delivery)
    return chosen


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, also from a thread that has an
    event loop running (a procrastinate worker)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _send_all(
    client: http.Client | None,
    endpoint: repo.LeasedEndpoint,
    batch: Sequence[repo.PendingDelivery],
    *,
    runtime: Runtime,
    refused: str | None,
) -> list[Outcome]:
    """Every delivery of ``batch`` attempted (the client bounds how many are in flight)."""

    async def send(delivery: repo.PendingDelivery) -> Outcome:
        attempted_at = runtime.machine_clock.now()
        if client is None:
            return Outcome(delivery, attempted_at, None, 0, (refused or "refused")[:255], None)
        body = body_of(delivery, endpoint.tenant_id)
        headers = signing.headers(
            endpoint.secret, delivery.event_id, int(attempted_at.timestamp()), body
        )
        started = time.monotonic()
        try:
            answer = await client.post(body, headers)
        except http.HttpError as exc:
            latency = int((time.monotonic() - started) * 1000)
            return Outcome(delivery, attempted_at, None, latency, str(exc)[:255], None)
        latency = int((time.monotonic() - started) * 1000)
        excerpt = answer.excerpt.decode("utf-8", "replace")[:EXCERPT] or None
        return Outcome(delivery, attempted_at, answer.status, latency, None, excerpt)

    return list(await asyncio.gather(*(send(d) for d in batch)))


def _approved_address(runtime: Runtime, endpoint: repo.LeasedEndpoint) -> tuple[str | None, str]:
    """The address to connect to, checked now (SSRF: DNS resolved at delivery time,
    every address allowed), or None and why not."""
    with unit_of_work(runtime.session_factory) as session:
        allowed = repo.allow_private(session, endpoint.tenant_id)
    try:
        found = addresses.check_url(endpoint.url, allow_private=allowed)
    except InvalidValue as exc:  # the reason goes into the attempt log
        return None, f"refused: {exc}"
    return found[0], ""


def deliver_endpoint(runtime: Runtime, endpoint_id: int, *, max_rounds: int = 1000) -> int:
    """Send the endpoint's due deliveries; returns how many attempts were made."""
    now = runtime.machine_clock.now()
    with unit_of_work(runtime.session_factory) as session:
        endpoint = repo.lease_endpoint(session, endpoint_id, now, now + LEASE)
    if endpoint is None:
        return 0  # disabled, gone, or another worker is on it
    try:
        made = _run(_deliver_rounds(runtime, endpoint, max_rounds))
    finally:
        with unit_of_work(runtime.session_factory) as session:
            repo.renew_lease(session, endpoint.id, None)
    return made


async def _deliver_rounds(runtime: Runtime, endpoint: repo.LeasedEndpoint, max_rounds: int) -> int:
    """Rounds of (due deliveries, send them, record them) with one HTTP client, until
    nothing is due; the database work between rounds is short and synchronous."""
    made = 0
    address, refused = _approved_address(runtime, endpoint)
    failing_since = endpoint.failing_since
    settings = runtime.settings
    client = (
        http.Client(
            http.Target.of(endpoint.url, address),
            timeout=settings.webhook_timeout_seconds,
            width=settings.webhook_max_concurrency,
        )
        if address is not None
        else None
    )
    async with contextlib.AsyncExitStack() as stack:
        if client is not None:
            await stack.enter_async_context(client)
        for _ in range(max_rounds):
            now = runtime.machine_clock.now()
            with unit_of_work(runtime.session_factory) as session:
                per_request = (
                    WINDOW_PER_REQUEST_FAILING if failing_since is not None else WINDOW_PER_REQUEST
                )
                window = min(MAX_WINDOW, per_request * max(1, settings.webhook_max_concurrency))
                pending = repo.pending_deliveries(session, endpoint.id, window)
            batch = _eligible(pending, now)
            if not batch:
                break
            outcomes = await _send_all(
                client, endpoint, batch, runtime=runtime, refused=refused or None
            )
            made += len(outcomes)
            disabled, failing_since = _record(runtime, endpoint, outcomes, failing_since)
            if disabled:
                break
    return made


def _metric_outcome(status: str) -> str:
    """An attempt as /metrics counts it: delivered, failed (retried later) or given up."""
    if status == DeliveryStatus.SUCCEEDED.value:
        return "succeeded"
    return "gave_up" if status == DeliveryStatus.FAILED.value else "failed"


def _record(
    runtime: Runtime,
    endpoint: repo.LeasedEndpoint,
    outcomes: Sequence[Outcome],
    failing_since: datetime | None,
) -> tuple[bool, datetime | None]:
    """Log the attempts, move the deliveries, and track the endpoint's failing streak;
    returns (disabled, failing_since)."""
    now = runtime.machine_clock.now()
    attempts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for outcome in outcomes:
        d = outcome.delivery
        number = d.attempts + 1
        attempts.append(
            {
                "tenant_id": endpoint.tenant_id,
                "delivery_id": d.id,
                "endpoint_id": endpoint.id,
                "attempt": number,
                "attempted_at": outcome.attempted_at,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "succeeded": outcome.succeeded,
                "error": outcome.error,
                "response_excerpt": outcome.excerpt,
            }
        )
        if outcome.succeeded:
            status, next_at, delivered = DeliveryStatus.SUCCEEDED, d.next_attempt_at, now
        else:
            next_at, delivered = outcome.attempted_at + delay_after(number), None
            status = DeliveryStatus.FAILED if next_at > d.give_up_at else DeliveryStatus.PENDING
        updates.append(
            {
                "b_id": d.id,
                "status": status.value,
                "attempts": number,
                "next_attempt_at": next_at,
                "last_attempt_at": outcome.attempted_at,
                "delivered_at": delivered,
            }
        )
    any_success = any(o.succeeded for o in outcomes)
    disabled = False
    with unit_of_work(runtime.session_factory) as session:
        repo.add_attempts(session, attempts)
        for update in updates:
            metrics.WEBHOOK_DELIVERIES.labels(outcome=_metric_outcome(update["status"])).inc()
        repo.update_deliveries(session, updates)
        if any_success:
            if failing_since is not None:
                failing_since = None
                repo.set_failing(session, endpoint.id, None, now=now)
        elif failing_since is None:
            failing_since = min(o.attempted_at for o in outcomes)
            repo.set_failing(session, endpoint.id, failing_since, now=now)
        elif now - failing_since >= timedelta(days=runtime.settings.webhook_disable_after_days):
            days = runtime.settings.webhook_disable_after_days
            reason = f"Every delivery failed for {days} days (since {failing_since.isoformat()})."
            repo.set_failing(session, endpoint.id, failing_since, disabled_reason=reason, now=now)
            repo.fail_pending(session, endpoint.id)
            ctx = runtime.context(session, endpoint.tenant_id)
            events.emit(
                ctx,
                EventType.WEBHOOK_ENDPOINT_DISABLED,
                {"id": endpoint.id, "url": endpoint.url},
                reason=reason,
                failing_since=failing_since,
            )
            disabled = True
        if not disabled:
            repo.renew_lease(session, endpoint.id, now + LEASE)
    if disabled:
        log.warning(
            "webhook endpoint %s disabled after failing since %s", endpoint.id, failing_since
        )
    return disabled, failing_since
