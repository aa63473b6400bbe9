"""Per-tenant human numbers (A00000001, INV00000001, ...).

A block is reserved with a single ``UPDATE ... RETURNING`` so that a bill run creating a
million invoices takes one row lock, not a million. The row lock is held until the
caller's transaction ends, which serialises numbering per tenant and sequence.
"""

from __future__ import annotations

from sqlalchemy import Engine, bindparam, insert, update
from sqlalchemy.orm import Session

from billcycle.ids import NUMBER_FORMATS, format_number
from billcycle.tenancy.models import NumberSequence

# Built once and run on the session's connection, as Core: that skips the ORM's
# bulk-update bookkeeping (no NumberSequence object is ever loaded to synchronise),
# which cost more than the statement itself on every account creation.
_RESERVE = (
    update(NumberSequence)
    .where(
        NumberSequence.tenant_id == bindparam("tenant"),
        NumberSequence.name == bindparam("sequence_name"),
    )
    .values(last_value=NumberSequence.last_value + bindparam("count"))
    .returning(NumberSequence.last_value)
)


def reserve(session: Session, tenant_id: int, sequence: str, count: int = 1) -> int:
    """Reserve ``count`` consecutive values and return the first."""
    last = (
        session.connection()
        .execute(_RESERVE, {"tenant": tenant_id, "sequence_name": sequence, "count": count})
        .scalar_one_or_none()
    )
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
        # One statement is its own transaction: autocommit saves the BEGIN and COMMIT.
        with (
            bind.connect().execution_options(isolation_level="AUTOCOMMIT") as connection,
            Session(connection) as own,
        ):
            first = reserve(own, tenant_id, sequence, count)
    else:
        first = reserve(session, tenant_id, sequence, count)
    # format_number's own formatting, its format looked up once for the block (a bill
    # run chunk numbers thousands of invoices), as one ``%`` template: the f-string's
    # nested width spec is parsed again for each number (~2x the time; a payment run's
    # writer numbers every payment).
    prefix, digits = NUMBER_FORMATS[sequence]
    template = prefix.replace("%", "%%") + f"%0{digits}d"
    return [template % value for value in range(first, first + count)]
