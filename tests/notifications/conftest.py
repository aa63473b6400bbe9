"""A real SMTP server (aiosmtpd) on a free local port, and posted invoices built through
the services and the Zuora API."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from billcycle.accounts.inputs import AccountChanges, ContactChanges
from billcycle.accounts.service import require_account, update_account
from billcycle.invoicing.generator import GenerationOptions, generate_invoices
from billcycle.invoicing.service import post_invoices
from billcycle.runtime import Runtime
from tests.conftest import Api
from tests.subscriptions.factories import ChargeSpec, add_account, add_rate_plan, flat
from tests.support.server import free_port

USER, PASSWORD = "mailer", "s3cret:pass"


@dataclass
class Received:
    peer: tuple[str, int]
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Handler:
    """Collects what the server accepts; refuses the recipients in ``refuse``."""

    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(
                Received(tuple(session.peer), envelope.mail_from, list(envelope.rcpt_tos), message)
            )
        return "250 Message accepted"


@dataclass
class SmtpServer:
    handler: Handler
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    handler = Handler()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpServer(handler, port)
    finally:
        controller.stop()


# -- data ------------------------------------------------------------------------------


def subscribe(api: Api, account_number: str, rate_plan_key: str) -> None:
    response = api.client.post(
        "/zuora/v1/subscriptions",
        json={
            "accountKey": account_number,
            "contractEffectiveDate": "2026-01-15",
            "termType": "EVERGREEN",
            "subscribeToRatePlans": [{"productRatePlanId": rate_plan_key}],
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text


def invoice_for(
    api: Api,
    runtime: Runtime,
    *,
    charge: ChargeSpec | None = None,
    work_email: str | None = "jane@example.com",
    personal_email: str | None = None,
    wants_email: bool = True,
    post: bool = True,
    target: date = date(2026, 2, 1),
) -> int:
    """A new account (bill-to Jane Doe) subscribed from 2026-01-15 to ``charge`` (30/month
    by default), invoiced up to ``target`` and, unless ``post=False``, posted."""
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        account = add_account(ctx.session, tenant_id)
        plan = add_rate_plan(
            ctx.session, tenant_id, charge or flat("30"), sku=f"SKU-{account.account_number}"
        )
        update_account(
            ctx,
            require_account(ctx, account.id),
            AccountChanges(
                invoice_delivery_prefs_email=wants_email,
                bill_to_contact=ContactChanges(
                    first_name="Jane",
                    last_name="Doe",
                    work_email=work_email,
                    personal_email=personal_email,
                ),
            ),
        )
    subscribe(api, account.account_number, plan.rate_plan_key)
    with runtime.service_context(tenant_id) as ctx:
        result = generate_invoices(
            ctx, [account.id], GenerationOptions(target_date=target, invoice_date=target)
        )
        assert result.failures == {}
        assert len(result.invoice_ids) == 1
        invoice_id = result.invoice_ids[0]
        if post:
            assert post_invoices(ctx, [invoice_id]) == [invoice_id]
    return invoice_id
