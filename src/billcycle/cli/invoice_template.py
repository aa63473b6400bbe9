"""``billcycle tenant invoice-template``: a tenant's invoice template settings, its own
template, and an invoice rendered to HTML or PDF (billcycle.documents)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from billcycle.cli.common import console, runtime_for, tenant_id_of
from billcycle.cli.db import DatabaseOpt
from billcycle.documents import service as documents
from billcycle.documents.inputs import TemplateSettingsChanges
from billcycle.documents.rendering import default_template_source
from billcycle.errors import DomainError
from billcycle.ids import is_ascii_digits
from billcycle.invoicing import service as invoices
from billcycle.runtime import Runtime
from billcycle.unset import UNSET

app = typer.Typer(
    help="A tenant's invoice template: settings, its own template, rendered invoices.",
    no_args_is_help=True,
)

TenantArg = Annotated[str, typer.Argument(help="Tenant id or name")]
Clear = "-"  # an option given as "-" clears the field


def _settings_dict(settings: documents.TemplateSettings) -> dict[str, Any]:
    return {
        "invoice_logo_url": settings.invoice_logo_url,
        "invoice_seller_address": settings.invoice_seller_address,
        "invoice_footer": settings.invoice_footer,
        "invoice_payment_instructions": settings.invoice_payment_instructions,
        "payment_terms_days": settings.payment_terms_days,
        "invoice_locale": settings.invoice_locale,
        "custom_template": settings.custom_template,
    }


def _fail(exc: DomainError) -> typer.Exit:
    typer.echo(f"Error: {exc.message}", err=True)
    return typer.Exit(2)


def _tenant(database: str | None, tenant: str) -> tuple[Runtime, int]:
    runtime = runtime_for(database)
    return runtime, tenant_id_of(runtime, tenant)


@app.command()
def show(tenant: TenantArg, database: DatabaseOpt = None) -> None:
    """Print the tenant's settings as JSON (null: the default)."""
    runtime, tenant_id = _tenant(database, tenant)
    with runtime.service_context(tenant_id) as ctx:
        settings = documents.template_settings(ctx)
    runtime.dispose()
    typer.echo(json.dumps(_settings_dict(settings), indent=2))


def _text_option(value: str | None) -> Any:
    if value is None:
        return UNSET
    return None if value == Clear else value


@app.command("set")
def set_settings(
    tenant: TenantArg,
    logo_url: Annotated[
        str | None,
        typer.Option("--logo-url", help="data: URI or absolute image path ('-' clears)"),
    ] = None,
    seller_address: Annotated[
        str | None, typer.Option("--seller-address", help="Seller block, \\n between lines")
    ] = None,
    footer: Annotated[str | None, typer.Option("--footer", help="Footer text")] = None,
    payment_instructions: Annotated[
        str | None, typer.Option("--payment-instructions", help="How to pay")
    ] = None,
    payment_terms_days: Annotated[
        str | None,
        typer.Option("--payment-terms-days", help="Net N printed on invoices ('-' clears)"),
    ] = None,
    locale: Annotated[str | None, typer.Option("--locale", help="e.g. en_US, de_DE")] = None,
    database: DatabaseOpt = None,
) -> None:
    """Change the settings given; '-' clears one. Nothing changes if any value is bad."""
    terms: Any = UNSET
    if payment_terms_days is not None:
        if payment_terms_days == Clear:
            terms = None
        elif is_ascii_digits(payment_terms_days):
            terms = int(payment_terms_days)
        else:
            typer.echo("Error: --payment-terms-days must be a whole number or '-'.", err=True)
            raise typer.Exit(2)
    changes = TemplateSettingsChanges(
        invoice_logo_url=_text_option(logo_url),
        invoice_seller_address=_text_option(
            seller_address.replace("\\n", "\n") if seller_address else seller_address
        ),
        invoice_footer=_text_option(footer),
        invoice_payment_instructions=_text_option(payment_instructions),
        payment_terms_days=terms,
        invoice_locale=_text_option(locale),
    )
    runtime, tenant_id = _tenant(database, tenant)
    try:
        with runtime.service_context(tenant_id) as ctx:
            settings = documents.update_template_settings(ctx, changes)
    except DomainError as exc:
        raise _fail(exc) from None
    finally:
        runtime.dispose()
    typer.echo(json.dumps(_settings_dict(settings), indent=2))


@app.command()
def upload(
    tenant: TenantArg,
    template: Annotated[Path, typer.Argument(help="A Jinja2 HTML template file", exists=True)],
    database: DatabaseOpt = None,
) -> None:
    """Use the tenant's own template, checked by rendering a sample invoice first."""
    source = template.read_text("utf-8")
    runtime, tenant_id = _tenant(database, tenant)
    try:
        with runtime.service_context(tenant_id) as ctx:
            documents.set_template(ctx, source)
    except DomainError as exc:
        raise _fail(exc) from None
    finally:
        runtime.dispose()
    console.print(f"Template {template.name} is now tenant {tenant}'s invoice template.")


@app.command()
def reset(tenant: TenantArg, database: DatabaseOpt = None) -> None:
    """Go back to the packaged default template (the settings stay)."""
    runtime, tenant_id = _tenant(database, tenant)
    with runtime.service_context(tenant_id) as ctx:
        documents.reset_template(ctx)
    runtime.dispose()
    console.print(f"Tenant {tenant} uses the default invoice template.")


@app.command()
def source(tenant: TenantArg, database: DatabaseOpt = None) -> None:
    """Print the template in use (the tenant's own, else the default: a starting point)."""
    runtime, tenant_id = _tenant(database, tenant)
    with runtime.service_context(tenant_id) as ctx:
        own = documents.template_settings(ctx).invoice_template
    runtime.dispose()
    typer.echo(own if own is not None else default_template_source(), nl=False)


@app.command()
def render(
    tenant: TenantArg,
    invoice: Annotated[str, typer.Argument(help="Invoice number (INV00000001) or id")],
    output: Annotated[Path, typer.Option("--output", "-o", help=".pdf or .html file")],
    database: DatabaseOpt = None,
) -> None:
    """Write an invoice as PDF (the stored version, rendered when it changed) or HTML."""
    runtime, tenant_id = _tenant(database, tenant)
    try:
        with runtime.service_context(tenant_id) as ctx:
            found = invoices.find_invoice(
                ctx, invoice_id=int(invoice) if is_ascii_digits(invoice) else None, number=invoice
            )
            if output.suffix.lower() == ".html":
                output.write_text(documents.render_invoice_html(ctx, found.id), "utf-8")
            else:
                output.write_bytes(documents.render_invoice_pdf(ctx, found.id))
    except DomainError as exc:
        raise _fail(exc) from None
    finally:
        runtime.dispose()
    console.print(f"Wrote {output}")
