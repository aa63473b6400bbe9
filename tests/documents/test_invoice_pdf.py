"""Invoice PDFs through the documents service: a valid PDF with the invoice's figures,
stored once per version and rendered again only when what the invoice shows changed;
rendering fetches nothing from the network."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from billcycle.documents import service as documents
from billcycle.documents.inputs import TemplateSettingsChanges
from billcycle.documents.rendering import default_template_source
from billcycle.invoicing.service import cancel_invoices, post_invoices
from billcycle.runtime import Runtime
from tests.documents.helpers import make_invoice, pay, pdf_text, stored_counts
from tests.support.api import Api


def pdf_of(runtime: Runtime, tenant_id: int, invoice_id: int) -> documents.InvoicePdf:
    with runtime.service_context(tenant_id) as ctx:
        return documents.invoice_pdf(ctx, invoice_id)


def test_pdf_is_valid_and_shows_number_and_total(api: Api, runtime: Runtime) -> None:
    invoice_id = make_invoice(api, runtime)
    document = pdf_of(runtime, api.tenant.tenant_id, invoice_id)

    assert document.file_name == "INV00000001.pdf"
    assert document.version_number == 1
    text = pdf_text(document.content)
    assert "INV00000001" in text
    assert "$46.45" in text
    assert "Balance due" in text
    assert "Jan 15, 2026" in text


def test_the_stored_version_is_reused_until_the_invoice_changes(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    invoice_id = make_invoice(api, runtime)
    first = pdf_of(runtime, tenant_id, invoice_id)
    again = pdf_of(runtime, tenant_id, invoice_id)

    assert (again.version_number, again.file_id) == (first.version_number, first.file_id)
    assert again.content == first.content
    assert stored_counts(runtime, tenant_id) == (1, 1)

    # A payment changes the balance: a new version, with the new figure.
    pay(runtime, tenant_id, invoice_id, 1000)
    paid = pdf_of(runtime, tenant_id, invoice_id)
    assert paid.version_number == 2
    assert paid.file_id != first.file_id
    assert "$36.45" in pdf_text(paid.content)
    assert stored_counts(runtime, tenant_id) == (2, 2)

    # So does a change of the tenant's settings.
    with runtime.service_context(tenant_id) as ctx:
        documents.update_template_settings(
            ctx, TemplateSettingsChanges(invoice_footer="Thank you, come again")
        )
    footer = pdf_of(runtime, tenant_id, invoice_id)
    assert footer.version_number == 3
    assert "Thank you, come again" in pdf_text(footer.content)
    assert pdf_of(runtime, tenant_id, invoice_id).version_number == 3
    assert stored_counts(runtime, tenant_id) == (3, 3)

    with runtime.service_context(tenant_id) as ctx:
        versions = documents.invoice_versions(ctx, invoice_id)
    assert [v.version_number for v in versions] == [3, 2, 1]
    assert [v.file_id for v in versions] == [footer.file_id, paid.file_id, first.file_id]


def test_posting_and_cancelling_render_new_versions(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    draft_id = make_invoice(api, runtime, post=False)
    draft = pdf_of(runtime, tenant_id, draft_id)
    assert "DRAFT" in pdf_text(draft.content)

    with runtime.service_context(tenant_id) as ctx:
        assert post_invoices(ctx, [draft_id]) == [draft_id]
    posted = pdf_of(runtime, tenant_id, draft_id)
    assert posted.version_number == 2
    assert "DRAFT" not in pdf_text(posted.content)

    other_id = make_invoice(api, runtime, post=False)
    pdf_of(runtime, tenant_id, other_id)
    with runtime.service_context(tenant_id) as ctx:
        assert cancel_invoices(ctx, [other_id]) == [other_id]
    canceled = pdf_of(runtime, tenant_id, other_id)
    assert canceled.version_number == 2
    assert "CANCELED" in pdf_text(canceled.content)


class _Recorder(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red; }")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    _Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_rendering_fetches_no_url(api: Api, runtime: Runtime, http_server: str) -> None:
    """A template that asks for a stylesheet and an image on another host (here a real
    server on this machine, which records what it is asked) renders without them."""
    tenant_id = api.tenant.tenant_id
    source = (
        default_template_source()
        .replace(
            "</head>",
            f'<link rel="stylesheet" href="{http_server}/style.css"></head>',
        )
        .replace(
            "<h1>INVOICE</h1>",
            f'<h1>INVOICE</h1><img src="{http_server}/pixel.png"><img src="file:///etc/hostname">',
        )
    )
    with runtime.service_context(tenant_id) as ctx:
        documents.set_template(ctx, source)
    invoice_id = make_invoice(api, runtime)

    text = pdf_text(pdf_of(runtime, tenant_id, invoice_id).content)
    assert "INV00000001" in text
    assert _Recorder.requests == []


def test_a_prerendered_pdf_is_used_only_while_the_invoice_shows_the_same(
    api: Api, runtime: Runtime
) -> None:
    """What invoice emails do: render before locking the invoices, store after."""
    tenant_id = api.tenant.tenant_id
    same_id = make_invoice(api, runtime)
    changed_id = make_invoice(api, runtime)
    with runtime.service_context(tenant_id) as ctx:
        ready = documents.prerender_pdfs(ctx, [same_id, changed_id, 987654])
    assert set(ready) == {same_id, changed_id}
    assert stored_counts(runtime, tenant_id) == (0, 0)  # nothing stored yet

    pay(runtime, tenant_id, changed_id, 1000)
    with runtime.service_context(tenant_id) as ctx:
        same = documents.invoice_pdf(ctx, same_id, prerendered=ready)
        changed = documents.invoice_pdf(ctx, changed_id, prerendered=ready)
    assert same.content is ready[same_id].content
    assert changed.content is not ready[changed_id].content
    assert "$36.45" in pdf_text(changed.content)
    assert (same.version_number, changed.version_number) == (1, 1)

    # Stored now: nothing left to render ahead.
    with runtime.service_context(tenant_id) as ctx:
        assert documents.prerender_pdfs(ctx, [same_id, changed_id]) == {}
