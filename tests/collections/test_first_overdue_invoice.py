"""Which invoice the day's evaluation takes as an account's first overdue one, and which
it attempts, when some of the account's past-due invoices are paid: the standing is
dated from the oldest invoice still owing (not from the newest, nor from a paid one),
and every owing invoice not yet attempted on its days is attempted, on both databases.

Three accounts billed for January to April (Net 30), then paid in part:

* ``latest``: January and February paid, March owing (a paying customer's month);
* ``oldest``: January owing, February and March paid (paid ahead of an older debt);
* ``two``: January partly paid, February owing, March paid.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from billcycle.accounts import service as accounts
from billcycle.clock import FrozenClock
from billcycle.collections import policy
from billcycle.collections import repository as collections_repo
from billcycle.collections.inputs import PolicyChanges
from billcycle.collections.statuses import AccountStanding, CollectionEventType
from billcycle.invoicing.models import Invoice
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.payments import service as payments
from billcycle.payments.inputs import InvoiceApplication, NewPayment
from billcycle.runtime import Runtime
from tests.billruns.helpers import create_run, customers
from tests.collections.helpers import move_to
from tests.support.api import Api

MONTHS = ("2026-01-10", "2026-02-10", "2026-03-10", "2026-04-10")


def _invoices(runtime: Runtime, tenant_id: int, account_id: int) -> list[tuple[int, date]]:
    with runtime.service_context(tenant_id) as ctx:
        rows = ctx.session.execute(
            select(Invoice.id, Invoice.due_date)
            .where(Invoice.tenant_id == tenant_id, Invoice.account_id == account_id)
            .order_by(Invoice.invoice_date, Invoice.id)
        ).all()
    return [(invoice_id, due) for invoice_id, due in rows]


def _pay(runtime: Runtime, tenant_id: int, account_id: int, invoice_id: int, amount: str) -> None:
    with runtime.service_context(tenant_id) as ctx:
        payments.create_payment(
            ctx,
            NewPayment(
                account_id=account_id,
                amount=Decimal(amount),
                currency="USD",
                invoices=(InvoiceApplication(invoice_id, Decimal(amount)),),
            ),
        )


def test_the_first_owing_invoice_dates_the_standing_and_owing_ones_are_attempted(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, clock: FrozenClock
) -> None:
    t = api.tenant.tenant_id
    (latest, _), (oldest, _), (two, _) = customers(api, runtime, 3, price="30")
    with runtime.service_context(t) as ctx:
        for account_id in (latest, oldest, two):
            accounts.require_account(ctx, account_id).auto_pay = True
    for target in MONTHS:
        move_to(clock, jobs, date.fromisoformat(target))  # dunning is off: nothing evaluated
        create_run(api, targetDate=target, autoPost=True)
        jobs.run_until_idle()
    invoices = {a: _invoices(runtime, t, a) for a in (latest, oldest, two)}
    assert all(len(found) == 4 for found in invoices.values())
    jan, feb, mar, apr = invoices[latest]
    assert [due for _, due in invoices[latest]] == [
        date(2026, 2, 9),
        date(2026, 3, 12),
        date(2026, 4, 9),
        date(2026, 5, 10),
    ]
    _pay(runtime, t, latest, jan[0], "30")
    _pay(runtime, t, latest, feb[0], "30")
    _pay(runtime, t, oldest, invoices[oldest][1][0], "30")
    _pay(runtime, t, oldest, invoices[oldest][2][0], "30")
    _pay(runtime, t, two, invoices[two][0][0], "12")
    _pay(runtime, t, two, invoices[two][2][0], "30")
    with runtime.service_context(t) as ctx:  # (a grace long enough not to suspend)
        policy.set_policy(ctx, PolicyChanges(dunning_enabled=True, grace_days=100))

    # The first evaluation, three days after March's due date (April's is not due yet).
    day = date(2026, 4, 12)
    move_to(clock, jobs, day)
    with runtime.service_context(t) as ctx:
        rows = collections_repo.plain_account_rows(ctx.session, t, [latest, oldest, two])
        events = {
            a: [
                (e.event_type, e.invoice_id)
                for e in collections_repo.page_of_events(ctx.session, t, a, after=None, limit=100)
            ]
            for a in (latest, oldest, two)
        }
    standing = AccountStanding.POOR_STANDING.value
    assert {a: (r.standing, r.poor_standing_since) for a, r in rows.items()} == {
        latest: (standing, date(2026, 4, 10)),  # March's due date + 1
        oldest: (standing, date(2026, 2, 10)),  # January's
        two: (standing, date(2026, 2, 10)),  # January's, partly paid
    }
    changed, attempt = CollectionEventType.STANDING_CHANGED, CollectionEventType.ATTEMPT
    # The standing event names the first owing invoice; each owing one is attempted once.
    assert events[latest] == [(changed, mar[0]), (attempt, mar[0])]
    assert events[oldest] == [(changed, invoices[oldest][0][0]), (attempt, invoices[oldest][0][0])]
    assert events[two] == [
        (changed, invoices[two][0][0]),
        (attempt, invoices[two][0][0]),
        (attempt, invoices[two][1][0]),
    ]
    assert apr[1] > day
