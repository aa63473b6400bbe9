"""Console users and their grants (a role in a tenant)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, IdMixin
from billcycle.db.types import BigId, UtcDateTime


class ConsoleUser(IdMixin, Base):
    """A person; not tenant-scoped (one email may be granted several tenants).
    ``password_hash`` is an argon2id hash (PHC string), never the password."""

    __tablename__ = "console_users"

    email: Mapped[str] = mapped_column(String(254), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class ConsoleGrant(IdMixin, Base):
    """A user's role in one tenant; the tenants a user sees are exactly its grants."""

    __tablename__ = "console_user_tenants"
    __table_args__ = (
        Index("uq_console_user_tenants_user_tenant", "user_id", "tenant_id", unique=True),
    )

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False
    )
    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # a Role
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
