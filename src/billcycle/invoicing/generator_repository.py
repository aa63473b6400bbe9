"""SQL of invoice generation: a few set-based statements per chunk of accounts.

Everything here reads and writes Core rows (not ORM objects): generation runs over
millions of charges, and ORM identity-map bookkeeping would dominate its cost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, TypeAlias

from sqlalchemy import Row, and_, insert, or_, select, update
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.subscriptions.models import Subscription, SubscriptionCharge, SubscriptionChargeTier

# A Core row of any shape (SQLAlchemy 2.1 rows are variadic generics).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

_charge = SubscriptionCharge.__table__.c
_sub = Subscription.__table__.c
_tier = SubscriptionChargeTier.__table__.c
_account = Account.__table__.c

CHARGE_COLUMNS = (
    _charge.id,
    _charge.account_id,
    _charge.subscription_id,
    _charge.name,
    _charge.charge_type,
    _charge.charge_model,
    _charge.billing_period,
    _charge.specific_billing_period,
    _charge.billing_timing,
    _charge.bill_cycle_day,
    _charge.weekly_bill_cycle_day,
    _charge.currency,
    _charge.quantity,
    _charge.price,
    _charge.effective_start_date,
    _charge.effective_end_date,
    _charge.grid_start_date,
    _charge.billed_through,
    _sub.invoice_separately,
)


def lock_accounts(session: Session, tenant_id: int, account_ids: Sequence[int]) -> None:
    """Serialise generation per account: a second generator for the same accounts waits
    here and then sees the first one's watermarks (PostgreSQL; SQLite has one writer)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        select(_account.id)
        .where(_account.tenant_id == tenant_id, _account.id.in_(account_ids))
        .order_by(_account.id)
        .with_for_update()
    ).all()


def load_accounts(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> dict[int, AnyRow]:
    rows = session.execute(
        select(
            _account.id,
            _account.currency,
            _account.bill_cycle_day,
            _account.payment_term,
        ).where(_account.tenant_id == tenant_id, _account.id.in_(account_ids))
    ).all()
    return {row.id: row for row in rows}


def load_billable_charges(
    session: Session,
    tenant_id: int,
    account_ids: Sequence[int],
    target_date: date,
    *,
    subscription_ids: Sequence[int] | None = None,
    exclude_charge_types: Iterable[str] = (),
) -> list[AnyRow]:
    """Charge segments that may have something to bill (or credit) by ``target_date``.

    The filter is deliberately coarse (rating makes the exact call) but prunes the
    common case: a segment already billed past the target date, or fully billed.
    """
    stmt = (
        select(*CHARGE_COLUMNS)
        .join(Subscription, _sub.id == _charge.subscription_id)
        .where(
            _charge.tenant_id == tenant_id,
            _charge.account_id.in_(account_ids),
            _charge.effective_start_date <= target_date,
            or_(
                _charge.billed_through.is_(None),
                and_(
                    _charge.billed_through <= target_date,
                    or_(
                        _charge.effective_end_date.is_(None),
                        _charge.billed_through < _charge.effective_end_date,
                    ),
                ),
                # A span billed past a (new) end date must be credited back.
                _charge.billed_through > _charge.effective_end_date,
            ),
        )
        .order_by(_charge.account_id, _charge.subscription_id, _charge.id)
    )
    if subscription_ids is not None:
        stmt = stmt.where(_charge.subscription_id.in_(subscription_ids))
    excluded = list(exclude_charge_types)
    if excluded:
        stmt = stmt.where(_charge.charge_type.not_in(excluded))
    return list(session.execute(stmt).all())


def load_tiers(session: Session, charge_ids: Sequence[int]) -> dict[int, list[AnyRow]]:
    if not charge_ids:
        return {}
    rows = session.execute(
        select(
            _tier.subscription_charge_id,
            _tier.starting_unit,
            _tier.ending_unit,
            _tier.price,
            _tier.price_format,
        )
        .where(_tier.subscription_charge_id.in_(charge_ids))
        .order_by(_tier.subscription_charge_id, _tier.tier)
    ).all()
    grouped: dict[int, list[AnyRow]] = defaultdict(list)
    for row in rows:
        grouped[row.subscription_charge_id].append(row)
    return grouped


def insert_invoices(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert invoice rows and return their ids in the order given."""
    if not rows:
        return []
    result = session.execute(
        insert(Invoice).returning(Invoice.id, sort_by_parameter_order=True), rows
    )
    return [row[0] for row in result.all()]


def insert_items(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(InvoiceItem), rows)


def advance_watermarks(session: Session, rows: list[dict[str, Any]]) -> None:
    """rows: ``{"id": charge id, "billed_through": date, "last_billed_at": datetime}``."""
    if rows:
        session.execute(update(SubscriptionCharge), rows)
