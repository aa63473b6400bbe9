from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped
from billcycle.db.types import BigId, UtcDateTime


class Organization(TenantScoped, Base):
    """An organization inside a tenant (Zuora's multi-org): accounts belong to one."""

    __tablename__ = "organizations"
    __table_args__ = (Index("uq_organizations_tenant_name", "tenant_id", "name", unique=True),)

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class ClientEntityGrant(Base):
    """An OAuth client may also act in this entity (tenant), besides its own."""

    __tablename__ = "oauth_client_entities"

    client_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class ClientOrgGrant(Base):
    """An OAuth client granted an organization: a client with grants in a tenant sees only
    the accounts of its organizations there; a client without any sees them all."""

    __tablename__ = "oauth_client_organizations"

    client_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
