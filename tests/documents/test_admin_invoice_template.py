"""``/billcycle/v1/tenants/{id}/invoice-template``: an operator reads and changes a
tenant's template settings and uploads its own template, checked in a sandbox first."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.documents.helpers import make_invoice, pdf_text
from tests.support.api import Api

SETTINGS_FIELDS = [
    "invoice_logo_url",
    "invoice_seller_address",
    "invoice_footer",
    "invoice_payment_instructions",
    "payment_terms_days",
    "invoice_locale",
    "custom_template",
    "invoice_template",
]

OWN_TEMPLATE = """<html><body>
<h1>Bill {{ invoice.number }} for {{ bill_to.name }}</h1>
{% for item in items %}<p>{{ item.description }}: {{ item.amount }}</p>{% endfor %}
<p>Owed: {{ totals.balance_due }}</p>
</body></html>"""


def url(tenant: NewTenant, tail: str = "") -> str:
    return f"/billcycle/v1/tenants/{tenant.tenant_id}/invoice-template{tail}"


def test_settings_start_empty_and_change_field_by_field(
    admin: TestClient, tenant: NewTenant
) -> None:
    initial = admin.get(url(tenant))
    assert initial.status_code == 200
    assert list(initial.json()) == SETTINGS_FIELDS
    assert set(initial.json().values()) == {None, False}

    changed = admin.put(
        url(tenant),
        json={
            "invoice_seller_address": "Acme Billing Ltd\n1 Market Street",
            "invoice_footer": "Registered in Springfield",
            "payment_terms_days": 15,
            "invoice_logo_url": "data:image/png;base64,iVBORw0KGgo=",
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["payment_terms_days"] == 15
    assert body["invoice_footer"] == "Registered in Springfield"

    # Only what is sent changes; null clears.
    again = admin.put(url(tenant), json={"invoice_footer": None}).json()
    assert again["invoice_footer"] is None
    assert again["payment_terms_days"] == 15
    assert again["invoice_seller_address"] == "Acme Billing Ltd\n1 Market Street"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"invoice_logo_url": "http://example.com/logo.png"}, "data: URI or an absolute path"),
        ({"payment_terms_days": 400}, "from 0 to 365"),
        ({"invoice_locale": "zz_ZZZ"}, "not a known locale"),
        ({"payment_terms_days": "30"}, ""),  # a string is not a number here
        ({"unknown_field": 1}, ""),
    ],
)
def test_bad_settings_answer_422_and_change_nothing(
    admin: TestClient, tenant: NewTenant, body: dict[str, Any], detail: str
) -> None:
    admin.put(url(tenant), json={"invoice_footer": "Kept"})
    refused = admin.put(url(tenant), json={"invoice_seller_address": "Not kept", **body})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert detail in refused.text
    after = admin.get(url(tenant)).json()
    assert after["invoice_footer"] == "Kept"
    assert after["invoice_seller_address"] is None


def test_own_template_is_used_and_can_be_removed(
    admin: TestClient, api: Api, runtime: Runtime, tenant: NewTenant
) -> None:
    invoice_id = make_invoice(api, runtime)
    default = admin.get(url(tenant, "/source")).json()["template"]
    assert "Balance due" in default

    uploaded = admin.put(url(tenant, "/source"), json={"template": OWN_TEMPLATE})
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["custom_template"] is True
    assert admin.get(url(tenant, "/source")).json()["template"] == OWN_TEMPLATE

    html = admin.get(f"/billcycle/v1/tenants/{tenant.tenant_id}/invoices/{invoice_id}/html")
    assert html.status_code == 200
    assert "<h1>Bill INV00000001 for Acme Corp</h1>" in html.text
    assert "Owed: $46.45" in html.text
    pdf = admin.get(f"/billcycle/v1/tenants/{tenant.tenant_id}/invoices/{invoice_id}/pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert "Bill INV00000001 for Acme Corp" in pdf_text(pdf.content)

    reset = admin.delete(url(tenant, "/source"))
    assert reset.json()["custom_template"] is False
    html = admin.get(f"/billcycle/v1/tenants/{tenant.tenant_id}/invoices/{invoice_id}/html")
    assert "Balance due" in html.text


@pytest.mark.parametrize(
    ("template", "detail"),
    [
        ("<p>{% for x in items %}</p>", "does not compile"),
        ("<p>{{ invoice.numbr }}</p>", "cannot be rendered"),
        ("<p>{{ no_such_variable }}</p>", "'no_such_variable' is undefined"),
        ("<p>{{ ''.__class__.__mro__[1].__subclasses__() }}</p>", "unsafe"),
        ("<p>{{ items.__class__ }}</p>", "cannot be rendered"),
        ("   ", "is empty"),
    ],
)
def test_bad_template_answers_422_and_changes_nothing(
    admin: TestClient, tenant: NewTenant, template: str, detail: str
) -> None:
    assert admin.put(url(tenant, "/source"), json={"template": OWN_TEMPLATE}).status_code == 200
    refused = admin.put(url(tenant, "/source"), json={"template": template})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "urn:billcycle:problem:invalid-value"
    assert detail in problem["detail"], problem["detail"]
    assert admin.get(url(tenant, "/source")).json()["template"] == OWN_TEMPLATE


def test_unknown_tenant_and_other_tenants_invoice(
    admin: TestClient, api: Api, runtime: Runtime, other_tenant: NewTenant
) -> None:
    invoice_id = make_invoice(api, runtime)
    assert admin.get("/billcycle/v1/tenants/987654/invoice-template").status_code == 404
    for kind in ("html", "pdf"):
        response = admin.get(
            f"/billcycle/v1/tenants/{other_tenant.tenant_id}/invoices/{invoice_id}/{kind}"
        )
        assert response.status_code == 404
