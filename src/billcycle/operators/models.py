"""Operator keys. Not tenant-scoped: an operator manages every tenant of the installation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, IdMixin
from billcycle.db.types import UtcDateTime


class OperatorKey(IdMixin, Base):
    """``key_id`` is looked up (unique index), the secret part compared as a SHA-256
    digest, as for tenant API keys: the key itself is shown once and never stored."""

    __tablename__ = "operator_keys"

    name: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    key_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    secret_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
