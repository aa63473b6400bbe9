"""Per-tenant human numbers (A00000001, INV00000001, ...).

A block is reserved with a single ``UPDATE ... RETURNING`` so that a bill run creating a
million invoices takes one row lock, not a million. The row lock is held until the
caller's transaction ends, which serialises numbering per tenant and sequence.
"""

from __future__ import annotations

from sqlalchemy import Engine, insert, update
from sqlalchemy.orm import Session

from billcycle.ids import format_number
from billcycle.tenancy.models import NumberSequence


def reserve(session: Session, tenant_id: int, sequence: str, count: int = 1) -> int:
    """Reserve ``count`` consecutive values and return the first."""
    stmt = (
        update(NumberSequence)
        .where(NumberSequence.tenant_id == tenant_id, NumberSequence.name == sequence)
        .values(last_value=NumberSequence.last_value + count)
        .returning(NumberSequence.last_value)
    )
    last = session.execute(stmt).scalar_one_or_none()
    if last is None:
        session.execute(
            insert(NumberSequence).values(tenant_id=tenant_id, name=sequence, last_value=count)
        )
        last = count
    return last - count + 1


def next_number(session: Session, tenant_id: int, sequence: str) -> str:
    return format_number(sequence, reserve(session, tenant_id, sequence))


def number_block(
    session: Session, tenant_id: int, sequence: str, count: int, *, own_transaction: bool = False
) -> list[str]:
    """``count`` consecutive numbers.

    ``own_transaction`` (PostgreSQL): reserve them in a short transaction of their own,
    so writers running in parallel (bill-run workers) do not queue on the sequence row
    until each other's commit; they would otherwise run one after another. The price,
    as with Kill Bill's auto-increment invoice numbers: a caller that rolls back leaves
    its block unused, a gap. SQLite has a single writer, which the caller already holds:
    there the block is reserved in the caller's transaction.
    """
    bind = session.get_bind()
    if own_transaction and isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        with bind.connect() as connection, Session(connection) as own:
            first = reserve(own, tenant_id, sequence, count)
            own.commit()
    else:
        first = reserve(session, tenant_id, sequence, count)
    return [format_number(sequence, first + i) for i in range(count)]
