"""A tenant's configured payment gateways, and the test gateway's charge book."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped, Timestamps
from billcycle.db.types import BigId, UtcDateTime


class PaymentGateway(TenantScoped, Timestamps, Base):
    """One gateway a tenant can charge through (Zuora's payment gateway: ``id``,
    ``name``, ``type``, ``isActive``, ``isDefault``).

    ``type`` names a gateway type found in the ``billcycle.gateways`` entry-point group;
    ``settings`` is what that type checked and stored. At most one gateway per tenant is
    the default, held by a partial unique index (what the service checks, the database
    also guarantees under concurrent changes).
    """

    __tablename__ = "payment_gateways"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index(
            "ix_payment_gateways_one_default",
            "tenant_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    name: Mapped[str] = mapped_column(String(64), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False)


class TestGatewayCharge(TenantScoped, Base):
    """One transaction the test gateway received: a sale, a refund or a void.

    This is the *gateway's* record, written in the test gateway's own short transaction
    as a remote gateway records a charge independently of billcycle's unit of work: a
    charge approved for a process that was killed before its commit is still here for
    the reconciler to find. One row per (tenant, idempotency key): the same key twice is
    the same transaction. No card number is ever stored, only the token.

    ``tenant_id`` carries no foreign key (the gateway's does, with its cascade): a payment
    run books a row per sale (migration 0034).
    """

    __test__ = False  # not a pytest test class, whatever its name says
    __tablename__ = "test_gateway_charges"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        # A refund's or void's sale: only rows with a parent are in this index (a sale
        # has none; read by ``parent_id = ?`` and the cascade only: migration 0037).
        Index(
            "ix_test_gateway_charges_parent_id",
            "parent_id",
            sqlite_where=text("parent_id IS NOT NULL"),
            postgresql_where=text("parent_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[int] = mapped_column(BigId, nullable=False)
    # No foreign key (migration 0044_pgfk_fewer_fk_checks): every charge's check locked
    # the one gateway row (``FOR KEY SHARE``; two workers' sends: a multixact), and
    # gateways are never deleted (deactivated: ``is_active``).
    gateway_id: Mapped[int] = mapped_column(BigId, nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # TransactionKind
    # The sale a refund or void is of.
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("test_gateway_charges.id", ondelete="CASCADE")
    )
    state: Mapped[str] = mapped_column(String(10), nullable=False)  # ChargeState
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    token: Mapped[str | None] = mapped_column(String(100))
    code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(String(200))
    # A pending sale becomes approved at this machine-clock instant.
    settles_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
