"""All SQL of the test gateway's charge book. Each function runs in the test gateway's
own short transaction (never billcycle's unit of work): the book is the gateway's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from billcycle.gateways.models import TestGatewayCharge
from billcycle.gateways.statuses import ChargeState, TransactionKind


def find_by_key(session: Session, tenant_id: int, key: str) -> TestGatewayCharge | None:
    return session.scalars(
        select(TestGatewayCharge).where(
            TestGatewayCharge.tenant_id == tenant_id, TestGatewayCharge.idempotency_key == key
        )
    ).first()


def find_by_id(session: Session, tenant_id: int, charge_id: int) -> TestGatewayCharge | None:
    return session.scalars(
        select(TestGatewayCharge).where(
            TestGatewayCharge.tenant_id == tenant_id, TestGatewayCharge.id == charge_id
        )
    ).first()


def find_by_keys(
    session: Session, tenant_id: int, keys: Sequence[str]
) -> dict[str, TestGatewayCharge]:
    """The transactions recorded under any of ``keys``, by key (one statement per 500)."""
    found: dict[str, TestGatewayCharge] = {}
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), 500):
        for row in session.scalars(
            select(TestGatewayCharge).where(
                TestGatewayCharge.tenant_id == tenant_id,
                TestGatewayCharge.idempotency_key.in_(ordered[start : start + 500]),
            )
        ):
            found[row.idempotency_key] = row
    return found


def insert_charges(session: Session, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """Many transactions in one batched INSERT ... RETURNING, in ``rows``' order, as
    plain rows of every column (no ORM object).

    Tenant: each row carries its tenant_id (the gateway's own)."""
    if not rows:
        return []
    table = TestGatewayCharge.__table__
    assert isinstance(table, Table)
    return list(
        session.execute(
            insert(table).returning(*table.c, sort_by_parameter_order=True), list(rows)
        ).all()
    )


def insert_charge(session: Session, charge: TestGatewayCharge) -> TestGatewayCharge:
    session.add(charge)
    session.flush()
    return charge


def lock_charge(session: Session, tenant_id: int, charge_id: int, now: datetime) -> bool:
    """Serialise changes to one sale (refunds, voids): a write first, so it takes the row
    lock on PostgreSQL and the database's write lock on SQLite before anything is read
    (a ``SELECT ... FOR UPDATE`` would not lock on SQLite). False when not found."""
    result = session.execute(
        update(TestGatewayCharge)
        .where(TestGatewayCharge.tenant_id == tenant_id, TestGatewayCharge.id == charge_id)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def refunded_minor(session: Session, tenant_id: int, sale_id: int) -> int:
    """What approved refunds gave back of one sale."""
    total = session.scalar(
        select(func.coalesce(func.sum(TestGatewayCharge.amount_minor), 0)).where(
            TestGatewayCharge.tenant_id == tenant_id,
            TestGatewayCharge.parent_id == sale_id,
            TestGatewayCharge.kind == TransactionKind.REFUND,
            TestGatewayCharge.state == ChargeState.APPROVED,
        )
    )
    return int(total or 0)


def settle_pending(
    session: Session, tenant_id: int, charge_id: int, now: datetime, *, force: bool = False
) -> bool:
    """A pending sale whose settling time has come (any, with ``force``) becomes
    approved; a conditional UPDATE, so two callers settle it once."""
    conditions = [
        TestGatewayCharge.tenant_id == tenant_id,
        TestGatewayCharge.id == charge_id,
        TestGatewayCharge.state == ChargeState.PENDING,
    ]
    if not force:
        conditions.append(TestGatewayCharge.settles_at <= now)
    result = session.execute(
        update(TestGatewayCharge)
        .where(*conditions)
        .values(state=ChargeState.APPROVED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def mark_voided(session: Session, tenant_id: int, charge_id: int, now: datetime) -> bool:
    """An approved or pending sale becomes voided (conditional on its state)."""
    result = session.execute(
        update(TestGatewayCharge)
        .where(
            TestGatewayCharge.tenant_id == tenant_id,
            TestGatewayCharge.id == charge_id,
            TestGatewayCharge.state.in_([ChargeState.APPROVED, ChargeState.PENDING]),
        )
        .values(state=ChargeState.VOIDED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
