"""``billcycle bench webhooks``: N events delivered to a local receiver (another
process), timed from the fan-out to the last delivery logged as succeeded.

The events are written through the outbox service (not timed); the timed part is what
the workers do: fan-out (deliveries made), then the endpoint's delivery task (signed
requests, ``webhook_max_concurrency`` in flight, attempts logged, deliveries moved).
Checked: the receiver counted N requests with N valid signatures, N deliveries
succeeded, N attempts logged.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import httpx

from billcycle.bench.harness import Bench, BenchError
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.webhooks import delivery
from billcycle.webhooks import service as webhooks

BATCH = 5000


def _count(port: int) -> tuple[int, int]:
    text = httpx.get(f"http://127.0.0.1:{port}/count", timeout=10).text
    received, verified = text.split()
    return int(received), int(verified)


def run(bench: Bench, deliveries: int, concurrency: int | None) -> dict[str, Any]:
    runtime = bench.runtime
    if concurrency:
        runtime.settings.webhook_max_concurrency = concurrency
    with runtime.service_context(bench.tenant_id) as ctx:
        webhooks.set_allow_private(ctx, True)
        secret = webhooks.add_endpoint(
            ctx, webhooks.NewEndpoint(url="http://127.0.0.1:9/placeholder", event_types=["*"])
        ).secret
    receiver = subprocess.Popen(
        [sys.executable, "-m", "billcycle.bench.webhook_receiver"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdin is not None
        assert receiver.stdout is not None
        receiver.stdin.write(secret + "\n")
        receiver.stdin.flush()
        port = int(receiver.stdout.readline())
        with runtime.service_context(bench.tenant_id) as ctx:
            [endpoint] = webhooks.list_endpoints(ctx)
            endpoint_id = endpoint.id
            webhooks.update_endpoint(
                ctx, endpoint_id, webhooks.EndpointChanges(url=f"http://127.0.0.1:{port}/hooks")
            )
        for start in range(0, deliveries, BATCH):
            with runtime.service_context(bench.tenant_id) as ctx:
                events.emit_many(
                    ctx,
                    EventType.INVOICE_POSTED,
                    [
                        {
                            "id": i + 1,
                            "invoice_number": f"INV{i + 1:08d}",
                            "amount_minor": 3000,
                            "currency": "USD",
                            "status": "Posted",
                        }
                        for i in range(start, min(deliveries, start + BATCH))
                    ],
                )
        started = time.perf_counter()
        cpu_started = time.process_time()
        touched = delivery.fan_out(runtime)
        fanned = time.perf_counter()
        if endpoint_id not in touched:
            raise BenchError("the fan-out made no delivery for the endpoint")
        attempts = delivery.deliver_endpoint(runtime, endpoint_id)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        received, verified = _count(port)
    finally:
        receiver.terminate()
        receiver.wait(10)
    succeeded = bench.scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :e AND status = 'succeeded'",
        e=endpoint_id,
    )
    logged = bench.scalar(
        "SELECT count(*) FROM webhook_attempts WHERE endpoint_id = :e", e=endpoint_id
    )
    errors = [
        f"{what}: {got}, expected {deliveries}"
        for what, got in (
            ("received", received),
            ("signatures verified", verified),
            ("deliveries succeeded", succeeded),
            ("attempts logged", logged),
            ("attempts made", attempts),
        )
        if got != deliveries
    ]
    return {
        "benchmark": "webhooks",
        "database": bench.database,
        "deliveries": deliveries,
        "concurrency": runtime.settings.webhook_max_concurrency,
        "fan_out_seconds": round(fanned - started, 3),
        "wall_seconds": round(wall, 3),
        # CPU time of this process (fan-out, signing, HTTP, SQLite): on a shared machine
        # the wall time is this plus the time the scheduler gave to others.
        "cpu_seconds": round(cpu, 3),
        "deliveries_per_second": round(deliveries / wall, 1) if wall else None,
        "correct": not errors,
        "errors": errors,
    }
