"""Fusebill's invoice PDFs: ``GET /v1/Invoices/pdf/{id}`` for a posted invoice and
``GET /v1/draftInvoices/pdf/{id}`` for a draft, in Fusebill's envelope when refused."""

from __future__ import annotations

from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.documents.helpers import make_invoice, pdf_text
from tests.fusebill.helpers import assert_error, fget
from tests.support.api import Api, api_for


def test_posted_invoice_as_pdf(api: Api, runtime: Runtime) -> None:
    invoice_id = make_invoice(api, runtime)
    # Fusebill's own spelling of the path, with its (ignored) query parameter.
    response = fget(api, f"/v1/Invoices/pdf/{invoice_id}", showTrackedItems="false")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "INV00000001" in text
    assert "$46.45" in text
    # The same version as the other dialects and the emails use.
    assert fget(api, f"/v1/invoices/pdf/{invoice_id}").content == response.content


def test_drafts_have_their_own_resource(api: Api, runtime: Runtime) -> None:
    draft_id = make_invoice(api, runtime, post=False)
    posted_id = make_invoice(api, runtime)

    assert_error(fget(api, f"/v1/Invoices/pdf/{draft_id}"), 404, f"Invoice {draft_id} not found")
    response = fget(api, f"/v1/draftInvoices/pdf/{draft_id}")
    assert response.status_code == 200
    assert "DRAFT" in pdf_text(response.content)
    assert_error(fget(api, f"/v1/draftInvoices/pdf/{posted_id}"), 404, "not found")


def test_bad_and_foreign_ids(api: Api, runtime: Runtime, other_tenant: NewTenant) -> None:
    invoice_id = make_invoice(api, runtime)
    draft_id = make_invoice(api, runtime, post=False)
    other = api_for(api.client, other_tenant)

    assert_error(fget(other, f"/v1/Invoices/pdf/{invoice_id}"), 404, "not found")
    assert_error(fget(other, f"/v1/draftInvoices/pdf/{draft_id}"), 404, "not found")
    assert_error(fget(api, "/v1/Invoices/pdf/987654"), 404, "Invoice 987654 not found.")
    assert_error(fget(api, "/v1/Invoices/pdf/abc"), 400, "ids are integers")
