"""The one policy: defaults, tenant changes, account overrides, the retry rule of a
payment method, and refusals that change nothing (both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billcycle.collections import policy
from billcycle.collections.inputs import AccountOverrides, PolicyChanges
from billcycle.errors import InvalidValue, NotFound
from billcycle.paymentmethods import repository as methods
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.invoicing.factories import make_account


def test_a_tenant_without_a_policy_gets_the_defaults(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        got = policy.policy_for(ctx)
    assert got == policy.DEFAULT_POLICY
    assert got.attempt_days == (1, 3, 5)
    assert got.retry_enabled


def test_tenant_policy_and_account_overrides_merge(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    with runtime.service_context(t) as ctx:
        account = make_account(ctx)
        other = make_account(ctx, name="Other")
        changed = policy.set_policy(
            ctx,
            PolicyChanges(attempt_days=(7, 2), grace_days=10, max_consecutive_failures=5),
        )
    assert changed.attempt_days == (2, 7)
    with runtime.service_context(t) as ctx:
        policy.set_account_overrides(
            ctx, account.id, AccountOverrides(attempt_days=(1,), dunning_exempt=True)
        )
    with runtime.service_context(t) as ctx:
        mine = policy.policy_for(ctx, account.id)
        theirs = policy.policy_for(ctx, other.id)
        both = policy.policies_for(ctx, [account.id, other.id])
    assert (mine.attempt_days, mine.grace_days, mine.dunning_exempt) == ((1,), 10, True)
    assert mine.max_consecutive_failures == 5
    assert (theirs.attempt_days, theirs.dunning_exempt) == ((2, 7), False)
    assert both == {account.id: mine, other.id: theirs}
    # Another tenant still has the defaults.
    with runtime.service_context(other_tenant.tenant_id) as ctx:
        assert policy.policy_for(ctx) == policy.DEFAULT_POLICY
    # Back to the tenant's values.
    with runtime.service_context(t) as ctx:
        back = policy.set_account_overrides(ctx, account.id, AccountOverrides(attempt_days=None))
    assert back.attempt_days == (2, 7)


@pytest.mark.parametrize(
    "changes",
    [
        PolicyChanges(max_consecutive_failures=0),
        PolicyChanges(max_consecutive_failures=101),
        PolicyChanges(min_hours_between_attempts=-1),
        PolicyChanges(attempt_days=()),
        PolicyChanges(attempt_days=(1, 1)),
        PolicyChanges(grace_days=-2),
        PolicyChanges(auto_cancel_after_days=-1),
    ],
)
def test_bad_policy_values_change_nothing(
    runtime: Runtime, tenant: NewTenant, changes: PolicyChanges
) -> None:
    t = tenant.tenant_id
    with runtime.service_context(t) as ctx:
        before = policy.set_policy(ctx, PolicyChanges(grace_days=3, retry_enabled=False))
    with pytest.raises(InvalidValue), runtime.service_context(t) as ctx:
        policy.set_policy(ctx, changes)
    with runtime.service_context(t) as ctx:
        assert policy.policy_for(ctx) == before


def test_overrides_of_another_tenants_account_are_not_found(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = make_account(ctx)
    with pytest.raises(NotFound), runtime.service_context(other_tenant.tenant_id) as ctx:
        policy.set_account_overrides(ctx, account.id, AccountOverrides(dunning_exempt=True))


def test_retry_allowed_follows_the_policy_and_the_methods_own_rule(
    runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    now = runtime.clock.now()
    with runtime.service_context(t) as ctx:
        account = make_account(ctx)
        method = methods.add_method(
            ctx.session,
            PaymentMethod(
                tenant_id=t,
                account_id=account.id,
                type="CreditCard",
                status="Active",
                is_default=True,
                details={},
                use_default_retry_rule=True,
                num_consecutive_failures=0,
                total_processed_payments=0,
                total_error_payments=0,
                created_at=now,
                updated_at=now,
            ),
        )
        rules = policy.set_policy(
            ctx, PolicyChanges(max_consecutive_failures=2, min_hours_between_attempts=24)
        )
        assert policy.retry_allowed(ctx, method, rules, now)
        method.num_consecutive_failures = 1
        method.last_failed_sale_at = now - timedelta(hours=5)
        assert not policy.retry_allowed(ctx, method, rules, now)  # too soon
        assert policy.retry_allowed(ctx, method, rules, now + timedelta(hours=19))
        method.num_consecutive_failures = 2
        assert not policy.retry_allowed(ctx, method, rules, now + timedelta(days=9))  # too many
        # The method's own rule.
        method.use_default_retry_rule = False
        method.max_consecutive_payment_failures = 3
        method.payment_retry_window_hours = 1
        assert policy.retry_allowed(ctx, method, rules, now)
        # Retry rules disabled: every attempt is allowed.
        method.num_consecutive_failures = 50
        off = policy.set_policy(ctx, PolicyChanges(retry_enabled=False))
        assert policy.retry_allowed(ctx, method, off, now)
