"""All SQL for emailing invoices: set-based reads of a batch, and the delivery records.

Reads select columns rather than ORM entities, so what a batch sees is what the database
holds now, not an object the session loaded before another statement changed it (bill
runs post invoices with a set-based ``UPDATE``). Each read costs one statement per chunk
of ids, whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account, Contact
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.notifications.models import InvoiceEmail
from billcycle.tenancy.models import Tenant

# Ids per statement: well under both backends' bound-parameter limits.
ID_CHUNK = 1_000


def _chunks(ids: Sequence[int], size: int = ID_CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


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
    emailed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ItemRow:
    invoice_id: int
    charge_name: str
    service_start: date
    service_end: date
    quantity: Decimal
    amount_minor: int
    is_credit: bool


@dataclass(frozen=True, slots=True)
class BillToRow:
    """An account and its bill-to contact (contact fields None when it has none)."""

    account_id: int
    account_number: str
    account_name: str
    wants_email: bool
    first_name: str | None
    last_name: str | None
    work_email: str | None
    personal_email: str | None


def invoices(session: Session, tenant_id: int, invoice_ids: Sequence[int]) -> list[InvoiceRow]:
    """The tenant's invoices among ``invoice_ids``, by id; others are left out."""
    rows: list[InvoiceRow] = []
    for chunk in _chunks(sorted(set(invoice_ids))):
        result = session.execute(
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
                Invoice.emailed_at,
            )
            .where(Invoice.tenant_id == tenant_id, Invoice.id.in_(chunk))
            .order_by(Invoice.id)
        )
        rows.extend(
            InvoiceRow(
                id=row[0],
                account_id=row[1],
                invoice_number=row[2],
                status=row[3],
                invoice_date=row[4],
                due_date=row[5],
                currency=row[6],
                amount_minor=row[7],
                tax_amount_minor=row[8],
                emailed_at=row[9],
            )
            for row in result
        )
    return rows


def items_by_invoice(
    session: Session, tenant_id: int, invoice_ids: Sequence[int]
) -> dict[int, list[ItemRow]]:
    """Live items of each invoice, in the order they were written."""
    grouped: dict[int, list[ItemRow]] = {invoice_id: [] for invoice_id in invoice_ids}
    for chunk in _chunks(sorted(set(invoice_ids))):
        result = session.execute(
            select(
                InvoiceItem.invoice_id,
                InvoiceItem.charge_name,
                InvoiceItem.service_start,
                InvoiceItem.service_end,
                InvoiceItem.quantity,
                InvoiceItem.amount_minor,
                InvoiceItem.is_credit,
            )
            .where(
                InvoiceItem.tenant_id == tenant_id,
                InvoiceItem.invoice_id.in_(chunk),
                InvoiceItem.voided.is_(False),
            )
            .order_by(InvoiceItem.invoice_id, InvoiceItem.id)
        )
        for row in result:
            grouped.setdefault(row[0], []).append(ItemRow(*row))
    return grouped


# Built once, the ids one expanding parameter (building ``in_()`` of a thousand ids
# coerced each of them).
_BILL_TO = (
    select(
        Account.id,
        Account.account_number,
        Account.name,
        Account.invoice_delivery_prefs_email,
        Contact.first_name,
        Contact.last_name,
        Contact.work_email,
        Contact.personal_email,
    )
    .outerjoin(
        Contact,
        and_(Contact.id == Account.bill_to_contact_id, Contact.tenant_id == bindparam("tenant_id")),
    )
    .where(
        Account.tenant_id == bindparam("tenant_id"),
        Account.id.in_(bindparam("ids", expanding=True)),
    )
)


def bill_to_contacts(
    session: Session, tenant_id: int, account_ids: Iterable[int]
) -> dict[int, BillToRow]:
    found: dict[int, BillToRow] = {}
    for chunk in _chunks(sorted(set(account_ids))):
        result = session.execute(_BILL_TO, {"tenant_id": tenant_id, "ids": list(chunk)})
        for row in result:
            found[row[0]] = BillToRow(
                account_id=row[0],
                account_number=row[1],
                account_name=row[2],
                wants_email=bool(row[3]),
                first_name=row[4],
                last_name=row[5],
                work_email=row[6],
                personal_email=row[7],
            )
    return found


def tenant_name(session: Session, tenant_id: int) -> str:
    name = session.scalar(select(Tenant.name).where(Tenant.id == tenant_id))
    return name or ""


def insert_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One ``invoice_emails`` row per attempt (a single executemany).

    Tenant: every row carries the caller's ``tenant_id`` value.
    """
    if rows:
        session.execute(insert(InvoiceEmail), list(rows))


def mark_emailed(
    session: Session, tenant_id: int, invoice_ids: Sequence[int], *, now: datetime
) -> None:
    for chunk in _chunks(sorted(set(invoice_ids))):
        session.execute(
            update(Invoice)
            .where(Invoice.tenant_id == tenant_id, Invoice.id.in_(chunk))
            .values(emailed_at=now)
            .execution_options(synchronize_session="fetch")
        )


def deliveries_of(session: Session, tenant_id: int, invoice_id: int) -> list[InvoiceEmail]:
    """Every recorded attempt for one invoice, oldest first."""
    return list(
        session.scalars(
            select(InvoiceEmail)
            .where(InvoiceEmail.tenant_id == tenant_id, InvoiceEmail.invoice_id == invoice_id)
            .order_by(InvoiceEmail.id)
        )
    )
