from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, IdMixin
from billcycle.db.types import BigId, UtcDateTime
from billcycle.tenancy.time_zones import DEFAULT_TIME_ZONE, MAX_NAME_LENGTH


class Tenant(IdMixin, Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    bulk_jobs_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    bulk_job_record_limit: Mapped[int] = mapped_column(Integer, nullable=False, default=1000)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # IANA name; billing dates are calendar dates in this zone (see billcycle.clock).
    time_zone: Mapped[str] = mapped_column(
        String(MAX_NAME_LENGTH),
        nullable=False,
        default=DEFAULT_TIME_ZONE,
        server_default=DEFAULT_TIME_ZONE,
    )
    # A sandbox tenant's test clock: its business time, moved only by an advance
    # (billcycle.testclocks). NULL for a production tenant, which reads the real clock.
    test_clock_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Requests a minute (None: the installation's default, BILLCYCLE_RATE_LIMIT_PER_MINUTE)
    # for the whole tenant and for each of its credentials (OAuth client or API key).
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    client_rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)


class OAuthClient(IdMixin, Base):
    """A Zuora-style OAuth client; the secret is kept only as a SHA-256 digest."""

    __tablename__ = "oauth_clients"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    client_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    secret_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # Written into every access token issued to the client and compared on each request:
    # rotating the secret moves it on, so tokens issued before stop working at once (and
    # a deleted client's tokens find no row).
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")


class ApiKey(IdMixin, Base):
    """A Fusebill-style API key: ``key_id`` is looked up, the rest compared as a digest."""

    __tablename__ = "api_keys"

    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    key_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    secret_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class NumberSequence(Base):
    """Per-tenant counters for human numbers; blocks are reserved with one UPDATE."""

    __tablename__ = "number_sequences"
    tenant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class InstallationSecret(Base):
    """One row: the key that signs access tokens when BILLCYCLE_SECRET_KEY is not set."""

    __tablename__ = "installation_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[str] = mapped_column(String(128), nullable=False)
