"""All SQL of entity grants, organizations and organization grants."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, with_loader_criteria

from billcycle.access.models import ClientEntityGrant, ClientOrgGrant, Organization


def add(session: Session, row: Organization | ClientEntityGrant | ClientOrgGrant) -> None:
    session.add(row)
    session.flush()


def granted_entities(session: Session, client_pk: int) -> list[int]:
    """Tenant: authentication: the entities a client may act in are what this finds."""
    return list(
        session.scalars(
            select(ClientEntityGrant.tenant_id)
            .where(ClientEntityGrant.client_pk == client_pk)
            .order_by(ClientEntityGrant.tenant_id)
        )
    )


def entity_granted(session: Session, client_pk: int, tenant_id: int) -> bool:
    return (
        session.get(ClientEntityGrant, {"client_pk": client_pk, "tenant_id": tenant_id}) is not None
    )


def granted_orgs(session: Session, client_pk: int) -> list[tuple[int, int]]:
    """(tenant id, organization id) of every organization granted to the client.

    Tenant: authentication: the grants span the client's entities on purpose."""
    return [
        (row[0], row[1])
        for row in session.execute(
            select(ClientOrgGrant.tenant_id, ClientOrgGrant.organization_id)
            .where(ClientOrgGrant.client_pk == client_pk)
            .order_by(ClientOrgGrant.tenant_id, ClientOrgGrant.organization_id)
        )
    ]


def org_granted(session: Session, tenant_id: int, client_pk: int, org_id: int) -> bool:
    row = session.get(ClientOrgGrant, {"client_pk": client_pk, "organization_id": org_id})
    return row is not None and row.tenant_id == tenant_id


def organizations(session: Session, tenant_id: int) -> list[Organization]:
    return list(
        session.scalars(
            select(Organization)
            .where(Organization.tenant_id == tenant_id)
            .order_by(Organization.id)
        )
    )


def organization_by_name(session: Session, tenant_id: int, name: str) -> Organization | None:
    return session.scalars(
        select(Organization).where(Organization.tenant_id == tenant_id, Organization.name == name)
    ).first()


def existing_org_ids(session: Session, tenant_id: int, org_ids: list[int]) -> set[int]:
    return set(
        session.scalars(
            select(Organization.id).where(
                Organization.tenant_id == tenant_id, Organization.id.in_(org_ids)
            )
        )
    )


def remove_entity_grant(session: Session, client_pk: int, tenant_id: int) -> bool:
    """Tenant: the grant row names the tenant it grants (``tenant_id``)."""
    result = session.execute(
        delete(ClientEntityGrant).where(
            ClientEntityGrant.client_pk == client_pk, ClientEntityGrant.tenant_id == tenant_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def remove_org_grant(session: Session, tenant_id: int, client_pk: int, org_id: int) -> bool:
    result = session.execute(
        delete(ClientOrgGrant).where(
            ClientOrgGrant.tenant_id == tenant_id,
            ClientOrgGrant.client_pk == client_pk,
            ClientOrgGrant.organization_id == org_id,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def org_scope_options(org_ids: Sequence[int], owned: Iterable[Any]) -> list[Any]:
    """Loader criteria keeping a statement to the accounts of ``org_ids`` and to the rows
    of the ``owned`` classes (each with an ``account_id``) of those accounts; a row that
    may belong to no account (a nullable ``account_id``) is kept when it has none.

    Tenant: these criteria join statements that already filter on tenant_id (the
    organizations are the tenant's, checked when the call began); they only narrow."""
    from billcycle.accounts.models import Account

    in_orgs = Account.organization_id.in_(org_ids)
    accounts = select(Account.id).where(in_orgs).scalar_subquery()
    options: list[Any] = [with_loader_criteria(Account, in_orgs, include_aliases=True)]
    for cls in owned:
        column = cls.account_id
        kept = column.in_(accounts)
        if cls.__mapper__.columns["account_id"].nullable:
            kept = or_(column.is_(None), kept)
        options.append(with_loader_criteria(cls, kept, include_aliases=True))
    return options
