"""All SQL for accounts and contacts.

``get_account`` and ``find_account_by_key`` are used by subscriptions, invoices and the
Fusebill dialect: keep their signatures stable.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account


def get_account(session: Session, tenant_id: int, account_id: int) -> Account | None:
    return session.scalars(
        select(Account).where(Account.tenant_id == tenant_id, Account.id == account_id)
    ).first()


def find_account_by_key(
    session: Session, tenant_id: int, *, account_id: int | None, number: str
) -> Account | None:
    """Zuora's account-key: the id (already parsed from hex) or the account number."""
    if account_id is not None:
        found = get_account(session, tenant_id, account_id)
        if found is not None:
            return found
    return session.scalars(
        select(Account).where(Account.tenant_id == tenant_id, Account.account_number == number)
    ).first()
