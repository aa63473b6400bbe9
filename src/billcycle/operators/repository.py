"""All SQL touching operator keys. Operator keys belong to no tenant, so no function here
filters on ``tenant_id``: operators are above tenants."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from billcycle.operators.models import OperatorKey


def add_operator_key(session: Session, key: OperatorKey) -> OperatorKey:
    """Not tenant-scoped: operator keys belong to no tenant."""
    session.add(key)
    session.flush()
    return key


def find_by_key_id(session: Session, key_id: str) -> OperatorKey | None:
    """Not tenant-scoped: operator keys belong to no tenant (unique index on key_id)."""
    return session.scalars(select(OperatorKey).where(OperatorKey.key_id == key_id)).first()


def find_by_name(session: Session, name: str) -> OperatorKey | None:
    """Not tenant-scoped: operator keys belong to no tenant."""
    return session.scalars(select(OperatorKey).where(OperatorKey.name == name)).first()


def list_operator_keys(session: Session) -> Sequence[OperatorKey]:
    """Not tenant-scoped: every operator key of the installation."""
    return session.scalars(select(OperatorKey).order_by(OperatorKey.id)).all()


def delete_operator_key(session: Session, key_pk: int) -> None:
    """Not tenant-scoped: operator keys belong to no tenant."""
    session.execute(delete(OperatorKey).where(OperatorKey.id == key_pk))
