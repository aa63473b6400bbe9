"""Emailing posted invoices through a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import select

from billcycle.clock import FrozenClock
from billcycle.invoicing.models import Invoice
from billcycle.invoicing.service import get_invoice
from billcycle.ledger.models import EntryType
from billcycle.ledger.service import apply_to_invoice
from billcycle.notifications.mailer import Mailer, OutboxMailer, SmtpMailer
from billcycle.notifications.service import (
    EmailOutcome,
    deliveries_of,
    email_invoices,
)
from billcycle.notifications.statuses import DeliveryStatus
from billcycle.runtime import Runtime
from tests.notifications.helpers import invoice_for
from tests.subscriptions.factories import flat
from tests.support.api import Api
from tests.support.server import free_port
from tests.support.smtp import SmtpServer

NOW = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def send(
    runtime: Runtime,
    api: Api,
    ids: list[int],
    mailer: Mailer,
    *,
    resend: bool = False,
    skip_zero_amount: bool = False,
    **kwargs: Any,
) -> EmailOutcome:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        return email_invoices(
            ctx, ids, mailer, resend=resend, skip_zero_amount=skip_zero_amount, **kwargs
        )


def emailed_at(runtime: Runtime, api: Api, invoice_id: int) -> datetime | None:
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        return ctx.session.scalar(select(Invoice.emailed_at).where(Invoice.id == invoice_id))


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def test_posted_invoice_is_emailed_with_items_and_totals(
    api: Api, runtime: Runtime, smtp_server: SmtpServer
) -> None:
    invoice_id = invoice_for(api, runtime)
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        # A partial payment: the balance differs from the total.
        apply_to_invoice(
            ctx,
            get_invoice(ctx, invoice_id),
            EntryType.PAYMENT,
            1000,
            reference=None,
            comment=None,
            source="API",
        )

    outcome = send(
        runtime,
        api,
        [invoice_id],
        SmtpMailer(smtp_server.url),
        bill_run_id=7,
        sender="Acme Billing <billing@acme.test>",
    )

    assert outcome == EmailOutcome(sent=1)
    [received] = smtp_server.received
    assert received.rcpt_tos == ["jane@example.com"]
    assert received.mail_from == "billing@acme.test"
    message = received.message
    assert message["Subject"] == "Invoice INV00000001 from test tenant"
    assert message["To"] == "Jane Doe <jane@example.com>"
    assert message["From"] == "Acme Billing <billing@acme.test>"
    # The text and HTML bodies, then the invoice's PDF (billcycle.documents).
    assert message.get_content_type() == "multipart/mixed"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "INV00000001.pdf"
    assert message["Message-ID"].endswith("@acme.test>")
    assert message["Date"] == "Sat, 10 Jan 2026 09:00:00 +0000"
    text, html = parts(message)
    for body in (text, html):
        assert "INV00000001" in body
        assert "Monthly fee" in body
        # Service periods end on their last day (stored ends are exclusive).
        assert "Jan 15, 2026 \N{EN DASH} Jan 31, 2026" in body
        assert "Feb 1, 2026 \N{EN DASH} Feb 28, 2026" in body
        assert "$16.45" in body
        assert "$30.00" in body
        assert "$46.45" in body  # total
        assert "$36.45" in body  # balance after the 10.00 payment
        assert "Feb 1, 2026" in body
        assert "Mar 3, 2026" in body
    assert "Total: $46.45" in text
    assert "Balance due: $36.45" in text
    assert "<td" in html

    with runtime.service_context(api.tenant.tenant_id) as ctx:
        [delivery] = deliveries_of(ctx, invoice_id)
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.recipient == "jane@example.com"
    assert delivery.transport == "smtp"
    assert delivery.bill_run_id == 7
    assert delivery.message_id == message["Message-ID"]
    assert delivery.error is None
    assert emailed_at(runtime, api, invoice_id) == NOW


def test_resend_false_skips_emailed_invoices_and_resend_true_sends_again(
    api: Api, runtime: Runtime, smtp_server: SmtpServer, clock: FrozenClock
) -> None:
    invoice_id = invoice_for(api, runtime)
    mailer = SmtpMailer(smtp_server.url)
    assert send(runtime, api, [invoice_id], mailer).sent == 1

    again = send(runtime, api, [invoice_id, invoice_id], mailer)
    assert again == EmailOutcome(skipped_already_emailed=1)
    assert len(smtp_server.received) == 1

    clock.advance(timedelta(days=1))
    resent = send(runtime, api, [invoice_id], mailer, resend=True)
    assert resent == EmailOutcome(sent=1)
    assert len(smtp_server.received) == 2
    assert emailed_at(runtime, api, invoice_id) == NOW + timedelta(days=1)
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        assert [d.status for d in deliveries_of(ctx, invoice_id)] == [
            DeliveryStatus.SENT,
            DeliveryStatus.SENT,
        ]


def test_drafts_zero_amounts_and_missing_emails_are_skipped(
    api: Api, runtime: Runtime, smtp_server: SmtpServer
) -> None:
    draft = invoice_for(api, runtime, post=False)
    zero = invoice_for(api, runtime, charge=flat("0"))
    no_email = invoice_for(api, runtime, work_email=None)
    opted_out = invoice_for(api, runtime, wants_email=False)
    personal = invoice_for(api, runtime, work_email=None, personal_email="home@example.com")
    unknown = 10**12
    ids = [draft, zero, no_email, opted_out, personal, unknown]

    outcome = send(runtime, api, ids, SmtpMailer(smtp_server.url), skip_zero_amount=True)

    assert outcome == EmailOutcome(
        sent=1,
        skipped_not_posted=2,
        skipped_zero_amount=1,
        skipped_opted_out=1,
        skipped_no_email=1,
    )
    assert [r.rcpt_tos for r in smtp_server.received] == [["home@example.com"]]
    for skipped in (draft, zero, no_email, opted_out):
        assert emailed_at(runtime, api, skipped) is None

    # Without the zero-amount rule, a zero invoice is emailed like any other.
    assert send(runtime, api, [zero], SmtpMailer(smtp_server.url)).sent == 1
    zero_text, _ = parts(smtp_server.received[-1].message)
    assert "Total: $0.00" in zero_text
    # The delivery preference can be overridden by the caller.
    overridden = send(
        runtime, api, [opted_out], SmtpMailer(smtp_server.url), honor_delivery_preference=False
    )
    assert overridden.sent == 1


def test_refused_recipient_is_recorded_as_failed_and_the_batch_goes_on(
    api: Api, runtime: Runtime, smtp_server: SmtpServer
) -> None:
    first = invoice_for(api, runtime)
    bounced = invoice_for(api, runtime, work_email="bounce@example.com")
    last = invoice_for(api, runtime)
    smtp_server.handler.refuse.add("bounce@example.com")

    outcome = send(runtime, api, [first, bounced, last], SmtpMailer(smtp_server.url))

    assert (outcome.sent, outcome.failed) == (2, 1)
    assert "550" in outcome.errors[bounced]
    # One connection for the whole batch, still usable after the refusal.
    peers = {r.peer for r in smtp_server.received}
    assert len(smtp_server.received) == 2
    assert len(peers) == 1
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        [failure] = deliveries_of(ctx, bounced)
    assert failure.status == DeliveryStatus.FAILED
    assert failure.recipient == "bounce@example.com"
    assert failure.error is not None
    assert "550 5.1.1 Mailbox unavailable" in failure.error
    assert failure.message_id is None
    assert emailed_at(runtime, api, bounced) is None
    assert emailed_at(runtime, api, first) == NOW

    # A failed invoice is retried by the next resend=False call.
    smtp_server.handler.refuse.clear()
    retried = send(runtime, api, [first, bounced, last], SmtpMailer(smtp_server.url))
    assert retried == EmailOutcome(sent=1, skipped_already_emailed=2)
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        assert [d.status for d in deliveries_of(ctx, bounced)] == [
            DeliveryStatus.FAILED,
            DeliveryStatus.SENT,
        ]


def test_unreachable_server_fails_the_batch_without_waiting_on_each_invoice(
    api: Api, runtime: Runtime
) -> None:
    ids = [invoice_for(api, runtime), invoice_for(api, runtime)]
    mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", timeout=5)

    outcome = send(runtime, api, ids, mailer)

    assert outcome.failed == 2
    assert outcome.sent == 0
    assert "Cannot use SMTP server" in outcome.errors[ids[0]]
    assert outcome.errors[ids[1]].startswith("Not attempted: Cannot use SMTP server")
    for invoice_id in ids:
        assert emailed_at(runtime, api, invoice_id) is None


def test_login_with_credentials_from_the_url(
    api: Api, runtime: Runtime, smtp_server: SmtpServer
) -> None:
    invoice_id = invoice_for(api, runtime)
    good = SmtpMailer(f"smtp://mailer:s3cret%3Apass@127.0.0.1:{smtp_server.port}")
    bad = SmtpMailer(f"smtp://mailer:wrong@127.0.0.1:{smtp_server.port}")

    refused = send(runtime, api, [invoice_id], bad)
    assert refused.failed == 1
    assert "535" in refused.errors[invoice_id]
    assert "wrong" not in repr(bad)

    assert send(runtime, api, [invoice_id], good).sent == 1
    assert len(smtp_server.received) == 1


def test_other_tenants_invoices_are_not_emailed(
    api: Api, runtime: Runtime, smtp_server: SmtpServer
) -> None:
    from billcycle.db.session import unit_of_work
    from billcycle.tenancy.service import create_tenant

    invoice_id = invoice_for(api, runtime)
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other tenant")
    with runtime.service_context(other.tenant_id) as ctx:
        outcome = email_invoices(
            ctx, [invoice_id], SmtpMailer(smtp_server.url), resend=True, skip_zero_amount=False
        )
    assert outcome == EmailOutcome(skipped_not_posted=1)
    assert smtp_server.received == []


def test_concurrent_calls_email_an_invoice_once(
    api: Api, runtime: Runtime, smtp_server: SmtpServer
) -> None:
    """The second caller waits for the first one's commit, then sees ``emailed_at``."""
    invoice_id = invoice_for(api, runtime)
    tenant_id = api.tenant.tenant_id
    first_sent = threading.Event()
    outcomes: list[EmailOutcome] = []

    def first() -> None:
        with runtime.service_context(tenant_id) as ctx:
            outcomes.append(
                email_invoices(
                    ctx,
                    [invoice_id],
                    SmtpMailer(smtp_server.url),
                    resend=False,
                    skip_zero_amount=False,
                )
            )
            first_sent.set()
            time.sleep(0.3)  # sent but not committed yet

    def second() -> None:
        assert first_sent.wait(10)
        with runtime.service_context(tenant_id) as ctx:
            outcomes.append(
                email_invoices(
                    ctx,
                    [invoice_id],
                    SmtpMailer(smtp_server.url),
                    resend=False,
                    skip_zero_amount=False,
                )
            )

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes == [EmailOutcome(sent=1), EmailOutcome(skipped_already_emailed=1)]
    assert len(smtp_server.received) == 1


def test_outbox_that_cannot_be_created_fails_the_batch(
    api: Api, runtime: Runtime, tmp_path: Path
) -> None:
    invoice_id = invoice_for(api, runtime)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    outcome = send(runtime, api, [invoice_id], OutboxMailer(blocker / "outbox"))

    assert outcome.failed == 1
    assert "Cannot create the outbox directory" in outcome.errors[invoice_id]
    assert emailed_at(runtime, api, invoice_id) is None
