"""Many concurrent writers against a real server all get through (no thread-pool
deadlock: a request holding a database lock can always finish and commit)."""

from __future__ import annotations

import threading

import httpx

from billcycle.tenancy.service import NewTenant

WRITERS = 64


def test_64_concurrent_account_creations_all_succeed(live_url: str, tenant: NewTenant) -> None:
    with httpx.Client(base_url=live_url, timeout=60) as client:
        token = client.post(
            "/zuora/oauth/token",
            data={
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
                "grant_type": "client_credentials",
            },
        ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    statuses: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(WRITERS)

    def writer(index: int) -> None:
        with httpx.Client(base_url=live_url, timeout=60, headers=headers) as client:
            barrier.wait()
            for round_ in range(2):
                response = client.post(
                    "/zuora/v1/accounts",
                    json={
                        "name": f"Load {index}-{round_}",
                        "currency": "USD",
                        "billCycleDay": 1,
                        "billToContact": {"firstName": "L", "lastName": f"W{index}"},
                    },
                )
                with lock:
                    statuses.append(response.status_code)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == 2 * WRITERS
    assert set(statuses) == {200}
