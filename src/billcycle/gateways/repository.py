"""All SQL of a tenant's configured payment gateways."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from billcycle.gateways.models import PaymentGateway


def add_gateway(session: Session, gateway: PaymentGateway) -> PaymentGateway:
    session.add(gateway)
    session.flush()
    return gateway


def list_gateways(session: Session, tenant_id: int) -> Sequence[PaymentGateway]:
    return session.scalars(
        select(PaymentGateway)
        .where(PaymentGateway.tenant_id == tenant_id)
        .order_by(PaymentGateway.id)
    ).all()


def get_gateway(session: Session, tenant_id: int, gateway_id: int) -> PaymentGateway | None:
    return session.scalars(
        select(PaymentGateway).where(
            PaymentGateway.tenant_id == tenant_id, PaymentGateway.id == gateway_id
        )
    ).first()


def find_by_name(session: Session, tenant_id: int, name: str) -> PaymentGateway | None:
    return session.scalars(
        select(PaymentGateway).where(
            PaymentGateway.tenant_id == tenant_id, PaymentGateway.name == name
        )
    ).first()


# Built once (a payment run's begin asks for the default gateway every slice).
_DEFAULT = select(PaymentGateway).where(
    PaymentGateway.tenant_id == bindparam("t"), PaymentGateway.is_default.is_(True)
)


def get_default(session: Session, tenant_id: int) -> PaymentGateway | None:
    return session.scalars(_DEFAULT, {"t": tenant_id}).first()


def clear_default(session: Session, tenant_id: int) -> None:
    """Takes the row lock of the current default (SQLite: the write lock) before anyone
    becomes the new one; the partial unique index refuses a concurrent second default."""
    session.execute(
        update(PaymentGateway)
        .where(PaymentGateway.tenant_id == tenant_id, PaymentGateway.is_default.is_(True))
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
