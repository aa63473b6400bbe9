"""Invoice documents: a tenant's template and settings, an invoice as HTML, and its PDF,
rendered on demand and kept by version.

A PDF is rendered from the invoice's HTML, and each rendering is stored as a new
version of the invoice's file only when that HTML differs from the latest version's
(``invoice_files.digest``, the HTML's SHA-256): whatever changes what the invoice shows
(posting, a payment, a write-off, the tenant's template, logo or time zone) makes the
next request render a new version; anything else is answered from the stored bytes.
Rendering the HTML costs a few queries and milliseconds; the PDF is the expensive part
and happens once per version. Versions are kept (Zuora lists them, newest first).

Rendering happens before the version is stored, outside any lock; two requests racing
on one invoice both render, and the second one's insert of the same version number is
dropped (a savepoint) in favour of the first one's.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from billcycle.context import ServiceContext
from billcycle.documents import repository as repo
from billcycle.documents import view
from billcycle.documents.inputs import TemplateSettingsChanges
from billcycle.documents.models import InvoiceFile, TenantInvoiceSettings
from billcycle.documents.rendering import compile_template, html_to_pdf, render_html
from billcycle.errors import InvalidValue, NotFound
from billcycle.ledger import service as ledger
from billcycle.unset import UNSET

__all__ = [
    "InvoicePdf",
    "RenderedPdf",
    "StoredDocument",
    "TemplateSettings",
    "VersionInfo",
    "get_file",
    "invoice_pdf",
    "invoice_versions",
    "prerender_pdfs",
    "render_invoice_html",
    "render_invoice_pdf",
    "render_uncached_pdf",
    "reset_template",
    "set_template",
    "template_settings",
    "update_template_settings",
]

RESOURCE = "invoice_template"
MAX_TEXT = 2_000
MAX_LOGO_BYTES = 1_000_000
MAX_TERMS_DAYS = 365
_LOGO_TYPES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml", "image/webp")
# Attempts to store a new version when concurrent renders keep taking the number.
_STORE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class TemplateSettings:
    """A tenant's invoice template settings (None: the default)."""

    invoice_logo_url: str | None = None
    invoice_seller_address: str | None = None
    invoice_footer: str | None = None
    invoice_payment_instructions: str | None = None
    payment_terms_days: int | None = None
    invoice_locale: str | None = None
    invoice_template: str | None = None

    @property
    def custom_template(self) -> bool:
        return self.invoice_template is not None


@dataclass(frozen=True, slots=True)
class InvoicePdf:
    invoice_id: int
    invoice_number: str
    content: bytes
    version_number: int | None  # None: rendered but not stored (a lost race)
    file_id: int | None

    @property
    def file_name(self) -> str:
        return f"{self.invoice_number}.pdf"


