"""Shared steps of the hosted card page tests."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from billcycle.paymentmethods import capture_links
from billcycle.runtime import Runtime
from tests.paymentmethods.helpers import account, configure_gateway


@dataclass(frozen=True)
class CardLink:
    account_id: int
    path: str


def card_link(app: FastAPI, runtime: Runtime, tenant_id: int) -> CardLink:
    """An account of ``tenant_id`` with a test gateway, and a fresh link to its card page."""
    configure_gateway(runtime, tenant_id)
    with runtime.service_context(tenant_id) as ctx:
        account_id = account(ctx).id
    token = capture_links.issue(
        app.state.signing_key,
        tenant_id=tenant_id,
        account_id=account_id,
        now=runtime.machine_clock.now(),
    )
    return CardLink(account_id, capture_links.page_path(token))
