"""Transports: the outbox folder, SMTP URLs, and the choice between them."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from billcycle.config import Settings
from billcycle.notifications.mailer import (
    OutboxMailer,
    SmtpMailer,
    TransportUnavailable,
    mailer_from_settings,
)
from billcycle.notifications.service import EmailOutcome, email_invoices
from billcycle.runtime import Runtime
from tests.notifications.helpers import invoice_for
from tests.support.api import Api
from tests.support.smtp import SmtpServer


def test_outbox_writes_one_parseable_eml_per_invoice(
    api: Api, runtime: Runtime, tmp_path: Path
) -> None:
    ids = [invoice_for(api, runtime), invoice_for(api, runtime)]
    outbox = tmp_path / "outbox" / "nested"
    with runtime.service_context(api.tenant.tenant_id) as ctx:
        outcome = email_invoices(
            ctx, ids, OutboxMailer(outbox), resend=False, skip_zero_amount=False
        )
    assert outcome == EmailOutcome(sent=2)

    files = sorted(outbox.iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]  # no temporary files left
    first = files[0]
    assert first.name.startswith("20260110T090000Z-INV00000001-")
    raw = first.read_bytes()
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "Jane Doe <jane@example.com>"
    assert message["Subject"] == "Invoice INV00000001 from test tenant"
    assert message["Message-ID"].strip("<>") in first.name
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert "Total: $46.45" in str(text.get_content())
    assert "$46.45" in str(html.get_content())

    with runtime.service_context(api.tenant.tenant_id) as ctx:
        from billcycle.notifications.service import deliveries_of

        [delivery] = deliveries_of(ctx, ids[0])
    assert delivery.transport == "outbox"
    assert delivery.message_id == message["Message-ID"]


def test_outbox_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(TransportUnavailable):
        OutboxMailer(blocker / "outbox").open()


def test_smtp_urls() -> None:
    plain = SmtpMailer("smtp://mail.example.com")
    assert (plain.scheme, plain.host, plain.port, plain.username) == (
        "smtp",
        "mail.example.com",
        25,
        None,
    )
    tls = SmtpMailer("smtps://user%40example.com:p%2Fw@mail.example.com")
    assert (tls.port, tls.username) == (465, "user@example.com")
    assert "p/w" not in repr(tls)
    assert SmtpMailer("SMTP+STARTTLS://mail.example.com").port == 587
    assert SmtpMailer("smtp://mail.example.com:2525").port == 2525
    for bad, why in (
        ("http://mail.example.com", "scheme"),
        ("mail.example", "scheme"),
        ("smtp://", "no host"),
        ("smtp://host:notaport", "invalid port"),
    ):
        with pytest.raises(ValueError, match=why):
            SmtpMailer(bad)


def test_settings_choose_the_transport(tmp_path: Path) -> None:
    smtp = mailer_from_settings(Settings(smtp_url="smtp+starttls://mail.example.com"))
    assert isinstance(smtp, SmtpMailer)
    assert smtp.transport == "smtp"
    outbox = mailer_from_settings(Settings(smtp_url=None, outbox_dir=tmp_path))
    assert isinstance(outbox, OutboxMailer)
    assert outbox.directory == tmp_path
    assert outbox.transport == "outbox"


def test_send_outside_a_batch_connects_each_time(smtp_server: SmtpServer) -> None:
    mailer = SmtpMailer(smtp_server.url)
    for number in (1, 2):
        message = EmailMessage()
        message["From"] = "billing@example.com"
        message["To"] = "jane@example.com"
        message["Subject"] = f"hello {number}"
        message.set_content("hi")
        message_id = mailer.send(message)
        assert message_id.endswith("@example.com>")
    assert len({r.peer for r in smtp_server.received}) == 2
    with mailer:
        for _ in range(2):
            message = EmailMessage()
            message["From"] = "billing@example.com"
            message["To"] = "jane@example.com"
            message.set_content("batched")
            mailer.send(message)
    assert len({r.peer for r in smtp_server.received[2:]}) == 1
