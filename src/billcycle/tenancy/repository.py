"""All SQL touching tenants and their credentials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billcycle.ids import NUMBER_FORMATS
from billcycle.tenancy.models import (
    ApiKey,
    InstallationSecret,
    NumberSequence,
    OAuthClient,
    Tenant,
)


def add_tenant(session: Session, tenant: Tenant) -> Tenant:
    session.add(tenant)
    session.flush()
    session.execute(
        insert(NumberSequence),
        [{"tenant_id": tenant.id, "name": name, "last_value": 0} for name in NUMBER_FORMATS],
    )
    return tenant


def get_tenant(session: Session, tenant_id: int) -> Tenant | None:
    return session.get(Tenant, tenant_id)


def tenant_time(session: Session, tenant_id: int) -> tuple[str, datetime | None] | None:
    """The tenant's time zone name and test clock (None for a production tenant), or
    None when there is no such tenant."""
    row = session.execute(
        select(Tenant.time_zone, Tenant.test_clock_at).where(Tenant.id == tenant_id)
    ).first()
    return None if row is None else (row[0], row[1])


def test_clock_at(session: Session, tenant_id: int) -> datetime | None:
    """The sandbox tenant's business time (None for a production or unknown tenant)."""
    return session.scalar(select(Tenant.test_clock_at).where(Tenant.id == tenant_id))


def move_test_clock(session: Session, tenant_id: int, current: datetime, to: datetime) -> bool:
    """Move a sandbox tenant's clock from ``current`` to ``to``: False (nothing changed)
    when it no longer reads ``current`` (another advance moved it: compare and set)."""
    result = session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id, Tenant.test_clock_at == current)
        .values(test_clock_at=to)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def sandbox_tenant_ids() -> Select[int]:
    """A subquery of the tenants on a test clock: the installation-wide schedulers leave
    them out (their time moves only when their clock is advanced)."""
    return select(Tenant.id).where(Tenant.test_clock_at.is_not(None))


def find_tenant_by_name(session: Session, name: str) -> Tenant | None:
    return session.scalars(select(Tenant).where(Tenant.name == name).limit(1)).first()


def find_oauth_client(session: Session, client_id: str) -> OAuthClient | None:
    """Tenant: authentication: the client is how the request's tenant is found."""
    return session.scalars(select(OAuthClient).where(OAuthClient.client_id == client_id)).first()


# Driver-level SQL: this read runs on every authenticated Zuora request, and the ORM's
# statement machinery costs ~4x the statement itself (~200 µs against ~55 µs of CPU).
_QMARK = "SELECT generation FROM oauth_clients WHERE client_id = ? AND tenant_id = ?"
_FORMAT = "SELECT generation FROM oauth_clients WHERE client_id = %s AND tenant_id = %s"
_CLIENT_GENERATION = {"qmark": _QMARK, "format": _FORMAT, "pyformat": _FORMAT}


def client_generation_column() -> ColumnElement[int]:
    """The generation of the client bound as ``client_id`` in ``client_tenant_id`` (NULL
    when it or its tenant is gone), as a column another read can carry: the request's
    token check then costs no round trip of its own (see billruns.repository.run_view).

    Tenant: the client's own tenant, bound as ``client_tenant_id``."""
    return (
        select(OAuthClient.generation)
        .where(
            OAuthClient.client_id == bindparam("client_id"),
            OAuthClient.tenant_id == bindparam("client_tenant_id"),
        )
        .scalar_subquery()
    )


def client_generation(session: Session, client_id: str, tenant_id: int) -> int | None:
    """The client's current generation, None when it (or its tenant) no longer exists.
    One indexed read (the unique ``client_id``), run in the request's own unit of work."""
    connection = session.connection()
    sql = _CLIENT_GENERATION[connection.dialect.paramstyle]
    value = connection.exec_driver_sql(sql, (client_id, tenant_id)).scalar()
    return None if value is None else int(value)


def find_api_key(session: Session, key_id: str) -> ApiKey | None:
    """Tenant: authentication: the key is how the request's tenant is found."""
    return session.scalars(select(ApiKey).where(ApiKey.key_id == key_id)).first()


def installation_secret(session: Session) -> str | None:
    row = session.get(InstallationSecret, 1)
    return row.value if row else None


def store_installation_secret(session: Session, value: str) -> None:
    session.add(InstallationSecret(id=1, value=value))
    session.flush()
