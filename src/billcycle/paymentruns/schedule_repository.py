"""All SQL of payment-run schedules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from billcycle.paymentruns.schedule_models import PaymentRunSchedule
from billcycle.tenancy.repository import sandbox_tenant_ids

_s = PaymentRunSchedule.__table__.c


def get(session: Session, tenant_id: int) -> PaymentRunSchedule | None:
    return session.scalars(
        select(PaymentRunSchedule).where(PaymentRunSchedule.tenant_id == tenant_id)
    ).first()


def add(session: Session, schedule: PaymentRunSchedule) -> None:
    session.add(schedule)
    session.flush()


def remove(session: Session, tenant_id: int) -> int:
    result = session.execute(
        delete(PaymentRunSchedule).where(PaymentRunSchedule.tenant_id == tenant_id)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def due_tenants(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Production tenants whose active schedule is due (sandbox tenants' schedules fire
    when their test clock is advanced).

    Tenant: the scheduler serves the whole installation; each row names its tenant.
    """
    return list(
        session.scalars(
            select(_s.tenant_id)
            .where(
                _s.active.is_(True),
                _s.next_run_at <= now,
                _s.tenant_id.not_in(sandbox_tenant_ids()),
            )
            .order_by(_s.next_run_at)
            .limit(limit)
        )
    )


def next_time(session: Session, tenant_id: int, after: datetime) -> datetime | None:
    """The tenant's next occurrence after ``after`` (a test clock's next step)."""
    found: datetime | None = session.scalar(
        select(func.min(_s.next_run_at)).where(
            _s.tenant_id == tenant_id, _s.active.is_(True), _s.next_run_at > after
        )
    )
    return found


def claim(
    session: Session, tenant_id: int, due: datetime, following: datetime, now: datetime
) -> bool:
    """Move the schedule from the occurrence ``due`` to ``following``: True for the one
    caller that moved it (and so creates the occurrence's run)."""
    result = session.execute(
        update(PaymentRunSchedule)
        .where(
            _s.tenant_id == tenant_id,
            _s.active.is_(True),
            _s.next_run_at == due,
        )
        .values(next_run_at=following, last_run_at=due, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
