"""All SQL of invoice documents: a tenant's template settings, what an invoice document
shows, and the stored PDF versions.

Reads select columns rather than ORM entities where the row may have been changed by a
set-based ``UPDATE`` in the same unit of work (bill runs post invoices that way), so a
document always shows what the database holds now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account, Contact
from billcycle.documents.models import InvoiceFile, StoredFile, TenantInvoiceSettings
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.tenancy.models import Tenant


def _values(row: Any) -> tuple[Any, ...]:
    return tuple(row)


# -- settings --------------------------------------------------------------------------


def get_settings(session: Session, tenant_id: int) -> TenantInvoiceSettings | None:
    return session.scalars(
        select(TenantInvoiceSettings)
        .where(TenantInvoiceSettings.tenant_id == tenant_id)
        .execution_options(populate_existing=True)
    ).first()


def lock_settings(session: Session, tenant_id: int) -> TenantInvoiceSettings | None:
    return session.scalars(
        select(TenantInvoiceSettings)
        .where(TenantInvoiceSettings.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def ensure_settings(session: Session, tenant_id: int, now: datetime) -> None:
    """Insert the tenant's (empty) settings row unless it exists; a concurrent insert is
    not an error (ON CONFLICT DO NOTHING)."""
    builder = (
        postgresql.insert if session.connection().dialect.name == "postgresql" else sqlite.insert
    )
    session.execute(
        builder(TenantInvoiceSettings)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
        .values(tenant_id=tenant_id, created_at=now, updated_at=now)
    )


# -- what a document shows -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    id: int
    account_id: int
    invoice_number: str
    status: str
    invoice_date: date
    due_date: date
    currency: str
    amount_minor: int
    tax_amount_minor: int
    comments: str | None
    posted_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class BillToRow:
    account_number: str
    account_name: str
    payment_term: str
    first_name: str | None
    last_name: str | None
    work_email: str | None
    personal_email: str | None
    address1: str | None
    address2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None


@dataclass(frozen=True, slots=True)
class ItemRow:
    charge_name: str
    service_start: date
    service_end: date  # exclusive
    quantity: Decimal
    unit_price: Decimal
    amount_minor: int
    is_credit: bool


def invoice_row(session: Session, tenant_id: int, invoice_id: int) -> InvoiceRow | None:
    row = session.execute(
        select(
            Invoice.id,
            Invoice.account_id,
            Invoice.invoice_number,
            Invoice.status,
            Invoice.invoice_date,
            Invoice.due_date,
            Invoice.currency,
            Invoice.amount_minor,
            Invoice.tax_amount_minor,
            Invoice.comments,
            Invoice.posted_at,
            Invoice.updated_at,
        ).where(Invoice.tenant_id == tenant_id, Invoice.id == invoice_id)
    ).first()
    return InvoiceRow(*_values(row)) if row is not None else None


def find_invoice_id(session: Session, tenant_id: int, number: str) -> int | None:
    return session.scalar(
        select(Invoice.id).where(Invoice.tenant_id == tenant_id, Invoice.invoice_number == number)
    )


def bill_to(session: Session, tenant_id: int, account_id: int) -> BillToRow | None:
    row = session.execute(
        select(
            Account.account_number,
            Account.name,
            Account.payment_term,
            Contact.first_name,
            Contact.last_name,
            Contact.work_email,
            Contact.personal_email,
            Contact.address1,
            Contact.address2,
            Contact.city,
            Contact.state,
            Contact.postal_code,
            Contact.country,
        )
        .outerjoin(
            Contact,
            and_(Contact.id == Account.bill_to_contact_id, Contact.tenant_id == tenant_id),
        )
        .where(Account.tenant_id == tenant_id, Account.id == account_id)
    ).first()
    return BillToRow(*_values(row)) if row is not None else None


def items(session: Session, tenant_id: int, invoice_id: int) -> list[ItemRow]:
    """The invoice's items in order (a cancelled invoice's voided items too: they are
    what it billed)."""
    return [
        ItemRow(*_values(row))
        for row in session.execute(
            select(
                InvoiceItem.charge_name,
                InvoiceItem.service_start,
                InvoiceItem.service_end,
                InvoiceItem.quantity,
                InvoiceItem.unit_price,
                InvoiceItem.amount_minor,
                InvoiceItem.is_credit,
            )
            .where(InvoiceItem.tenant_id == tenant_id, InvoiceItem.invoice_id == invoice_id)
            .order_by(InvoiceItem.id)
        )
    ]


def tenant_name(session: Session, tenant_id: int) -> str:
    """Tenant: the row read is the tenant's own (its id is the tenant id)."""
    return session.scalar(select(Tenant.name).where(Tenant.id == tenant_id)) or ""


# -- stored versions -------------------------------------------------------------------


def latest_version(session: Session, tenant_id: int, invoice_id: int) -> InvoiceFile | None:
    return session.scalars(
        select(InvoiceFile)
        .where(InvoiceFile.tenant_id == tenant_id, InvoiceFile.invoice_id == invoice_id)
        .order_by(InvoiceFile.version_number.desc())
        .limit(1)
    ).first()


def versions(
    session: Session, tenant_id: int, invoice_id: int, *, offset: int, limit: int
) -> list[InvoiceFile]:
    """The invoice's versions, newest first (Zuora's order)."""
    return list(
        session.scalars(
            select(InvoiceFile)
            .where(InvoiceFile.tenant_id == tenant_id, InvoiceFile.invoice_id == invoice_id)
            .order_by(InvoiceFile.version_number.desc())
            .offset(offset)
            .limit(limit)
        )
    )


def version_count(session: Session, tenant_id: int, invoice_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(InvoiceFile)
            .where(InvoiceFile.tenant_id == tenant_id, InvoiceFile.invoice_id == invoice_id)
        )
        or 0
    )


def add_version(
    session: Session,
    tenant_id: int,
    invoice_id: int,
    *,
    version_number: int,
    digest: str,
    name: str,
    content: bytes,
    now: datetime,
) -> InvoiceFile | None:
    """Store ``content`` as version ``version_number`` of the invoice's PDF; None when a
    concurrent caller stored that version first (nothing of this call is kept then)."""
    try:
        with session.begin_nested():
            file_id = session.execute(
                insert(StoredFile)
                .values(
                    tenant_id=tenant_id,
                    invoice_id=invoice_id,
                    name=name,
                    content_type="application/pdf",
                    size=len(content),
                    content=content,
                    created_at=now,
                )
                .returning(StoredFile.id)
            ).scalar_one()
            version = InvoiceFile(
                tenant_id=tenant_id,
                invoice_id=invoice_id,
                version_number=version_number,
                digest=digest,
                file_id=file_id,
                created_at=now,
            )
            session.add(version)
            session.flush()
    except IntegrityError:
        return None
    return version


def file_content(session: Session, tenant_id: int, file_id: int) -> StoredFile | None:
    return session.scalars(
        select(StoredFile).where(StoredFile.tenant_id == tenant_id, StoredFile.id == file_id)
    ).first()
