"""All SQL touching console users and grants. A user belongs to no tenant; a grant names
its tenant, and every read of grants goes through the user's own id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from billcycle.tenancy.models import Tenant
from billcycle.users.models import ConsoleGrant, ConsoleUser


def find_by_email(session: Session, email: str) -> ConsoleUser | None:
    return session.scalars(select(ConsoleUser).where(ConsoleUser.email == email)).first()


def get_user(session: Session, user_id: int) -> ConsoleUser | None:
    return session.get(ConsoleUser, user_id)


def add_user(session: Session, user: ConsoleUser) -> ConsoleUser:
    session.add(user)
    session.flush()
    return user


def grant_of(session: Session, user_id: int, tenant_id: int) -> ConsoleGrant | None:
    return session.scalars(
        select(ConsoleGrant).where(
            ConsoleGrant.user_id == user_id, ConsoleGrant.tenant_id == tenant_id
        )
    ).first()


def add_grant(session: Session, grant: ConsoleGrant) -> ConsoleGrant:
    session.add(grant)
    session.flush()
    return grant


def grants_with_names(session: Session, user_id: int) -> list[tuple[int, str, str]]:
    """(tenant id, tenant name, role) of every tenant granted to the user, by name.

    Tenant: spans the tenants granted to this user (that is what it lists)."""
    rows = session.execute(
        select(ConsoleGrant.tenant_id, Tenant.name, ConsoleGrant.role)
        .join(Tenant, Tenant.id == ConsoleGrant.tenant_id)
        .where(ConsoleGrant.user_id == user_id)
        .order_by(Tenant.name, Tenant.id)
    ).all()
    return [(int(t), str(n), str(r)) for t, n, r in rows]
