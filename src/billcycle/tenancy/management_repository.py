"""SQL behind managing tenants and their credentials (the admin API).

Listings are keyset-paged on the primary key (``id > after`` in id order): each page is
one index range scan, however deep the page. Tenants themselves are not tenant-scoped;
every credential query here filters on ``tenant_id``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, delete, exists, select
from sqlalchemy.orm import Session

from billcycle.db.base import Base
from billcycle.tenancy.models import ApiKey, NumberSequence, OAuthClient, Tenant

# The tenant's own bookkeeping: deleted with the tenant, never counted as its data.
_TENANCY_TABLES = frozenset(
    model.__tablename__ for model in (Tenant, OAuthClient, ApiKey, NumberSequence)
)


def list_tenants(session: Session, after: int | None, limit: int) -> Sequence[Tenant]:
    """Tenants are the top of the tree: not filtered on a tenant."""
    query = select(Tenant).order_by(Tenant.id).limit(limit)
    if after is not None:
        query = query.where(Tenant.id > after)
    return session.scalars(query).all()


def lock_tenant(session: Session, tenant_id: int) -> Tenant | None:
    """The tenant row (filtered on its own id), locked until the unit of work ends
    (PostgreSQL: ``FOR UPDATE``, which waits for and then blocks any transaction
    inserting rows that reference it)."""
    return session.scalars(select(Tenant).where(Tenant.id == tenant_id).with_for_update()).first()


def _business_tables() -> list[Table]:
    # Imported here: the complete model registry imports this package's models.
    import billcycle.db.models  # noqa: F401

    return [
        table
        for table in Base.metadata.sorted_tables
        if "tenant_id" in table.c and table.name not in _TENANCY_TABLES
    ]


def _has_parent(table: Table, business: set[str]) -> bool:
    """Whether every row of ``table`` needs a row of another business table (a NOT NULL
    foreign key to it): the parent, of the same tenant, is asked instead."""
    return any(
        not fk.parent.nullable and fk.column.table.name in business and fk.column.table is not table
        for fk in table.foreign_keys
        if fk.parent.name != "tenant_id"
    )


def _root_tables() -> list[Table]:
    tables = _business_tables()
    names = {table.name for table in tables}
    return [table for table in tables if not _has_parent(table, names)]


def tenant_has_data(session: Session, tenant_id: int) -> bool:
    """Whether any business row (account, product, invoice, bill run, ...) belongs to the
    tenant. Every tenant-scoped table that is not the child of another is asked (each by
    its ``tenant_id`` index), so a table added later is covered without a change here."""
    for table in _root_tables():
        if session.scalar(select(exists().where(table.c.tenant_id == tenant_id))):
            return True
    return False


def delete_tenant(session: Session, tenant_id: int) -> None:
    """Deletes the tenant with its credentials and number sequences (explicitly, so it
    does not depend on the database enforcing ``ON DELETE CASCADE``)."""
    for model in (OAuthClient, ApiKey, NumberSequence):
        session.execute(delete(model).where(model.tenant_id == tenant_id))
    session.execute(delete(Tenant).where(Tenant.id == tenant_id))


def delete_credentials(session: Session, tenant_id: int) -> None:
    for model in (OAuthClient, ApiKey):
        session.execute(delete(model).where(model.tenant_id == tenant_id))


def list_oauth_clients(
    session: Session, tenant_id: int, after: int | None, limit: int
) -> Sequence[OAuthClient]:
    query = (
        select(OAuthClient)
        .where(OAuthClient.tenant_id == tenant_id)
        .order_by(OAuthClient.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(OAuthClient.id > after)
    return session.scalars(query).all()


def get_oauth_client(session: Session, tenant_id: int, client_pk: int) -> OAuthClient | None:
    return session.scalars(
        select(OAuthClient).where(OAuthClient.tenant_id == tenant_id, OAuthClient.id == client_pk)
    ).first()


def delete_oauth_client(session: Session, tenant_id: int, client_pk: int) -> None:
    session.execute(
        delete(OAuthClient).where(OAuthClient.tenant_id == tenant_id, OAuthClient.id == client_pk)
    )


def list_api_keys(
    session: Session, tenant_id: int, after: int | None, limit: int
) -> Sequence[ApiKey]:
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id).limit(limit)
    if after is not None:
        query = query.where(ApiKey.id > after)
    return session.scalars(query).all()


def get_api_key(session: Session, tenant_id: int, key_pk: int) -> ApiKey | None:
    return session.scalars(
        select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_pk)
    ).first()


def delete_api_key(session: Session, tenant_id: int, key_pk: int) -> None:
    session.execute(delete(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_pk))
