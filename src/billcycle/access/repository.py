"""All SQL of entity grants, organizations and organization grants."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

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
