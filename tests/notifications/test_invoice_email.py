"""Composing the invoice email: pure, so tested without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billcycle.notifications.invoice_email import (
    InvoiceDocument,
    InvoiceLine,
    Recipient,
    compose_invoice_email,
)

SENT_AT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def document(**overrides: object) -> InvoiceDocument:
    values: dict[str, object] = {
        "tenant_name": "Acme Cloud",
        "account_number": "A00000001",
        "account_name": "Bob & <Co>",
        "invoice_number": "INV00000007",
        "invoice_date": date(2026, 2, 1),
        "due_date": date(2026, 3, 3),
        "currency": "USD",
        "amount_minor": 4000,
        "tax_amount_minor": 0,
        "balance_minor": 4000,
        "lines": (
            InvoiceLine("<b>Seats</b>", date(2026, 1, 1), date(2026, 2, 1), Decimal("2.500"), 5000),
            InvoiceLine("Setup", date(2026, 1, 15), date(2026, 1, 16), Decimal("1"), 0),
            InvoiceLine("Seats", date(2026, 1, 20), date(2026, 2, 1), Decimal("1"), -1000, True),
        ),
    }
    values.update(overrides)
    return InvoiceDocument(**values)  # type: ignore[arg-type]


def bodies(**overrides: object) -> tuple[str, str]:
    message = compose_invoice_email(
        document(**overrides), Recipient("jane@example.com", "Jane Doe"), sent_at=SENT_AT
    )
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def test_html_is_escaped_and_text_is_not() -> None:
    text, html = bodies()
    assert "&lt;b&gt;Seats&lt;/b&gt;" in html
    assert "<b>Seats" not in html
    assert "Bob &amp; &lt;Co&gt;" in html
    assert "<b>Seats</b>" in text
    assert "Bob & <Co>" in text


def test_periods_end_on_their_last_day_and_one_day_items_show_one_date() -> None:
    text, _ = bodies()
    assert "Service period: Jan 1, 2026 \N{EN DASH} Jan 31, 2026" in text
    assert "Service period: Jan 15, 2026\n" in text
    assert "Seats (credit)" in text
    assert "-$10.00" in text
    assert "Quantity: 2.5\n" in text


def test_amounts_follow_the_currency_and_locale() -> None:
    text, _ = bodies(currency="JPY", amount_minor=4000, balance_minor=4000)
    assert "Total: ¥4,000" in text
    message = compose_invoice_email(
        document(currency="EUR", tax_amount_minor=123),
        Recipient("jane@example.com"),
        sent_at=SENT_AT,
        locale="de_DE",
    )
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    content = str(plain.get_content())
    assert "Total: 40,00\xa0€" in content
    assert "Tax: 1,23\xa0€" in content
    assert "Rechnungsdatum" not in content  # only values are localised, not the labels
    assert "01.02.2026" in content


def test_headers_cannot_be_injected_through_names() -> None:
    message = compose_invoice_email(
        document(tenant_name="Acme\r\nBcc: victim@example.com"),
        Recipient("jane@example.com", "Jane\nBcc: x@example.com"),
        sent_at=SENT_AT,
    )
    assert message["Bcc"] is None
    assert message["Subject"] == "Invoice INV00000007 from Acme Bcc: victim@example.com"
    assert message["To"].addresses[0].addr_spec == "jane@example.com"


@pytest.mark.parametrize("address", ["not an address", "a@b@c.example", ""])
def test_unusable_addresses_are_value_errors(address: str) -> None:
    with pytest.raises(ValueError, match="Invalid email address"):
        compose_invoice_email(document(), Recipient(address), sent_at=SENT_AT)


def test_naive_times_and_unknown_locales_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        compose_invoice_email(document(), Recipient("a@example.com"), sent_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="locale"):
        compose_invoice_email(
            document(), Recipient("a@example.com"), sent_at=SENT_AT, locale="xx_nowhere"
        )
