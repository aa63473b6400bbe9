"""Reads of an account's collections state, for the dialects and the CLI: the standing
it shows, whether collections suspended it, its overrides, the effective policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from billcycle.accounts import service as accounts
from billcycle.accounts.models import Account
from billcycle.collections import repository as repo
from billcycle.collections.models import CollectionAccount
from billcycle.collections.policy import CollectionPolicy, merged, tenant_policy
from billcycle.collections.statuses import AccountStanding
from billcycle.context import ServiceContext
from billcycle.errors import NotFound


@dataclass(frozen=True, slots=True)
class AccountCollections:
    account: Account
    standing: AccountStanding  # as shown: Collection (manual flag), PoorStanding or Good
    poor_standing_since: date | None
    suspended_on: date | None
    cancelled_on: date | None
    # The account's own values (None: the tenant's), and the policy they make.
    attempt_days: tuple[int, ...] | None
    grace_days: int | None
    policy: CollectionPolicy

    @property
    def suspended(self) -> bool:
        return self.suspended_on is not None and self.cancelled_on is None


def require_account(ctx: ServiceContext, account_id: int) -> Account:
    try:
        return accounts.require_account(ctx, account_id)
    except NotFound:
        raise NotFound(
            "Account {account} not found.", resource="account", ids={"account": account_id}
        ) from None


def standing_of(
    ctx: ServiceContext, account: Account, row: CollectionAccount | None
) -> AccountStanding:
    """The accounting status shown now: the manual flag first; then, for an account the
    policy drives, PoorStanding exactly while an invoice is overdue on the tenant's
    business clock (what the daily evaluation records, also before it ran today); a
    dunning-exempt or cancelled account keeps what was recorded."""
    if row is not None and row.in_collection:
        return AccountStanding.COLLECTION
    if row is not None and (row.dunning_exempt or row.cancelled_on is not None):
        return AccountStanding(row.standing)
    overdue = repo.overdue_invoices(ctx.session, ctx.tenant_id, ctx.clock.today(), [account.id])
    return AccountStanding.POOR_STANDING if overdue else AccountStanding.GOOD


def account_collections(ctx: ServiceContext, account_id: int) -> AccountCollections:
    account = require_account(ctx, account_id)
    row = repo.get_account_row(ctx.session, ctx.tenant_id, account.id)
    return AccountCollections(
        account=account,
        standing=standing_of(ctx, account, row),
        poor_standing_since=row.poor_standing_since if row else None,
        suspended_on=row.suspended_on if row else None,
        cancelled_on=row.cancelled_on if row else None,
        attempt_days=(
            tuple(row.attempt_days) if row is not None and row.attempt_days is not None else None
        ),
        grace_days=row.grace_days if row else None,
        policy=merged(tenant_policy(ctx), row),
    )
