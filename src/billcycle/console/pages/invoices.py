"""Invoices: list (filter, sort, keyset pages, CSV export) and an invoice's page with its
header and items, its document (PDF link and embedded HTML) and the actions its state
allows: Post and Cancel (drafts), Write off and Email (posted)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from billcycle.console.format import money
from billcycle.console.pages.common import (
    PAGE_SIZE,
    CurrentViewer,
    act,
    csv_download,
    optional_int,
    read,
    sorting,
    trail,
    units,
)
from billcycle.console.render import page
from billcycle.console.session import checked_form, runtime_of
from billcycle.context import ServiceContext
from billcycle.db.session import read_only_unit
from billcycle.documents import service as documents
from billcycle.invoicing import queries
from billcycle.invoicing import service as invoicing
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.notifications.mailer import mailer_from_settings
from billcycle.notifications.service import email_invoices
from billcycle.reports import service as reports

router = APIRouter(include_in_schema=False)
ITEMS_SHOWN = 500
CSV_PAGE = 1000


def document_links(invoice_id: int) -> dict[str, str]:
    """Where the invoice's rendered document lives: the PDF to download and the HTML page
    embedded on the invoice's page. The invoice documents (``billcycle.documents``) serve
    both routes; this is the one place the console names them."""
    return {
        "pdf": f"/invoices/{invoice_id}/pdf",
        "document": f"/invoices/{invoice_id}/document",
    }


def invoice_actions(status: str, balance_minor: int) -> list[str]:
    if status == InvoiceStatus.DRAFT:
        return ["post", "cancel"]
    if status == InvoiceStatus.POSTED:
        return ["write_off", "email"] if balance_minor > 0 else ["email"]
    return []


def _filters(
    status: str | None,
    account: str | None,
    currency: str | None,
    number: str | None,
    bill_run: str | None,
) -> reports.InvoiceFilter:
    return reports.InvoiceFilter(
        status=status or None,
        account_id=optional_int(account, "account"),
        currency=currency or None,
        number=number or None,
        bill_run_id=optional_int(bill_run, "bill_run"),
    )


@router.get("/invoices")
def list_invoices(
    request: Request,
    viewer: CurrentViewer,
    status: str | None = None,
    account: str | None = None,
    currency: str | None = None,
    number: str | None = None,
    bill_run: str | None = None,
    sort: str | None = None,
    after: str | None = None,
) -> Response:
    filters = _filters(status, account, currency, number, bill_run)
    order = sorting(sort, "date")
    found = read(
        request,
        viewer,
        lambda ctx: reports.invoices(ctx, filters, sort=order, after=after, limit=PAGE_SIZE),
    )
    return page(
        request,
        "invoices.html.j2",
        title="Invoices",
        invoices=found,
        filters=filters,
        sort=sort or "-date",
        statuses=list(InvoiceStatus),
    )


@router.get("/invoices.csv")
def invoices_csv(
    request: Request,
    viewer: CurrentViewer,
    status: str | None = None,
    account: str | None = None,
    currency: str | None = None,
    number: str | None = None,
    bill_run: str | None = None,
) -> Response:
    filters = _filters(status, account, currency, number, bill_run)
    runtime = runtime_of(request)

    def pages() -> Iterator[list[list[Any]]]:
        after: str | None = None
        with read_only_unit(runtime.session_factory) as session:
            ctx = runtime.context(session, viewer.tenant_id)
            while True:
                found = reports.invoices(
                    ctx, filters, sort=reports.Sorting("number", False), after=after, limit=CSV_PAGE
                )
                yield [
                    [
                        r.invoice_number,
                        r.account_number,
                        r.account_name,
                        r.status,
                        r.invoice_date,
                        r.due_date,
                        r.currency,
                        _plain(r.amount_minor, r.currency),
                        _plain(r.balance_minor, r.currency),
                    ]
                    for r in found.rows
                ]
                if found.next_cursor is None:
                    return
                after = found.next_cursor

    header = [
        "invoice_number",
        "account_number",
        "account_name",
        "status",
        "invoice_date",
        "due_date",
        "currency",
        "amount",
        "balance",
    ]
    return csv_download("invoices.csv", header, pages())


def _plain(minor: int, currency: str) -> str:
    from billcycle.money import from_minor

    return str(from_minor(int(minor), currency))


# The document is the tenant's own template, drawn in the invoice page's frame: it may
# style itself and show inlined images, and may run nothing and load nothing.
DOCUMENT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)


@router.get("/invoices/{invoice_id}/document")
def invoice_document(request: Request, viewer: CurrentViewer, invoice_id: int) -> Response:
    html = read(request, viewer, lambda ctx: documents.render_invoice_html(ctx, invoice_id))
    return HTMLResponse(
        html,
        headers={"Content-Security-Policy": DOCUMENT_POLICY, "Cache-Control": "no-store"},
    )


@router.get("/invoices/{invoice_id}/pdf")
async def invoice_pdf(request: Request, viewer: CurrentViewer, invoice_id: int) -> Response:
    """The stored PDF of the invoice's current version (rendered and stored first when
    the invoice changed since the last one)."""
    pdf = await units(request, viewer).write(lambda ctx: documents.invoice_pdf(ctx, invoice_id))
    return Response(
        pdf.content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{pdf.file_name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/invoices/{invoice_id}")
def invoice_page(request: Request, viewer: CurrentViewer, invoice_id: int) -> Response:
    def work(ctx: ServiceContext) -> tuple[Any, Any, Any]:
        invoice = invoicing.get_invoice(ctx, invoice_id)
        view = queries.invoice_view(ctx, invoice)
        items = queries.invoice_items(ctx, invoice, offset=0, limit=ITEMS_SHOWN)
        return view, items, trail(ctx, "invoice", invoice.id)

    view, items, history = read(request, viewer, work)
    invoice = view.invoice
    return page(
        request,
        "invoice.html.j2",
        title=f"Invoice {invoice.invoice_number}",
        view=view,
        invoice=invoice,
        items=items,
        balance=money(view.balance_minor, invoice.currency),
        links=document_links(invoice.id),
        actions=invoice_actions(invoice.status, view.balance_minor),
        trail=history,
    )


def _invoice_action(name: str) -> Any:
    async def handler(request: Request, viewer: CurrentViewer, invoice_id: int) -> Response:
        form = await checked_form(request, viewer)
        comment = str(form.get("comment") or "").strip()[:255] or None
        settings = runtime_of(request).settings

        def work(ctx: ServiceContext) -> None:
            invoice = invoicing.get_invoice(ctx, invoice_id)
            if name == "post":
                invoicing.post_invoice(ctx, invoice)
            elif name == "cancel":
                invoicing.cancel_invoice(ctx, invoice)
            elif name == "write_off":
                if invoice.status != InvoiceStatus.POSTED:
                    from billcycle.errors import RuleViolation

                    raise RuleViolation(
                        f"Invoice {invoice.invoice_number} is {invoice.status}: only a posted "
                        "invoice can be written off."
                    )
                invoicing.write_off_invoice(ctx, invoice, comment=comment)
            else:
                if invoice.status != InvoiceStatus.POSTED:
                    from billcycle.errors import RuleViolation

                    raise RuleViolation(
                        f"Invoice {invoice.invoice_number} is {invoice.status}: only a posted "
                        "invoice can be emailed."
                    )
                email_invoices(
                    ctx,
                    [invoice.id],
                    mailer_from_settings(settings),
                    resend=True,
                    skip_zero_amount=False,
                )

        notices = {
            "post": "The invoice was posted.",
            "cancel": "The invoice was cancelled.",
            "write_off": "The invoice was written off.",
            "email": "The invoice was emailed.",
        }
        return await act(
            request,
            viewer,
            action=name,
            object_type="invoice",
            object_id=invoice_id,
            work=work,
            back=f"/invoices/{invoice_id}",
            notice=notices[name],
        )

    return handler


for _name in ("post", "cancel", "write_off", "email"):
    router.add_api_route(
        f"/invoices/{{invoice_id}}/{_name.replace('_', '-')}",
        _invoice_action(_name),
        methods=["POST"],
    )
