"""``billcycle tenant invoice-template``, run as a user runs it, on the test database."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from billcycle.cli.main import app
from billcycle.runtime import Runtime
from tests.documents.helpers import make_invoice, pdf_text
from tests.support.api import Api

runner = CliRunner()


def cli(runtime: Runtime, *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["tenant", "invoice-template", *args, "--database", runtime.settings.database_url]
    )
    return result.exit_code, result.output


def test_settings_template_and_render(api: Api, runtime: Runtime, tmp_path: Path) -> None:
    tenant = str(api.tenant.tenant_id)
    make_invoice(api, runtime)

    code, out = cli(
        runtime,
        "set",
        tenant,
        "--seller-address",
        "Acme Billing\\n1 Market Street",
        "--footer",
        "Thank you",
        "--payment-terms-days",
        "15",
    )
    assert code == 0, out
    shown = json.loads(cli(runtime, "show", tenant)[1])
    assert shown["invoice_seller_address"] == "Acme Billing\n1 Market Street"
    assert shown["payment_terms_days"] == 15

    code, out = cli(runtime, "set", tenant, "--payment-terms-days", "400", "--footer", "Lost")
    assert code == 2
    assert "from 0 to 365" in out
    assert json.loads(cli(runtime, "show", tenant)[1])["invoice_footer"] == "Thank you"

    bad = tmp_path / "bad.html.j2"
    bad.write_text("<p>{{ invoice.number }</p>")
    code, out = cli(runtime, "upload", tenant, str(bad))
    assert code == 2
    assert "does not compile" in out

    own = tmp_path / "own.html.j2"
    own.write_text("<h1>Bill {{ invoice.number }}: {{ totals.total }}</h1>")
    assert cli(runtime, "upload", tenant, str(own))[0] == 0
    assert json.loads(cli(runtime, "show", tenant)[1])["custom_template"] is True

    pdf = tmp_path / "invoice.pdf"
    code, out = cli(runtime, "render", tenant, "INV00000001", "--output", str(pdf))
    assert code == 0, out
    assert "Bill INV00000001: $46.45" in pdf_text(pdf.read_bytes())

    assert cli(runtime, "reset", tenant)[0] == 0
    html = tmp_path / "invoice.html"
    assert cli(runtime, "render", tenant, "INV00000001", "-o", str(html))[0] == 0
    assert "Balance due" in html.read_text()
    assert "Thank you" in html.read_text()
