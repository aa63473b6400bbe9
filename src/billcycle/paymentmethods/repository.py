"""All SQL of payment methods."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from billcycle.db.bulk import is_postgres
from billcycle.paymentmethods.models import PaymentMethod


def add_method(session: Session, method: PaymentMethod) -> PaymentMethod:
    session.add(method)
    session.flush()
    return method


def get_method(session: Session, tenant_id: int, method_id: int) -> PaymentMethod | None:
    return session.scalars(
        select(PaymentMethod).where(
            PaymentMethod.tenant_id == tenant_id, PaymentMethod.id == method_id
        )
    ).first()


def lock_method(session: Session, tenant_id: int, method_id: int) -> PaymentMethod | None:
    """The method's committed row under its lock until the unit of work ends (SQLite:
    a no-op write takes the database's write lock first, as ``payments`` does)."""
    if not is_postgres(session):
        session.execute(
            update(PaymentMethod)
            .where(PaymentMethod.tenant_id == tenant_id, PaymentMethod.id == method_id)
            .values(updated_at=PaymentMethod.updated_at)
            .execution_options(synchronize_session=False)
        )
    return session.scalars(
        select(PaymentMethod)
        .where(PaymentMethod.tenant_id == tenant_id, PaymentMethod.id == method_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def default_for_account(session: Session, tenant_id: int, account_id: int) -> PaymentMethod | None:
    return session.scalars(
        select(PaymentMethod).where(
            PaymentMethod.tenant_id == tenant_id,
            PaymentMethod.account_id == account_id,
            PaymentMethod.is_default.is_(True),
        )
    ).first()


def defaults_for_accounts(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> dict[int, PaymentMethod]:
    """Each account's default method, in one query (a payment run's chunk)."""
    if not account_ids:
        return {}
    rows = session.scalars(
        select(PaymentMethod).where(
            PaymentMethod.tenant_id == tenant_id,
            PaymentMethod.account_id.in_(list(account_ids)),
            PaymentMethod.is_default.is_(True),
        )
    )
    return {row.account_id: row for row in rows if row.account_id is not None}


def methods_of_account(session: Session, tenant_id: int, account_id: int) -> list[PaymentMethod]:
    return list(
        session.scalars(
            select(PaymentMethod)
            .where(PaymentMethod.tenant_id == tenant_id, PaymentMethod.account_id == account_id)
            .order_by(PaymentMethod.id)
        )
    )
