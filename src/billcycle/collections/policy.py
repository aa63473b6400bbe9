"""The one per-tenant collections policy: retry rules and dunning in a single object.

Kill Bill configures retries globally and dunning per tenant, and the two drift apart
(killbill #455). Here Zuora's tenant-level retry rules (maximum consecutive failures per
payment method, minimum hours between attempts) and Fusebill's dunning (attempt days
after the due date, grace period in poor standing before suspension, optional
auto-cancel and write-off) are fields of ONE value, read by the payment runs that retry
and by the daily evaluation that moves standing, so they cannot disagree.

An account may override the attempt days and the grace period, be dunning-exempt, or be
flagged for manual collection (``collection_accounts``); ``policy_for`` merges them.
A payment method may override the retry rule (``use_default_retry_rule`` false).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from billcycle.collections import repository as repo
from billcycle.collections.inputs import AccountOverrides, PolicyChanges
from billcycle.collections.models import CollectionAccount, CollectionPolicyRow
from billcycle.collections.statuses import AccountStanding
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.unset import UNSET

POLICY = "collection_policy"

MAX_FAILURES_RANGE = (1, 100)  # Zuora's range for "maximum consecutive failures"
MAX_ATTEMPT_DAY = 365
MAX_ATTEMPT_DAYS = 20
MAX_HOURS = 24 * 365
MAX_DAYS = 3650


@dataclass(frozen=True, slots=True)
class CollectionPolicy:
    retry_enabled: bool  # Zuora: enable retry rules
    max_consecutive_failures: int  # 1..100 per payment method
    min_hours_between_attempts: int  # do not retry if the last attempt was < N hours ago
    attempt_days: tuple[int, ...]  # Fusebill: (1, 3, 5) days after the due date
    grace_days: int  # poor standing -> Suspended after this many days
    auto_cancel_after_days: int | None
    auto_write_off: bool
    # The account's own flags (False for the tenant's policy itself).
    dunning_exempt: bool = False
    in_collection: bool = False
    # Dunning runs (daily evaluation, automatic attempts) only when the tenant turns it on;
    # the retry rules above apply to every payment run either way.
    dunning_enabled: bool = False


# The defaults of a tenant that never set its policy. Four failures: the first charge and
# the three dunning attempts; twelve hours: a retry the day after a failure is allowed
# whatever the time of day each ran. Dunning is off until the tenant turns it on: an
# installation that upgrades does not start suspending and charging customers by itself.
DEFAULT_POLICY = CollectionPolicy(
    retry_enabled=True,
    max_consecutive_failures=4,
    min_hours_between_attempts=12,
    attempt_days=(1, 3, 5),
    grace_days=7,
    auto_cancel_after_days=None,
    auto_write_off=False,
)


def _of_row(row: CollectionPolicyRow | None) -> CollectionPolicy:
    if row is None:
        return DEFAULT_POLICY
    return CollectionPolicy(
        retry_enabled=row.retry_enabled,
        max_consecutive_failures=row.max_consecutive_failures,
        min_hours_between_attempts=row.min_hours_between_attempts,
        attempt_days=tuple(row.attempt_days),
        grace_days=row.grace_days,
        auto_cancel_after_days=row.auto_cancel_after_days,
        auto_write_off=row.auto_write_off,
        dunning_enabled=row.dunning_enabled,
    )


class OverridingRow(Protocol):
    """What ``merged`` reads of an account's collections row: the ORM row or the plain
    ``repository.AccountRow`` the daily passes use."""

    @property
    def attempt_days(self) -> list[int] | None: ...
    @property
    def grace_days(self) -> int | None: ...
    @property
    def dunning_exempt(self) -> bool: ...
    @property
    def in_collection(self) -> bool: ...


def merged(tenant: CollectionPolicy, account: OverridingRow | None) -> CollectionPolicy:
    """The tenant's policy with one account's overrides."""
    if account is None:
        return tenant
    if (
        account.attempt_days is None
        and account.grace_days is None
        and account.dunning_exempt == tenant.dunning_exempt
        and account.in_collection == tenant.in_collection
    ):
        # Nothing of its own (most accounts): the same value, without building one (a
        # payment run's chunk and the daily pass merge every account they look at).
        return tenant
    return CollectionPolicy(
        retry_enabled=tenant.retry_enabled,
        max_consecutive_failures=tenant.max_consecutive_failures,
        min_hours_between_attempts=tenant.min_hours_between_attempts,
        attempt_days=(
            tuple(account.attempt_days) if account.attempt_days is not None else tenant.attempt_days
        ),
        grace_days=account.grace_days if account.grace_days is not None else tenant.grace_days,
        auto_cancel_after_days=tenant.auto_cancel_after_days,
        auto_write_off=tenant.auto_write_off,
        dunning_exempt=account.dunning_exempt,
        in_collection=account.in_collection,
        dunning_enabled=tenant.dunning_enabled,
    )


def tenant_policy(ctx: ServiceContext) -> CollectionPolicy:
    return _of_row(repo.get_policy(ctx.session, ctx.tenant_id))


def policy_for(ctx: ServiceContext, account_id: int | None = None) -> CollectionPolicy:
    """The tenant's policy, with ``account_id``'s overrides when given."""
    tenant = tenant_policy(ctx)
    if account_id is None:
        return tenant
    return merged(tenant, repo.get_account_row(ctx.session, ctx.tenant_id, account_id))


def policies_for(ctx: ServiceContext, account_ids: Sequence[int]) -> dict[int, CollectionPolicy]:
    """``policy_for`` of many accounts in two queries (a payment run's chunk)."""
    tenant = tenant_policy(ctx)
    rows = repo.plain_account_rows(ctx.session, ctx.tenant_id, account_ids)
    return {account_id: merged(tenant, rows.get(account_id)) for account_id in account_ids}


def method_rule(method: PaymentMethod, policy: CollectionPolicy) -> tuple[int, int]:
    """(maximum consecutive failures, minimum hours between attempts) for ``method``: its
    own where it does not use the default rule and sets them, the policy's otherwise."""
    if method.use_default_retry_rule:
        return policy.max_consecutive_failures, policy.min_hours_between_attempts
    failures = method.max_consecutive_payment_failures
    hours = method.payment_retry_window_hours
    return (
        failures if failures is not None else policy.max_consecutive_failures,
        hours if hours is not None else policy.min_hours_between_attempts,
    )


def retry_allowed(
    ctx: ServiceContext, method: PaymentMethod, policy: CollectionPolicy, now: datetime
) -> bool:
    """Whether Zuora's retry rules let a payment run charge ``method`` at ``now``.

    With retry rules disabled every attempt is allowed. Otherwise a method that failed
    its maximum consecutive times is not charged again (a success resets the count), nor
    one whose last failed attempt is less than the window's hours old.
    """
    del ctx  # the policy is already resolved; kept so callers need not change if it grows
    if not policy.retry_enabled:
        return True
    max_failures, hours = method_rule(method, policy)
    if method.num_consecutive_failures >= max_failures:
        return False
    last = method.last_failed_sale_at
    return not (last is not None and hours > 0 and now - last < timedelta(hours=hours))


# -- changing the policy ---------------------------------------------------------------


def _count(value: int, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidValue(
            f"{field} must be a whole number from {low} to {high}.", resource=POLICY, field=field
        )
    return value


def _days(days: Sequence[int], field: str) -> list[int]:
    if not days or len(days) > MAX_ATTEMPT_DAYS:
        raise InvalidValue(
            f"{field} needs 1 to {MAX_ATTEMPT_DAYS} days.", resource=POLICY, field=field
        )
    checked = [_count(day, field, 0, MAX_ATTEMPT_DAY) for day in days]
    if len(set(checked)) != len(checked):
        raise InvalidValue(f"{field} lists a day twice.", resource=POLICY, field=field)
    return sorted(checked)


def default_row_values() -> dict[str, object]:
    defaults = DEFAULT_POLICY
    return {
        "retry_enabled": defaults.retry_enabled,
        "max_consecutive_failures": defaults.max_consecutive_failures,
        "min_hours_between_attempts": defaults.min_hours_between_attempts,
        "attempt_days": list(defaults.attempt_days),
        "grace_days": defaults.grace_days,
        "auto_cancel_after_days": defaults.auto_cancel_after_days,
        "auto_write_off": defaults.auto_write_off,
        "dunning_enabled": defaults.dunning_enabled,
    }


def set_policy(ctx: ServiceContext, changes: PolicyChanges) -> CollectionPolicy:
    """Change the tenant's policy; every value is checked before anything changes."""
    values: dict[str, object] = {}
    if changes.retry_enabled is not UNSET:
        values["retry_enabled"] = bool(changes.retry_enabled)
    if changes.max_consecutive_failures is not UNSET:
        values["max_consecutive_failures"] = _count(
            changes.max_consecutive_failures, "maxConsecutiveFailures", *MAX_FAILURES_RANGE
        )
    if changes.min_hours_between_attempts is not UNSET:
        values["min_hours_between_attempts"] = _count(
            changes.min_hours_between_attempts, "minHoursBetweenAttempts", 0, MAX_HOURS
        )
    if changes.attempt_days is not UNSET:
        values["attempt_days"] = _days(changes.attempt_days, "attemptDays")
    if changes.grace_days is not UNSET:
        values["grace_days"] = _count(changes.grace_days, "graceDays", 0, MAX_DAYS)
    if changes.auto_cancel_after_days is not UNSET:
        days = changes.auto_cancel_after_days
        values["auto_cancel_after_days"] = (
            None if days is None else _count(days, "autoCancelAfterDays", 0, MAX_DAYS)
        )
    if changes.auto_write_off is not UNSET:
        values["auto_write_off"] = bool(changes.auto_write_off)
    if changes.dunning_enabled is not UNSET:
        values["dunning_enabled"] = bool(changes.dunning_enabled)
    row = repo.lock_policy(ctx.session, ctx.tenant_id)
    if row is None:
        repo.ensure_policy(ctx.session, ctx.tenant_id, default_row_values(), ctx.clock.now())
        row = repo.lock_policy(ctx.session, ctx.tenant_id)
        assert row is not None
    write_off = values.get("auto_write_off", row.auto_write_off)
    cancel = values.get("auto_cancel_after_days", row.auto_cancel_after_days)
    if write_off and cancel is None:
        # The write-off ends dunning; without a cancellation it would put a suspended
        # customer back to Good (nothing overdue) and resume its service.
        raise RuleViolation(
            "autoWriteOff needs autoCancelAfterDays: the write-off happens when the account "
            "is cancelled.",
            resource=POLICY,
            field="autoWriteOff",
        )
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = ctx.clock.now()
    ctx.session.flush()
    return _of_row(row)


def account_row(ctx: ServiceContext, account_id: int) -> CollectionAccount:
    """The account's collections row, created (Good, no overrides) when it has none."""
    row = repo.get_account_row(ctx.session, ctx.tenant_id, account_id)
    if row is not None:
        return row
    return repo.ensure_account_row(ctx.session, ctx.tenant_id, account_id, ctx.clock.now())


def set_account_overrides(
    ctx: ServiceContext, account_id: int, changes: AccountOverrides
) -> CollectionPolicy:
    """Change one account's overrides and flags (the account must be the tenant's)."""
    from billcycle.accounts import service as accounts

    try:
        accounts.require_account(ctx, account_id)
    except NotFound:
        raise NotFound(
            "Account {account} not found.", resource="account", ids={"account": account_id}
        ) from None
    values: dict[str, object] = {}
    if changes.attempt_days is not UNSET:
        days = changes.attempt_days
        values["attempt_days"] = None if days is None else _days(days, "attemptDays")
    if changes.grace_days is not UNSET:
        grace = changes.grace_days
        values["grace_days"] = None if grace is None else _count(grace, "graceDays", 0, MAX_DAYS)
    if changes.dunning_exempt is not UNSET:
        values["dunning_exempt"] = bool(changes.dunning_exempt)
    if changes.in_collection is not UNSET:
        values["in_collection"] = bool(changes.in_collection)
    row = account_row(ctx, account_id)
    for key, value in values.items():
        setattr(row, key, value)
    row.updated_at = ctx.clock.now()
    ctx.session.flush()
    return merged(tenant_policy(ctx), row)


def shown_standing(row: CollectionAccount | None) -> AccountStanding:
    """The accounting status a dialect shows: the manual flag first, then the state."""
    if row is None:
        return AccountStanding.GOOD
    if row.in_collection:
        return AccountStanding.COLLECTION
    return AccountStanding(row.standing)
