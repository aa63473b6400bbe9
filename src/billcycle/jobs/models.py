from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billcycle.db.base import Base, TenantScoped
from billcycle.db.types import UtcDateTime


class WorkChunk(TenantScoped, Base):
    """A slice of a background job: an id range of the parent's work (a bill run's
    accounts, a bulk job's records, a run's invoices to post or email).

    A worker claims a chunk with a conditional UPDATE that sets a lease, and marks it
    done in the SAME transaction that writes the chunk's results. A worker killed at any
    moment therefore leaves either the whole chunk done or none of it, and the chunk is
    claimable again once its lease runs out.
    """

    __tablename__ = "work_chunks"
    __table_args__ = (
        Index("uq_work_chunks_seq", "kind", "parent_id", "seq", unique=True),
        Index("ix_work_chunks_claim", "status", "lease_until"),
        Index("ix_work_chunks_parent", "kind", "parent_id", "status"),
    )

    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    parent_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    first_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    # pending -> claimed -> done | cancelled
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
