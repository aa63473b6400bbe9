"""All SQL of payments and refunds. Their money is in the ledger (``ledger.repository``)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from billcycle.db.bulk import is_postgres
from billcycle.payments.models import Payment, Refund


def insert(session: Session, row: Payment | Refund) -> None:
    session.add(row)
    session.flush()


def get_payment(session: Session, tenant_id: int, payment_id: int) -> Payment | None:
    return session.scalars(
        select(Payment).where(
            Payment.tenant_id == tenant_id,
            Payment.id == payment_id,
            Payment.deleted_at.is_(None),
        )
    ).first()


def find_payment_by_number(session: Session, tenant_id: int, number: str) -> Payment | None:
    return session.scalars(
        select(Payment).where(
            Payment.tenant_id == tenant_id,
            Payment.number == number,
            Payment.deleted_at.is_(None),
        )
    ).first()


def lock_payment(session: Session, tenant_id: int, payment_id: int) -> Payment | None:
    """The payment's committed row under its lock, held until the unit of work ends.

    PostgreSQL: ``SELECT ... FOR UPDATE``. SQLite has one writer: a no-op write takes the
    database's write lock first, so what is read next is the latest committed state.
    """
    if not is_postgres(session):
        session.execute(
            update(Payment)
            .where(Payment.tenant_id == tenant_id, Payment.id == payment_id)
            .values(updated_at=Payment.updated_at)
            .execution_options(synchronize_session=False)
        )
    return session.scalars(
        select(Payment)
        .where(
            Payment.tenant_id == tenant_id,
            Payment.id == payment_id,
            Payment.deleted_at.is_(None),
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def account_payments(session: Session, tenant_id: int, account_id: int) -> list[Payment]:
    return list(
        session.scalars(
            select(Payment)
            .where(
                Payment.tenant_id == tenant_id,
                Payment.account_id == account_id,
                Payment.deleted_at.is_(None),
            )
            .order_by(Payment.id)
        )
    )


def get_refund(session: Session, tenant_id: int, refund_id: int) -> Refund | None:
    return session.scalars(
        select(Refund).where(Refund.tenant_id == tenant_id, Refund.id == refund_id)
    ).first()


def refunds_of(session: Session, tenant_id: int, payment_id: int) -> list[Refund]:
    return list(
        session.scalars(
            select(Refund)
            .where(Refund.tenant_id == tenant_id, Refund.payment_id == payment_id)
            .order_by(Refund.id)
        )
    )


def page_of_payments(
    session: Session,
    tenant_id: int,
    *,
    account_id: int | None,
    status: str | None,
    offset: int,
    limit: int,
) -> list[Payment]:
    """A page of the tenant's payments, newest first (Zuora's list order), filtered."""
    stmt = select(Payment).where(Payment.tenant_id == tenant_id, Payment.deleted_at.is_(None))
    if account_id is not None:
        stmt = stmt.where(Payment.account_id == account_id)
    if status is not None:
        stmt = stmt.where(Payment.status == status)
    return list(session.scalars(stmt.order_by(Payment.id.desc()).offset(offset).limit(limit)))