@dataclass(frozen=True, slots=True)
class RenderedPdf:
    """A PDF rendered ahead of time and not stored yet, with the digest of its HTML."""

    digest: str
    content: bytes


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One stored version of an invoice's PDF (Zuora's invoice file)."""

    id: int
    version_number: int
    file_id: int


@dataclass(frozen=True, slots=True)
class StoredDocument:
    id: int
    name: str
    content_type: str
    content: bytes


# -- settings --------------------------------------------------------------------------


def _snapshot(row: TenantInvoiceSettings | None) -> TemplateSettings:
    if row is None:
        return TemplateSettings()
    return TemplateSettings(
        invoice_logo_url=row.invoice_logo_url,
        invoice_seller_address=row.invoice_seller_address,
        invoice_footer=row.invoice_footer,
        invoice_payment_instructions=row.invoice_payment_instructions,
        payment_terms_days=row.payment_terms_days,
        invoice_locale=row.invoice_locale,
        invoice_template=row.invoice_template,
    )


def template_settings(ctx: ServiceContext) -> TemplateSettings:
    return _snapshot(repo.get_settings(ctx.session, ctx.tenant_id))


def _text(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise InvalidValue(
            f"{field} has {len(value)} characters; at most {MAX_TEXT} are allowed.",
            resource=RESOURCE,
            field=field,
        )
    return value or None


def _terms(days: int | None) -> int | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_TERMS_DAYS:
        raise InvalidValue(
            f"payment_terms_days must be a whole number from 0 to {MAX_TERMS_DAYS}.",
            resource=RESOURCE,
            field="payment_terms_days",
        )
    return days


def _logo(value: str | None) -> str | None:
    """A ``data:image/...`` URI, or an absolute path (or ``file://`` URL) of an image
    file on the server; never an address on another host."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    field = "invoice_logo_url"
    if value.lower().startswith("data:"):
        header, _, payload = value.partition(",")
        media = header[5:].split(";")[0].lower()
        if media not in _LOGO_TYPES or not payload or len(value) > 2 * MAX_LOGO_BYTES:
            raise InvalidValue(
                f"{field}: a data: URI must hold a PNG, JPEG, GIF, SVG or WebP image of at "
                f"most {MAX_LOGO_BYTES} bytes.",
                resource=RESOURCE,
                field=field,
            )
        return value
    path_text = value[7:] if value.lower().startswith("file://") else value
    if "://" in path_text or not Path(path_text).is_absolute():
        raise InvalidValue(
            f"{field} must be a data: URI or an absolute path of an image file on the "
            "server (invoices fetch nothing from other hosts).",
            resource=RESOURCE,
            field=field,
        )
    path = Path(path_text)
    if _logo_media(path) is None:
        raise InvalidValue(
            f"{field}: {path.name} is not a PNG, JPEG, GIF, SVG or WebP file.",
            resource=RESOURCE,
            field=field,
        )
    try:
        size = path.stat().st_size
    except OSError:
        raise InvalidValue(
            f"{field}: no readable file at {path}.", resource=RESOURCE, field=field
        ) from None
    if not path.is_file() or size > MAX_LOGO_BYTES:
        raise InvalidValue(
            f"{field}: {path} must be a file of at most {MAX_LOGO_BYTES} bytes.",
            resource=RESOURCE,
            field=field,
        )
    return str(path)


def _logo_media(path: Path) -> str | None:
    media = mimetypes.guess_type(path.name)[0]
    return media if media in _LOGO_TYPES else None


def _settings_row(ctx: ServiceContext) -> TenantInvoiceSettings:
    row = repo.lock_settings(ctx.session, ctx.tenant_id)
    if row is None:
        repo.ensure_settings(ctx.session, ctx.tenant_id, ctx.clock.now())
        row = repo.lock_settings(ctx.session, ctx.tenant_id)
        assert row is not None
    return row


def update_template_settings(
    ctx: ServiceContext, changes: TemplateSettingsChanges
) -> TemplateSettings:
    """Change the fields given; every value is checked before anything changes."""
    values: dict[str, object] = {}
    if changes.invoice_logo_url is not UNSET:
        values["invoice_logo_url"] = _logo(changes.invoice_logo_url)
    for field in ("invoice_seller_address", "invoice_footer", "invoice_payment_instructions"):
        value = getattr(changes, field)
        if value is not UNSET:
            values[field] = _text(value, field)
    if changes.payment_terms_days is not UNSET:
        values["payment_terms_days"] = _terms(changes.payment_terms_days)
    if changes.invoice_locale is not UNSET:
        locale = changes.invoice_locale
        if locale is not None and locale.strip():
            view.locale_named(locale.strip())
            values["invoice_locale"] = locale.strip()
        else:
            values["invoice_locale"] = None
    row = _settings_row(ctx)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = ctx.clock.now()
    ctx.session.flush()
    return _snapshot(row)


def check_template(source: str) -> None:
    """Raise InvalidValue unless ``source`` compiles and renders the sample invoice in
    the sandbox."""
    if not source.strip():
        raise InvalidValue(
            "invoice_template is empty.", resource=RESOURCE, field="invoice_template"
        )
    template = compile_template(source)
    render_html(template, view.context(view.sample_facts(), view.locale_named(None)))


def set_template(ctx: ServiceContext, source: str) -> TemplateSettings:
    """The tenant's own template, checked first (nothing changes when it fails)."""
    check_template(source)
    row = _settings_row(ctx)
    row.invoice_template = source
    row.updated_at = ctx.clock.now()
    ctx.session.flush()
    return _snapshot(row)


def reset_template(ctx: ServiceContext) -> TemplateSettings:
    """Back to the packaged default template (the other settings stay)."""
    row = _settings_row(ctx)
    row.invoice_template = None
    row.updated_at = ctx.clock.now()
    ctx.session.flush()
    return _snapshot(row)


# -- rendering -------------------------------------------------------------------------


def _not_found(invoice_id: int) -> NotFound:
    return NotFound("Invoice {invoice} not found.", resource="invoice", ids={"invoice": invoice_id})


def _logo_src(value: str | None) -> str | None:
    """The logo as a data: URI (a file read now, so the document is self-contained and
    its digest follows the file); a missing or unreadable file shows no logo."""
    if value is None or value.lower().startswith("data:"):
        return value
    path = Path(value[7:] if value.lower().startswith("file://") else value)
    media = _logo_media(path)
    try:
        if media is None or path.stat().st_size > MAX_LOGO_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"


def _address(row: repo.BillToRow) -> list[str]:
    city = " ".join(p for p in (row.city, row.state, row.postal_code) if p)
    return [p for p in (row.address1, row.address2, city, row.country) if p]


def _facts(ctx: ServiceContext, invoice_id: int, settings: TemplateSettings) -> view.DocumentFacts:
    session, tenant_id = ctx.session, ctx.tenant_id
    invoice = repo.invoice_row(session, tenant_id, invoice_id)
    if invoice is None:
        raise _not_found(invoice_id)
    bill_to = repo.bill_to(session, tenant_id, invoice.account_id)
    if bill_to is None:
        raise _not_found(invoice_id)
    balance = ledger.invoice_balances(session, tenant_id, [invoice_id]).get(
        invoice_id, invoice.amount_minor
    )
    totals = ledger.applied_totals_by_type(session, tenant_id, [invoice_id])[invoice_id]
    credited = totals.write_off_minor + totals.credit_memo_minor
    contact = " ".join(p for p in (bill_to.first_name, bill_to.last_name) if p) or None
    return view.DocumentFacts(
        seller_name=repo.tenant_name(session, tenant_id),
        seller_address=settings.invoice_seller_address,
        logo_src=_logo_src(settings.invoice_logo_url),
        account_number=bill_to.account_number,
        account_name=bill_to.account_name,
        contact_name=contact,
        contact_email=bill_to.work_email or bill_to.personal_email,
        contact_address=_address(bill_to),
        account_payment_term=bill_to.payment_term,
        invoice_number=invoice.invoice_number,
        status=invoice.status,
        invoice_date=invoice.invoice_date,
        due_date=invoice.due_date,
        posted_at=invoice.posted_at,
        currency=invoice.currency,
        amount_minor=invoice.amount_minor,
        tax_amount_minor=invoice.tax_amount_minor,
        balance_minor=balance,
        paid_minor=totals.total_minor - credited,
        credited_minor=credited,
        comments=invoice.comments,
        lines=tuple(
            view.Line(
                charge_name=item.charge_name,
                service_start=item.service_start,
                service_end=item.service_end,
                quantity=item.quantity,
                unit_price=item.unit_price,
                amount_minor=item.amount_minor,
                is_credit=item.is_credit,
            )
            for item in repo.items(session, tenant_id, invoice_id)
        ),
        payment_terms_days=settings.payment_terms_days,
        payment_instructions=settings.invoice_payment_instructions,
        footer=settings.invoice_footer,
        time_zone=ctx.clock.zone,
    )


def _html(ctx: ServiceContext, invoice_id: int) -> tuple[str, str]:
    """The invoice's HTML and its invoice number."""
    settings = template_settings(ctx)
    facts = _facts(ctx, invoice_id, settings)
    template = compile_template(settings.invoice_template)
    html = render_html(template, view.context(facts, view.locale_named(settings.invoice_locale)))
    return html, facts.invoice_number


def render_invoice_html(ctx: ServiceContext, invoice_id: int) -> str:
    """The invoice as the tenant's template shows it (a complete HTML page; images are
    inlined, nothing refers to another host). NotFound for another tenant's invoice."""
    return _html(ctx, invoice_id)[0]


def render_uncached_pdf(ctx: ServiceContext, invoice_id: int) -> bytes:
    """Render the PDF now, storing nothing (benchmarks, previews)."""
    return html_to_pdf(_html(ctx, invoice_id)[0])


def _digest(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def prerender_pdfs(ctx: ServiceContext, invoice_ids: Sequence[int]) -> dict[int, RenderedPdf]:
    """Render, without storing anything, the PDFs of these invoices that have no stored
    version of what they show now (unknown ids are left out). Reads only: a caller about
    to lock the invoices (on SQLite, the whole database) renders first, then passes the
    result to :func:`invoice_pdf`, which uses a PDF only if its invoice still shows the
    same."""
    rendered: dict[int, RenderedPdf] = {}
    for invoice_id in invoice_ids:
        try:
            html, _ = _html(ctx, invoice_id)
        except NotFound:
            continue
        digest = _digest(html)
        latest = repo.latest_version(ctx.session, ctx.tenant_id, invoice_id)
        if latest is None or latest.digest != digest:
            rendered[invoice_id] = RenderedPdf(digest, html_to_pdf(html))
    return rendered


def invoice_pdf(
    ctx: ServiceContext,
    invoice_id: int,
    *,
    prerendered: Mapping[int, RenderedPdf] | None = None,
) -> InvoicePdf:
    """The invoice's current PDF: the stored version when the invoice still shows the
    same, else rendered now (or taken from ``prerendered`` when it shows the same as
    then) and stored as the next version. Flushes, never commits."""
    session, tenant_id = ctx.session, ctx.tenant_id
    html, number = _html(ctx, invoice_id)
    digest = _digest(html)
    latest = repo.latest_version(session, tenant_id, invoice_id)
    if latest is not None and latest.digest == digest:
        return _stored(ctx, latest, invoice_id, number)
    ready = prerendered.get(invoice_id) if prerendered is not None else None
    content = ready.content if ready is not None and ready.digest == digest else html_to_pdf(html)
    for _ in range(_STORE_ATTEMPTS):
        version = repo.add_version(
            session,
            tenant_id,
            invoice_id,
            version_number=(latest.version_number + 1) if latest is not None else 1,
            digest=digest,
            name=f"{number}.pdf",
            content=content,
            now=ctx.clock.now(),
        )
        if version is not None:
            return InvoicePdf(invoice_id, number, content, version.version_number, version.file_id)
        latest = repo.latest_version(session, tenant_id, invoice_id)
        if latest is not None and latest.digest == digest:
            return _stored(ctx, latest, invoice_id, number)
    return InvoicePdf(invoice_id, number, content, None, None)


def _stored(ctx: ServiceContext, version: InvoiceFile, invoice_id: int, number: str) -> InvoicePdf:
    stored = repo.file_content(ctx.session, ctx.tenant_id, version.file_id)
    assert stored is not None  # the foreign key holds it
    return InvoicePdf(invoice_id, number, stored.content, version.version_number, version.file_id)


def render_invoice_pdf(ctx: ServiceContext, invoice_id: int) -> bytes:
    """The invoice's current PDF bytes (cached by version, see :func:`invoice_pdf`)."""
    return invoice_pdf(ctx, invoice_id).content


def invoice_versions(
    ctx: ServiceContext, invoice_id: int, *, offset: int = 0, limit: int = 20
) -> list[VersionInfo]:
    """The invoice's stored PDF versions, newest first, the current one rendered first
    when the invoice changed since the latest."""
    invoice_pdf(ctx, invoice_id)
    rows: Sequence[InvoiceFile] = repo.versions(
        ctx.session, ctx.tenant_id, invoice_id, offset=offset, limit=limit
    )
    return [VersionInfo(row.id, row.version_number, row.file_id) for row in rows]


def get_file(ctx: ServiceContext, file_id: int) -> StoredDocument:
    """A stored file of the tenant; another tenant's is not found."""
    stored = repo.file_content(ctx.session, ctx.tenant_id, file_id)
    if stored is None:
        raise NotFound("File {file} not found.", resource="file", ids={"file": file_id})
    return StoredDocument(stored.id, stored.name, stored.content_type, stored.content)
