"""Invoice generation through its service, on data made through the public API."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update

from billcycle.invoicing.generator import GenerationOptions, generate_invoices
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.money import from_minor
from billcycle.runtime import Runtime
from billcycle.subscriptions.models import SubscriptionCharge
from tests.generation.helpers import subscribe
from tests.subscriptions.factories import ChargeSpec, TierSpec, flat, per_unit, setup
from tests.support.api import Api

D = Decimal


def generate(runtime: Runtime, tenant_id: int, account_ids: list[int], target: date):
    with runtime.service_context(tenant_id) as ctx:
        return generate_invoices(
            ctx, account_ids, GenerationOptions(target_date=target, invoice_date=target)
        )


def invoice_totals(runtime: Runtime, tenant_id: int) -> list[Decimal]:
    with runtime.service_context(tenant_id) as ctx:
        rows = ctx.session.execute(
            select(Invoice.amount_minor, Invoice.currency)
            .where(Invoice.tenant_id == tenant_id)
            .order_by(Invoice.id)
        ).all()
    return [from_minor(amount, currency) for amount, currency in rows]


def test_prorated_first_month_then_whole_months(api: Api, runtime: Runtime) -> None:
    """The issue's example: $30/month from 2026-01-15, BCD 1, to 2026-03-01 = 76.45."""
    tenant_id = api.tenant.tenant_id
    data = setup(runtime, tenant_id, flat("30"))
    subscribe(api, data.account_number, data.plan.rate_plan_key)

    result = generate(runtime, tenant_id, [data.account_id], date(2026, 3, 1))
    assert result.failures == {}
    assert len(result.invoice_ids) == 1
    assert result.items == 3
    assert invoice_totals(runtime, tenant_id) == [D("76.45")]
    with runtime.service_context(tenant_id) as ctx:
        items = ctx.session.execute(
            select(InvoiceItem.service_start, InvoiceItem.service_end, InvoiceItem.amount_minor)
            .where(InvoiceItem.invoice_id == result.invoice_ids[0])
            .order_by(InvoiceItem.service_start)
        ).all()
        invoice = ctx.session.get(Invoice, result.invoice_ids[0])
        assert invoice is not None
        assert invoice.status == "Draft"
        assert invoice.invoice_number.startswith("INV")
        assert invoice.due_date == date(2026, 3, 31)  # the factory account is Net 30
    assert [(s, e, a) for s, e, a in items] == [
        (date(2026, 1, 15), date(2026, 2, 1), 1645),
        (date(2026, 2, 1), date(2026, 3, 1), 3000),
        (date(2026, 3, 1), date(2026, 4, 1), 3000),
    ]

    # Nothing is billed twice: the same target again creates nothing.
    again = generate(runtime, tenant_id, [data.account_id], date(2026, 3, 1))
    assert again.invoice_ids == []
    # The next period is billed on its own.
    later = generate(runtime, tenant_id, [data.account_id], date(2026, 4, 1))
    assert len(later.invoice_ids) == 1
    assert invoice_totals(runtime, tenant_id) == [D("76.45"), D("30.00")]


