"""Invoice emails carry the invoice's PDF: the version the dialects serve."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

from billcycle.documents import service as documents
from billcycle.notifications.mailer import OutboxMailer
from billcycle.notifications.service import EmailOutcome, email_invoices
from billcycle.runtime import Runtime
from tests.documents.helpers import make_invoice, pdf_text, stored_counts
from tests.support.api import Api


def test_the_email_has_the_pdf_attached(api: Api, runtime: Runtime, tmp_path: Path) -> None:
    tenant_id = api.tenant.tenant_id
    invoice_id = make_invoice(api, runtime)
    outbox = tmp_path / "outbox"

    with runtime.service_context(tenant_id) as ctx:
        outcome = email_invoices(
            ctx, [invoice_id], OutboxMailer(outbox), resend=False, skip_zero_amount=False
        )
    assert outcome == EmailOutcome(sent=1)

    [file] = outbox.glob("*.eml")
    message = BytesParser(policy=policy.default).parsebytes(file.read_bytes())
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    assert "INV00000001" in body.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "INV00000001.pdf"
    content = attachment.get_content()
    text = pdf_text(content)
    assert "INV00000001" in text
    assert "$46.45" in text

    # The attached PDF was stored as the invoice's version 1: the dialects serve the same.
    assert stored_counts(runtime, tenant_id) == (1, 1)
    with runtime.service_context(tenant_id) as ctx:
        assert documents.render_invoice_pdf(ctx, invoice_id) == content
