"""Generated account numbers when several server processes create accounts (on PostgreSQL
each reserves a block of its own), and the account's contacts written with it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from billcycle.accounts import numbers, repository
from billcycle.accounts.models import Account, Contact
from billcycle.db.engine import make_engine
from billcycle.db.session import make_session_factory
from billcycle.ids import format_number
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.accounts.factories import new_account


@pytest.fixture
def other_process(runtime: Runtime, database_url: str) -> Iterator[Runtime]:
    """A second server process on the same database: an engine (and pool) of its own."""
    engine = make_engine(database_url)
    yield Runtime(
        settings=runtime.settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        clock=runtime.clock,
        machine_clock=runtime.machine_clock,
    )
    engine.dispose()


def _create(runtime: Runtime, tenant: NewTenant) -> Account:
    with runtime.service_context(tenant.tenant_id) as ctx:
        return new_account(ctx)


def test_processes_number_from_blocks_of_their_own(
    runtime: Runtime, other_process: Runtime, tenant: NewTenant
) -> None:
    created = [
        _create(runtime, tenant),
        _create(other_process, tenant),
        _create(runtime, tenant),
        _create(other_process, tenant),
    ]
    got = [account.account_number for account in created]
    if runtime.engine.dialect.name == "postgresql":
        # The second process's block starts after the first's; each hands out its own
        # numbers in order.
        block = numbers.BLOCK
        expected = [1, block + 1, 2, block + 2]
    else:
        # SQLite: reserved in the creating transaction, one at a time.
        expected = [1, 2, 3, 4]
    assert got == [format_number("account", n) for n in expected]


def test_a_generated_number_taken_meanwhile_is_skipped(runtime: Runtime, tenant: NewTenant) -> None:
    first = _create(runtime, tenant)
    # An import stored the next number before the reserved-prefix rule existed.
    taken = format_number("account", 2)
    with runtime.service_context(tenant.tenant_id) as ctx:
        values = {
            column: getattr(first, column)
            for column in ("tenant_id", "name", "currency", "bill_cycle_day", "batch")
        }
        values |= {
            "payment_term": first.payment_term,
            "status": first.status,
            "auto_pay": False,
            "created_at": first.created_at,
            "updated_at": first.updated_at,
            "account_number": taken,
        }
        assert repository.insert_account(ctx.session, values) is not None
    assert _create(runtime, tenant).account_number == format_number("account", 3)


@pytest.mark.parametrize("same", [False, True])
def test_the_account_and_its_contacts_point_at_each_other(
    runtime: Runtime, tenant: NewTenant, same: bool
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = new_account(ctx, sold_to_same_as_bill_to=same)
    with runtime.service_context(tenant.tenant_id) as ctx:
        stored = ctx.session.get(Account, account.id)
        assert stored is not None
        assert (stored.bill_to_contact_id, stored.sold_to_contact_id) == (
            account.bill_to_contact_id,
            account.sold_to_contact_id,
        )
        contacts = ctx.session.scalars(
            select(Contact).where(Contact.account_id == account.id).order_by(Contact.id)
        ).all()
        assert [c.id for c in contacts] == sorted(
            {account.bill_to_contact_id, account.sold_to_contact_id}
        )
        assert all(c.tenant_id == tenant.tenant_id for c in contacts)
        assert all((c.first_name, c.sequence) == ("Ada", 0) for c in contacts)
        assert (account.bill_to_contact_id == account.sold_to_contact_id) is same
