"""zuora-sdk pointed at a running billcycle server, for tests that speak through it.

Use with the ``live_url`` and ``tenant`` fixtures::

    client = make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)
    client.products_api().create_product(CreateProductRequest(...))

The SDK's own ``initialize()`` starts a token-refresh thread that sleeps ten minutes and
retries failed logins with back-off; tests want neither, so this fetches one token
(``POST {base_url}/oauth/token``) and fails loudly if that does not work.
"""

from __future__ import annotations

import zuora_sdk
from zuora_sdk.zuora_client import ZuoraClient


def make_sdk_client(base_url: str, client_id: str, client_secret: str) -> ZuoraClient:
    """An authenticated ZuoraClient whose API objects (``client.products_api()``, ...)
    call ``base_url`` (e.g. ``http://127.0.0.1:8123/zuora``)."""
    config = zuora_sdk.Configuration(host=base_url.rstrip("/"))
    client = ZuoraClient(client_id, client_secret, env=None, config=config)
    client.set_retry_config(max_retries=1, retry_base_delay=1)  # one try: no back-off
    client.refresh_token()
    if client.token["access_token"] is None:
        raise RuntimeError(f"zuora-sdk could not get a token from {base_url}/oauth/token")
    return client
