from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped
from billcycle.db.types import UtcDateTime


class RequestKey(TenantScoped, Base):
    """One ``Idempotency-Key``: who used it for which request, and the first answer
    (``status_code`` NULL while that request is still running)."""

    __tablename__ = "request_keys"
    # Unique per owner: the OAuth client (which may act in several entities: the same key
    # in another entity is refused with 422, as Zuora does) or, for an API key, its tenant.
    # Two tenants' clients never share keys, so one cannot block or probe another's.
    __table_args__ = (
        Index("uq_request_keys_owner_key", "owner", "key", unique=True),
        Index("ix_request_keys_created_at", "created_at"),
    )

    owner: Mapped[str] = mapped_column(String(100), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    content_type: Mapped[str | None] = mapped_column(String(255))
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
