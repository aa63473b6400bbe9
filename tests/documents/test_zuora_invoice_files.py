"""Zuora's invoice files through zuora-sdk, unchanged, against a live server:
``InvoicesApi.get_invoice_files`` lists an invoice's PDF versions and
``FilesApi.get_files`` downloads one by the handle in its ``pdfFileUrl``."""

from __future__ import annotations

import pytest
from zuora_sdk.exceptions import ApiException

from billcycle.documents import service as documents
from billcycle.ids import to_zuora_id
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.documents.helpers import make_invoice, pay, pdf_text
from tests.support.api import Api
from tests.support.zuora_sdk import make_sdk_client


def versions_of(runtime: Runtime, tenant_id: int, invoice_id: int) -> list[documents.VersionInfo]:
    with runtime.service_context(tenant_id) as ctx:
        return documents.invoice_versions(ctx, invoice_id)


def test_invoice_files_list_versions_and_download(
    api: Api, runtime: Runtime, live_url: str, tenant: NewTenant
) -> None:
    invoice_id = make_invoice(api, runtime)
    client = make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)
    invoices, files = client.invoices_api(), client.files_api()

    listed = invoices.get_invoice_files("INV00000001")
    assert listed.success is True
    [first] = listed.invoice_files
    assert first.version_number == 1
    assert first.pdf_file_url is not None
    handle = first.pdf_file_url.removeprefix("/v1/files/")
    assert len(handle) == 32
    # The invoice file's id names the file object; the handle in pdfFileUrl the bytes.
    [version] = versions_of(runtime, tenant.tenant_id, invoice_id)
    assert (first.id, handle) == (to_zuora_id(version.id), to_zuora_id(version.file_id))

    content = bytes(files.get_files(handle))
    text = pdf_text(content)
    assert "INV00000001" in text
    assert "$46.45" in text

    # Unchanged: the same version again, by id as well as by number.
    again = invoices.get_invoice_files(to_zuora_id(invoice_id))
    assert [(f.id, f.version_number) for f in again.invoice_files] == [(first.id, 1)]

    # A payment: a new version first, the old one still downloadable.
    pay(runtime, tenant.tenant_id, invoice_id, 1000)
    newer = invoices.get_invoice_files("INV00000001")
    assert [f.version_number for f in newer.invoice_files] == [2, 1]
    latest = newer.invoice_files[0]
    assert latest.pdf_file_url is not None
    assert "$36.45" in pdf_text(bytes(files.get_files(latest.pdf_file_url.split("/")[-1])))
    assert bytes(files.get_files(handle)) == content

    paged = invoices.get_invoice_files("INV00000001", page_size=1, page=2)
    assert [f.version_number for f in paged.invoice_files] == [1]
    assert invoices.get_invoice_files("INV00000001", page_size=1).next_page is not None


def test_files_http_shape(api: Api, runtime: Runtime) -> None:
    make_invoice(api, runtime)
    listed = api.client.get(
        "/zuora/v1/invoices/INV00000001/files", headers=api.zuora_headers
    ).json()
    url = listed["invoiceFiles"][0]["pdfFileUrl"]
    response = api.client.get(f"/zuora{url}", headers=api.zuora_headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'inline; filename="INV00000001.pdf"'
    assert response.content.startswith(b"%PDF-")


def test_another_tenants_invoice_and_file_are_not_found(
    api: Api, runtime: Runtime, live_url: str, other_tenant: NewTenant
) -> None:
    invoice_id = make_invoice(api, runtime)
    mine = api.client.get(
        f"/zuora/v1/invoices/{to_zuora_id(invoice_id)}/files", headers=api.zuora_headers
    ).json()
    handle = mine["invoiceFiles"][0]["pdfFileUrl"].split("/")[-1]

    client = make_sdk_client(
        f"{live_url}/zuora", other_tenant.client_id, other_tenant.client_secret
    )
    for call in (
        lambda: client.invoices_api().get_invoice_files(to_zuora_id(invoice_id)),
        lambda: client.invoices_api().get_invoice_files("INV00000001"),
        lambda: client.files_api().get_files(handle),
        lambda: client.files_api().get_files("not-a-file-id"),
    ):
        with pytest.raises(ApiException) as refused:
            call()
        assert refused.value.status == 404
        assert refused.value.body is not None
        assert '"success":false' in refused.value.body.replace(" ", "")


def test_a_deleted_accounts_draft_takes_its_files_along(api: Api, runtime: Runtime) -> None:
    make_invoice(api, runtime, post=False)
    listed = api.client.get(
        "/zuora/v1/invoices/INV00000001/files", headers=api.zuora_headers
    ).json()
    url = "/zuora" + listed["invoiceFiles"][0]["pdfFileUrl"]
    assert api.client.get(url, headers=api.zuora_headers).status_code == 200

    deleted = api.client.delete("/zuora/v1/accounts/A00000001", headers=api.zuora_headers)
    assert deleted.status_code == 200, deleted.text
    assert api.client.get(url, headers=api.zuora_headers).status_code == 404
