"""An invoice as HTML, through the documents service: what the default template shows,
formatted per currency and locale, with instants in the tenant's time zone."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from billcycle.clock import FrozenClock
from billcycle.db.session import unit_of_work
from billcycle.documents import service as documents
from billcycle.documents.inputs import TemplateSettingsChanges
from billcycle.errors import InvalidValue, NotFound
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from tests.documents.helpers import charge, make_invoice, pay
from tests.support.api import Api, api_for

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def html_of(runtime: Runtime, tenant_id: int, invoice_id: int) -> str:
    with runtime.service_context(tenant_id) as ctx:
        return documents.render_invoice_html(ctx, invoice_id)


def configure(runtime: Runtime, tenant_id: int, **changes: object) -> None:
    with runtime.service_context(tenant_id) as ctx:
        documents.update_template_settings(ctx, TemplateSettingsChanges(**changes))  # type: ignore[arg-type]


def test_default_template_shows_a_complete_invoice(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    invoice_id = make_invoice(
        api, runtime, charges=(charge("30"), charge("12.5", name="Support plan"))
    )
    pay(runtime, tenant_id, invoice_id, 2000)
    configure(
        runtime,
        tenant_id,
        invoice_seller_address="Acme Billing Ltd\n1 Market Street\nSpringfield",
        invoice_footer="Acme Billing Ltd, VAT GB123",
        payment_terms_days=30,
    )

    html = html_of(runtime, tenant_id, invoice_id)

    assert "<title>Invoice INV00000001</title>" in html
    # Seller and bill-to blocks.
    assert "test tenant" in html
    assert "1 Market Street" in html
    assert "Acme Corp" in html
    assert "Jane Doe" in html
    assert "2 Sample Road" in html
    assert "Shelbyville 12345" in html
    # Dates and terms.
    assert "Feb 1, 2026" in html  # invoice date
    assert "Net 30" in html
    # Items with their service periods (ends shown inclusive).
    assert "Monthly fee" in html
    assert "Support plan" in html
    assert "Jan 15, 2026 \N{EN DASH} Jan 31, 2026" in html
    assert "Feb 1, 2026 \N{EN DASH} Feb 28, 2026" in html
    # One line per period: 30 a month from the 15th is 16.45 prorated, then 30.00;
    # 12.50 a month is 6.85, then 12.50.
    for amount in ("$16.45", "$30.00", "$6.85", "$12.50"):
        assert f'<td class="num">{amount}</td>' in html
    assert "$65.80" in html  # subtotal and total (no tax)
    assert "$20.00" in html  # amount paid
    assert "$45.80" in html  # balance due
    assert "Please pay $45.80" in html
    assert "Acme Billing Ltd, VAT GB123" in html
    assert "DRAFT" not in html


def test_amounts_follow_the_currency_and_the_locale(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    invoice_id = make_invoice(api, runtime, currency="EUR", charges=(charge("1234.5", "EUR"),))

    html = html_of(runtime, tenant_id, invoice_id)
    assert "\N{EURO SIGN}1,234.50" in html  # en_US by default
    assert "$" not in html

    configure(runtime, tenant_id, invoice_locale="de_DE")
    html = html_of(runtime, tenant_id, invoice_id)
    assert "1.234,50\N{NO-BREAK SPACE}\N{EURO SIGN}" in html
    assert "01.02.2026" in html  # the invoice date, German medium format


def test_the_issue_instant_is_shown_in_the_tenant_time_zone(
    runtime: Runtime, clock: FrozenClock, app: object
) -> None:
    from fastapi.testclient import TestClient

    with unit_of_work(runtime.session_factory) as session:
        tokyo = create_tenant(session, runtime.clock, "tokyo tenant", time_zone="Asia/Tokyo")
    # Posted at 20:30 UTC on 31 January: 1 February, 05:30 in Tokyo.
    clock.set(datetime(2026, 1, 31, 20, 30, tzinfo=UTC))
    with TestClient(app) as client:  # type: ignore[arg-type]
        api = api_for(client, tokyo)
        invoice_id = make_invoice(api, runtime)
    html = html_of(runtime, tokyo.tenant_id, invoice_id)
    match = re.search(r"Issued</td><td>([^<]*)</td>", html)
    assert match is not None
    assert match.group(1).startswith("Feb 1, 2026, 5:30:00")
    assert "(Asia/Tokyo)" in html


def test_draft_is_marked(api: Api, runtime: Runtime) -> None:
    invoice_id = make_invoice(api, runtime, post=False)
    html = html_of(runtime, api.tenant.tenant_id, invoice_id)
    assert "DRAFT" in html
    assert "Issued" not in html


def test_names_are_escaped(api: Api, runtime: Runtime) -> None:
    invoice_id = make_invoice(api, runtime, charges=(charge("5", name="<b>Bold</b> & co"),))
    html = html_of(runtime, api.tenant.tenant_id, invoice_id)
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in html
    assert "<b>Bold</b>" not in html


def test_a_logo_file_is_inlined(api: Api, runtime: Runtime, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    configure(runtime, api.tenant.tenant_id, invoice_logo_url=str(logo))
    invoice_id = make_invoice(api, runtime)

    html = html_of(runtime, api.tenant.tenant_id, invoice_id)
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in html
    assert str(tmp_path) not in html


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"invoice_logo_url": "https://example.com/logo.png"}, "data: URI or an absolute path"),
        ({"invoice_logo_url": "/no/such/logo.png"}, "no readable file"),
        ({"invoice_logo_url": "/etc/passwd"}, "is not a PNG"),
        ({"invoice_logo_url": "data:text/html,<script>"}, "must hold a PNG"),
        ({"payment_terms_days": -1}, "from 0 to 365"),
        ({"invoice_locale": "xx_NOPE"}, "not a known locale"),
        ({"invoice_footer": "x" * 2001}, "at most 2000"),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(
    tenant: NewTenant, runtime: Runtime, changes: dict[str, object], message: str
) -> None:
    configure(runtime, tenant.tenant_id, invoice_footer="Kept")
    with pytest.raises(InvalidValue, match=message):
        configure(runtime, tenant.tenant_id, invoice_seller_address="Not kept", **changes)
    with runtime.service_context(tenant.tenant_id) as ctx:
        settings = documents.template_settings(ctx)
    assert settings.invoice_footer == "Kept"
    assert settings.invoice_seller_address is None


def test_another_tenants_invoice_is_not_found(
    api: Api, runtime: Runtime, other_tenant: NewTenant
) -> None:
    invoice_id = make_invoice(api, runtime)
    with runtime.service_context(other_tenant.tenant_id) as ctx, pytest.raises(NotFound):
        documents.render_invoice_html(ctx, invoice_id)
    with runtime.service_context(other_tenant.tenant_id) as ctx, pytest.raises(NotFound):
        documents.render_invoice_pdf(ctx, invoice_id)