def test_total_does_not_depend_on_how_the_range_is_split(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    in_steps = setup(runtime, tenant_id, flat("19.99"), bill_cycle_day=7)
    at_once = setup(runtime, tenant_id, flat("19.99"), bill_cycle_day=7)
    subscribe(api, in_steps.account_number, in_steps.plan.rate_plan_key)
    subscribe(api, at_once.account_number, at_once.plan.rate_plan_key)
    stepped = [
        generate(runtime, tenant_id, [in_steps.account_id], target)
        for target in (date(2026, 1, 20), date(2026, 3, 3), date(2026, 3, 7), date(2026, 6, 30))
    ]
    whole = generate(runtime, tenant_id, [at_once.account_id], date(2026, 6, 30))
    assert (
        sum(r.amount_minor_by_currency.get("USD", 0) for r in stepped)
        == (whole.amount_minor_by_currency["USD"])
    )
    assert sum(r.items for r in stepped) == whole.items


def test_invoice_separately_makes_its_own_invoice(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    data = setup(runtime, tenant_id, flat("10"))
    subscribe(api, data.account_number, data.plan.rate_plan_key)
    subscribe(api, data.account_number, data.plan.rate_plan_key)
    subscribe(api, data.account_number, data.plan.rate_plan_key, invoiceSeparately=True)
    result = generate(runtime, tenant_id, [data.account_id], date(2026, 1, 15))
    assert len(result.invoice_ids) == 2
    assert sorted(invoice_totals(runtime, tenant_id)) == [D("5.48"), D("10.96")]


def test_one_failing_account_does_not_stop_the_others(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    volume = ChargeSpec(
        name="Volume seats",
        charge_model="Volume Pricing",
        default_quantity="5",
        prices={"USD": [TierSpec("10", starting_unit="1", ending_unit="10")]},
    )
    good = setup(runtime, tenant_id, flat("10"))
    bad = setup(runtime, tenant_id, volume)
    subscribe(api, good.account_number, good.plan.rate_plan_key)
    subscribe(api, bad.account_number, bad.plan.rate_plan_key)
    # The API refuses unpriceable quantities up front; damage the stored segment to get
    # data that rating rejects, as a bad migration or manual edit would.
    with runtime.service_context(tenant_id) as ctx:
        ctx.session.execute(
            update(SubscriptionCharge)
            .where(SubscriptionCharge.account_id == bad.account_id)
            .values(quantity=D(50))
        )
    result = generate(runtime, tenant_id, [good.account_id, bad.account_id], date(2026, 1, 15))
    assert list(result.failures) == [bad.account_id]
    assert result.accounts_invoiced == {good.account_id}
    with runtime.service_context(tenant_id) as ctx:
        billed = ctx.session.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.account_id == bad.account_id)
        )
    assert billed == 0


def test_cancellation_after_billing_credits_the_unused_days(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    data = setup(runtime, tenant_id, flat("30"))
    number = subscribe(
        api, data.account_number, data.plan.rate_plan_key, contractEffectiveDate="2026-01-01"
    )
    generate(runtime, tenant_id, [data.account_id], date(2026, 3, 1))  # Jan, Feb, Mar
    response = api.client.put(
        f"/zuora/v1/subscriptions/{number}/cancel",
        json={"cancellationPolicy": "SpecificDate", "cancellationEffectiveDate": "2026-03-16"},
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    credit = generate(runtime, tenant_id, [data.account_id], date(2026, 3, 20))
    assert len(credit.invoice_ids) == 1
    assert invoice_totals(runtime, tenant_id) == [D("90.00"), D("-15.48")]
    # The credit is not issued twice.
    assert generate(runtime, tenant_id, [data.account_id], date(2026, 5, 1)).invoice_ids == []


def test_concurrent_generation_bills_once(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    data = setup(runtime, tenant_id, flat("30"))
    subscribe(api, data.account_number, data.plan.rate_plan_key)
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            results.append(generate(runtime, tenant_id, [data.account_id], date(2026, 3, 1)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert invoice_totals(runtime, tenant_id) == [D("76.45")]
    assert sum(len(r.invoice_ids) for r in results) == 1


@pytest.mark.parametrize(("currency", "expected"), [("JPY", D("1645")), ("KWD", D("16.452"))])
def test_minor_units_follow_the_currency(
    api: Api, runtime: Runtime, currency: str, expected: Decimal
) -> None:
    tenant_id = api.tenant.tenant_id
    price = "3000" if currency == "JPY" else "30"
    spec = ChargeSpec(prices={currency: [TierSpec(price, price_format="Flat Fee")]})
    data = setup(runtime, tenant_id, spec, currency=currency)
    subscribe(api, data.account_number, data.plan.rate_plan_key)
    result = generate(runtime, tenant_id, [data.account_id], date(2026, 1, 15))
    assert result.failures == {}
    assert invoice_totals(runtime, tenant_id) == [expected]


def test_generations_in_parallel_do_not_wait_for_each_other(
    api: Api, runtime: Runtime, database_url: str
) -> None:
    """Two bill-run workers generating different accounts at once: the second finishes
    while the first's transaction is still open (invoice numbers are reserved outside
    it), and the numbers stay unique. SQLite has one writer, so this is PostgreSQL's."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has a single writer: generations run one after another")
    tenant_id = api.tenant.tenant_id
    first = setup(runtime, tenant_id, flat("30"))
    second = setup(runtime, tenant_id, flat("40"))
    subscribe(api, first.account_number, first.plan.rate_plan_key)
    subscribe(api, second.account_number, second.plan.rate_plan_key)
    first_generated = threading.Event()
    release_first = threading.Event()
    errors: list[BaseException] = []

    def hold_open() -> None:
        try:
            with runtime.service_context(tenant_id) as ctx:
                generate_invoices(
                    ctx,
                    [first.account_id],
                    GenerationOptions(target_date=date(2026, 3, 1), invoice_date=date(2026, 3, 1)),
                )
                first_generated.set()
                release_first.wait(30)
        except BaseException as exc:
            errors.append(exc)
            first_generated.set()

    holder = threading.Thread(target=hold_open)
    holder.start()
    try:
        assert first_generated.wait(30)
        finished = threading.Event()
        worker = threading.Thread(
            target=lambda: (
                generate(runtime, tenant_id, [second.account_id], date(2026, 3, 1)),
                finished.set(),
            )
        )
        worker.start()
        # Not a timing assertion: the generous bound only keeps a regression (the second
        # generation blocked until the first commits) from hanging the suite.
        assert finished.wait(20), "the second generation waited for the first to commit"
        worker.join()
    finally:
        release_first.set()
        holder.join()
    assert errors == []
    with runtime.service_context(tenant_id) as ctx:
        numbers = ctx.session.scalars(
            select(Invoice.invoice_number).where(Invoice.tenant_id == tenant_id)
        ).all()
    assert len(numbers) == len(set(numbers)) == 2


def test_charges_that_share_their_rating_inputs_fail_under_their_own_names(
    api: Api, runtime: Runtime
) -> None:
    """Rating reads each distinct set of rating inputs once (one charge's row stands for
    every charge with the same inputs); a charge that cannot be rated still fails with a
    message that names that charge, not the one whose row was read."""
    tenant_id = api.tenant.tenant_id
    volume = ChargeSpec(
        name="Volume seats",
        charge_model="Volume Pricing",
        default_quantity="5",
        prices={"USD": [TierSpec("10", starting_unit="1", ending_unit="10")]},
    )
    first = setup(runtime, tenant_id, volume)
    second = setup(runtime, tenant_id, volume)
    subscribe(api, first.account_number, first.plan.rate_plan_key)
    subscribe(api, second.account_number, second.plan.rate_plan_key)
    with runtime.service_context(tenant_id) as ctx:
        ctx.session.execute(
            update(SubscriptionCharge)
            .where(SubscriptionCharge.account_id.in_([first.account_id, second.account_id]))
            .values(quantity=D(50))
        )
        charge_of = dict(
            ctx.session.execute(
                select(SubscriptionCharge.account_id, SubscriptionCharge.id).where(
                    SubscriptionCharge.account_id.in_([first.account_id, second.account_id])
                )
            ).all()
        )
    accounts = [first.account_id, second.account_id]
    result = generate(runtime, tenant_id, accounts, date(2026, 1, 15))
    assert sorted(result.failures) == sorted(accounts)
    for account_id in accounts:
        assert f"Charge {charge_of[account_id]}:" in result.failures[account_id]
    # Run again (the rating inputs are now known to the process): the same messages.
    again = generate(runtime, tenant_id, accounts[::-1], date(2026, 1, 15))
    assert again.failures == result.failures


def test_charges_that_differ_in_one_rating_input_rate_apart(api: Api, runtime: Runtime) -> None:
    """The rating key tells NULL from a value and one date from another: two accounts on
    one per-unit plan: one already billed through January, one ending mid-February, one
    with two units."""
    tenant_id = api.tenant.tenant_id
    accounts = [setup(runtime, tenant_id, per_unit("30")) for _ in range(4)]
    for data in accounts:
        subscribe(api, data.account_number, data.plan.rate_plan_key)
    ids = [data.account_id for data in accounts]
    with runtime.service_context(tenant_id) as ctx:
        ctx.session.execute(
            update(SubscriptionCharge)
            .where(SubscriptionCharge.account_id == ids[1])
            .values(billed_through=date(2026, 2, 1))
        )
        ctx.session.execute(
            update(SubscriptionCharge)
            .where(SubscriptionCharge.account_id == ids[2])
            .values(effective_end_date=date(2026, 2, 15))
        )
        ctx.session.execute(
            update(SubscriptionCharge)
            .where(SubscriptionCharge.account_id == ids[3])
            .values(quantity=D(2))
        )
    result = generate(runtime, tenant_id, ids, date(2026, 3, 1))
    assert result.failures == {}
    with runtime.service_context(tenant_id) as ctx:
        totals = dict(
            ctx.session.execute(
                select(Invoice.account_id, Invoice.amount_minor).where(
                    Invoice.tenant_id == tenant_id
                )
            ).all()
        )
    # From 2026-01-15, BCD 1, in advance, to 2026-03-01: Jan 15-31, Feb, Mar.
    assert totals == {ids[0]: 7645, ids[1]: 6000, ids[2]: 1645 + 1500, ids[3]: 2 * 7645}
