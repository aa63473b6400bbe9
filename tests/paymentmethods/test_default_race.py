"""Two make-default calls on one account at the same time: one default at the end, and
on PostgreSQL the call that reaches the unique index second is refused with a Conflict
(Zuora's lock-contention category) rather than silently undoing the other's choice."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from billcycle.db.bulk import is_postgres
from billcycle.errors import Conflict
from billcycle.paymentmethods import service
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.paymentmethods.helpers import account, token_method, wait_until_blocked


def _defaults(runtime: Runtime, tenant_id: int, account_id: int) -> list[int]:
    with runtime.session_factory() as session:
        return list(
            session.scalars(
                select(PaymentMethod.id).where(
                    PaymentMethod.tenant_id == tenant_id,
                    PaymentMethod.account_id == account_id,
                    PaymentMethod.is_default.is_(True),
                )
            )
        )


def test_the_second_of_two_overlapping_default_changes_is_a_conflict(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.session_factory() as session:
        if not is_postgres(session):
            pytest.skip("SQLite has one writer: the second call waits, then wins")
    t = tenant.tenant_id
    with runtime.service_context(t) as ctx:
        acct = account(ctx)
        token_method(ctx, acct.id)
        first = token_method(ctx, acct.id).id
        second = token_method(ctx, acct.id).id
    outcome: list[object] = []

    def other() -> None:
        try:
            with runtime.service_context(t) as ctx:
                service.make_default(ctx, service.get_method(ctx, second))
            outcome.append("won")
        except Conflict as exc:
            outcome.append(exc)

    thread = threading.Thread(target=other)
    with runtime.service_context(t) as ctx:
        service.make_default(ctx, service.get_method(ctx, first))
        thread.start()
        wait_until_blocked(runtime)  # the other call waits for this one
    thread.join(timeout=30)
    assert len(outcome) == 1
    assert isinstance(outcome[0], Conflict)
    assert _defaults(runtime, t, acct.id) == [first]


def test_racing_default_changes_leave_exactly_one_default(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """Any interleaving, either database: each call wins or is refused with a Conflict,
    and the account ends with one default, one of the winners."""
    t = tenant.tenant_id
    with runtime.service_context(t) as ctx:
        acct = account(ctx)
        ids = [token_method(ctx, acct.id).id for _ in range(4)]
    barrier = threading.Barrier(len(ids))
    results: dict[int, str] = {}

    def run(method_id: int) -> None:
        barrier.wait()
        try:
            with runtime.service_context(t) as ctx:
                service.make_default(ctx, service.get_method(ctx, method_id))
            results[method_id] = "won"
        except Conflict:
            results[method_id] = "conflict"

    threads = [threading.Thread(target=run, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == len(ids)
    winners = [i for i, r in results.items() if r == "won"]
    assert winners
    defaults = _defaults(runtime, t, acct.id)
    assert len(defaults) == 1
    assert defaults[0] in winners
