"""All SQL for subscriptions, their rate plans and charge segments.

Subscriptions are loaded whole (rate plans, every charge segment, tiers) with one
``selectin`` query per level, so reading or amending one never issues a query per charge.
A subscription about to change is read under a row lock: amendments to the same
subscription are serialised, which keeps segment numbers and versions consistent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Select, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from billcycle.subscriptions.models import (
    Subscription,
    SubscriptionCharge,
    SubscriptionRatePlan,
)
from billcycle.subscriptions.statuses import SubscriptionStatus, TermType


def _whole(stmt: Select[Subscription], *, lock: bool) -> Select[Subscription]:
    stmt = stmt.options(
        selectinload(Subscription.rate_plans)
        .selectinload(SubscriptionRatePlan.charges)
        .selectinload(SubscriptionCharge.tiers)
    )
    if lock:
        stmt = stmt.with_for_update(of=Subscription).execution_options(populate_existing=True)
    return stmt


def get_subscription(
    session: Session, tenant_id: int, subscription_id: int, *, lock: bool = False
) -> Subscription | None:
    stmt = select(Subscription).where(
        Subscription.tenant_id == tenant_id, Subscription.id == subscription_id
    )
    return session.scalars(_whole(stmt, lock=lock)).first()


def find_subscription_by_key(
    session: Session,
    tenant_id: int,
    *,
    subscription_id: int | None,
    number: str,
    lock: bool = False,
) -> Subscription | None:
    """A subscription by id (as a dialect read it from a key), else by number."""
    if subscription_id is not None:
        found = get_subscription(session, tenant_id, subscription_id, lock=lock)
        if found is not None:
            return found
    stmt = select(Subscription).where(
        Subscription.tenant_id == tenant_id, Subscription.subscription_number == number
    )
    return session.scalars(_whole(stmt, lock=lock)).first()


def subscription_number_taken(session: Session, tenant_id: int, number: str) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    Subscription.tenant_id == tenant_id,
                    Subscription.subscription_number == number,
                )
            )
        )
    )


def add_subscription(session: Session, subscription: Subscription) -> bool:
    """Insert the subscription now (its id is needed by its rate plans and charges);
    False when its number was taken meanwhile by a concurrent request.

    The failed flush leaves the transaction for the unit of work to roll back.
    """
    session.add(subscription)
    try:
        session.flush()
    except IntegrityError:
        return False
    return True


def subscriptions_of_account(
    session: Session, tenant_id: int, account_id: int, *, offset: int, limit: int
) -> list[Subscription]:
    stmt = (
        select(Subscription)
        .where(Subscription.tenant_id == tenant_id, Subscription.account_id == account_id)
        .order_by(Subscription.id)
        .offset(offset)
        .limit(limit)
    )
    return list(session.scalars(_whole(stmt, lock=False)))


def count_subscriptions_of_account(session: Session, tenant_id: int, account_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Subscription)
            .where(Subscription.tenant_id == tenant_id, Subscription.account_id == account_id)
        )
        or 0
    )


def due_for_renewal(
    session: Session, tenant_id: int, account_ids: Sequence[int] | None, target_date: date
) -> list[Subscription]:
    """Active auto-renewing termed subscriptions whose term ends by ``target_date``,
    locked, oldest first (``account_ids=None``: every account of the tenant)."""
    stmt = select(Subscription).where(
        Subscription.tenant_id == tenant_id,
        Subscription.status == SubscriptionStatus.ACTIVE,
        Subscription.term_type == TermType.TERMED,
        Subscription.auto_renew.is_(True),
        Subscription.term_end_date.is_not(None),
        Subscription.term_end_date <= target_date,
    )
    if account_ids is not None:
        if not account_ids:
            return []
        stmt = stmt.where(Subscription.account_id.in_(list(account_ids)))
    return list(session.scalars(_whole(stmt.order_by(Subscription.id), lock=True)))


def get_charge_segment(
    session: Session, tenant_id: int, segment_id: int
) -> SubscriptionCharge | None:
    return session.scalars(
        select(SubscriptionCharge).where(
            SubscriptionCharge.tenant_id == tenant_id, SubscriptionCharge.id == segment_id
        )
    ).first()
