"""Usage rated by bill runs, through the Zuora API: hand-computed amounts for each usage
charge model, records bound to the items that billed them, freed by a cancel, billed
once by the next run; billed usage can no longer change; late usage (dated in a billed
period) billed once by the next run."""

from __future__ import annotations

from decimal import Decimal

from billcycle.ids import to_zuora_id
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from tests.support.api import Api
from tests.usage.helpers import (
    BILL_RUNS,
    FLAT,
    PER_UNIT,
    TIERED,
    USAGE,
    VOLUME,
    Customer,
    TierSpec,
    add_uoms,
    add_usage,
    items_by_charge,
    proxy_error,
    records_of,
    run_bill_run,
    subscribe,
    usage_charge,
)

OVERAGE = usage_charge("Messages", "Overage Pricing", "Message", [TierSpec("0.25")])


def _amounts(items: dict[str, list]) -> dict[str, list[tuple[str, str, str, int]]]:
    return {
        name: [
            (
                str(i.service_start),
                str(i.service_end),
                format(i.quantity.normalize(), "f"),
                i.amount_minor,
            )
            for i in rows
        ]
        for name, rows in items.items()
    }


def test_each_usage_model_is_rated_per_period(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    add_uoms(runtime, tenant_id, "Call", "GB", "Minute", "Message", "Session")
    customer = subscribe(
        api,
        runtime,
        PER_UNIT,
        TIERED,
        VOLUME,
        OVERAGE,
        FLAT,
        included_units={"Messages": Decimal(100)},
    )
    # January: 150 of each, in two records; one February record (not billed yet).
    for charge, uom in (
        ("API calls", "Call"),
        ("Storage", "GB"),
        ("Minutes", "Minute"),
        ("Messages", "Message"),
    ):
        assert add_usage(api, customer, charge, 100, "2026-01-05T10:00:00", uom).status_code == 200
        assert add_usage(api, customer, charge, 50, "2026-01-31T23:00:00", uom).status_code == 200
    assert (
        add_usage(api, customer, "API calls", 7, "2026-02-02T00:00:00", "Call").status_code == 200
    )

    run = run_bill_run(api, jobs, "2026-02-01")
    assert run["status"] == "Completed", run
    items = _amounts(items_by_charge(runtime, tenant_id, customer.account_id))
    january = ("2026-01-01", "2026-02-01")
    assert items == {
        "API calls": [(*january, "150", 1500)],  # 150 x 0.10 = 15.00
        "Storage": [(*january, "150", 12500)],  # 100 x 1 + 50 x 0.5 = 125.00
        "Minutes": [(*january, "150", 12000)],  # all 150 in tier 2: 150 x 0.8 = 120.00
        "Messages": [(*january, "150", 1250)],  # (150 - 100 included) x 0.25 = 12.50
        "Usage access": [(*january, "0", 500)],  # flat 5.00 per period
    }
    records = records_of(runtime, tenant_id, customer.account_id)
    billed = [r for r in records if r.billed_by is not None]
    assert len(billed) == 8
    assert len(records) == 9
    item_ids = {
        i.id
        for rows in items_by_charge(runtime, tenant_id, customer.account_id).values()
        for i in rows
    }
    assert {r.billed_by for r in billed} <= item_ids

    # Billed usage cannot change (usage added to a billed period is late usage: below).
    first = billed[0]
    message = proxy_error(
        api.client.put(
            f"{USAGE}/{to_zuora_id(first.id)}", json={"Quantity": 1}, headers=api.zuora_headers
        ),
        400,
    )
    assert "billed" in message
    proxy_error(
        api.client.delete(f"{USAGE}/{to_zuora_id(first.id)}", headers=api.zuora_headers), 400
    )

    # The rate detail of the tiered item explains its amount.
    storage = items_by_charge(runtime, tenant_id, customer.account_id)["Storage"][0]
    response = api.client.get(
        f"/zuora/v1/invoices/invoice-item/{to_zuora_id(storage.id)}/usage-rate-detail",
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["amountWithoutTax"] == 125.0
    assert data["quantity"] == "150"
    assert data["uom"] == "GB"
    assert data["servicePeriod"] == "01/01/2026 - 01/31/2026"
    assert data["rateDetail"].splitlines() == [
        "Tier 1: 0-100, 100 GB(s) x 1.00/GB = 100.00",
        "Tier 2: >=101, 50 GB(s) x 0.50/GB = 25.00",
        "Total = 125.00",
    ]


def test_cancelled_run_frees_usage_and_next_run_bills_it_once(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    add_uoms(runtime, tenant_id, "Call")
    customer = subscribe(api, runtime, PER_UNIT)
    for day in (3, 9, 27):
        assert (
            add_usage(
                api, customer, "API calls", 10, f"2026-01-{day:02d}T00:00:00", "Call"
            ).status_code
            == 200
        )

    run = run_bill_run(api, jobs, "2026-02-01")
    assert (
        items_by_charge(runtime, tenant_id, customer.account_id)["API calls"][0].amount_minor == 300
    )
    assert all(r.billed_by is not None for r in records_of(runtime, tenant_id, customer.account_id))

    response = api.client.put(f"{BILL_RUNS}/{run['id']}/cancel", json={}, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    jobs.run_until_idle()
    assert all(r.billed_by is None for r in records_of(runtime, tenant_id, customer.account_id))
    assert items_by_charge(runtime, tenant_id, customer.account_id) == {}
    # Freed usage can be changed again.
    record = records_of(runtime, tenant_id, customer.account_id)[0]
    response = api.client.put(
        f"{USAGE}/{to_zuora_id(record.id)}", json={"Quantity": 20}, headers=api.zuora_headers
    )
    assert response.status_code == 200, response.text

    again = run_bill_run(api, jobs, "2026-02-01")
    assert again["status"] == "Completed"
    items = items_by_charge(runtime, tenant_id, customer.account_id)["API calls"]
    assert [(i.quantity, i.amount_minor) for i in items] == [(Decimal(40), 400)]
    # A third run finds nothing more to bill.
    third = run_bill_run(api, jobs, "2026-02-01")
    assert third["invoicesCreated"] == 0
    assert len(items_by_charge(runtime, tenant_id, customer.account_id)["API calls"]) == 1


def test_partial_periods_prorate_flat_fee_and_included_units(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """Started on Jan 17 with BCD 1: the first period is 15 of 31 days. The flat fee is
    prorated (5.00 x 15/31 = 2.42), the included units too (100 x 15/31 = 48.387...),
    the per-unit quantity is not."""
    tenant_id = api.tenant.tenant_id
    add_uoms(runtime, tenant_id, "Message", "Session")
    customer = subscribe(
        api, runtime, OVERAGE, FLAT, start="2026-01-17", included_units={"Messages": Decimal(100)}
    )
    assert (
        add_usage(api, customer, "Messages", 60, "2026-01-20T00:00:00", "Message").status_code
        == 200
    )
    assert (
        add_usage(api, customer, "Messages", 60, "2026-02-03T00:00:00", "Message").status_code
        == 200
    )
    run_bill_run(api, jobs, "2026-03-01")
    items = _amounts(items_by_charge(runtime, tenant_id, customer.account_id))
    assert items == {
        # 60 - 48.387... = 11.612... x 0.25 = 2.903... -> 2.90; February: 60 <= 100 -> 0
        "Messages": [
            ("2026-01-17", "2026-02-01", "60", 290),
            ("2026-02-01", "2026-03-01", "60", 0),
        ],
        "Usage access": [
            ("2026-01-17", "2026-02-01", "0", 242),
            ("2026-02-01", "2026-03-01", "0", 500),
        ],
    }


def test_usage_follows_the_segment_an_amendment_splits_off(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """A February record created before a price change effective Feb 1 stays on the first
    segment; the bill run still bills it once, in February, at the new price."""
    from sqlalchemy import select

    from billcycle.subscriptions.models import SubscriptionCharge, SubscriptionRatePlan

    tenant_id = api.tenant.tenant_id
    add_uoms(runtime, tenant_id, "Call")
    customer = subscribe(api, runtime, PER_UNIT)
    assert (
        add_usage(api, customer, "API calls", 10, "2026-01-20T00:00:00", "Call").status_code == 200
    )
    assert (
        add_usage(api, customer, "API calls", 30, "2026-02-10T00:00:00", "Call").status_code == 200
    )
    with runtime.service_context(tenant_id) as ctx:
        plan_id = ctx.session.scalar(
            select(SubscriptionRatePlan.id).where(SubscriptionRatePlan.tenant_id == tenant_id)
        )
        charge_id = ctx.session.scalar(
            select(SubscriptionCharge.id).where(
                SubscriptionCharge.tenant_id == tenant_id,
                SubscriptionCharge.account_id == customer.account_id,
            )
        )
    assert plan_id is not None
    assert charge_id is not None
    response = api.client.put(
        f"/zuora/v1/subscriptions/{customer.subscription_number}",
        json={
            "update": [
                {
                    "ratePlanId": to_zuora_id(plan_id),
                    "contractEffectiveDate": "2026-02-01",
                    "chargeUpdateDetails": [
                        {"ratePlanChargeId": to_zuora_id(charge_id), "price": 0.2}
                    ],
                }
            ]
        },
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    run_bill_run(api, jobs, "2026-03-01")
    items = _amounts(items_by_charge(runtime, tenant_id, customer.account_id))
    assert items == {
        "API calls": [
            ("2026-01-01", "2026-02-01", "10", 100),  # 10 x 0.10
            ("2026-02-01", "2026-03-01", "30", 600),  # 30 x 0.20, the new segment's price
        ]
    }
    assert all(r.billed_by is not None for r in records_of(runtime, tenant_id, customer.account_id))


def _late_setup(api: Api, runtime: Runtime, jobs: ManualDispatcher) -> Customer:
    tenant_id = api.tenant.tenant_id
    add_uoms(runtime, tenant_id, "Call", "Minute")
    customer = subscribe(api, runtime, PER_UNIT, VOLUME)
    assert add_usage(api, customer, "Minutes", 150, "2026-01-10T00:00:00", "Minute").is_success
    assert add_usage(api, customer, "API calls", 20, "2026-01-10T00:00:00", "Call").is_success
    run = run_bill_run(api, jobs, "2026-02-01")
    assert run["status"] == "Completed", run
    items = _amounts(items_by_charge(runtime, tenant_id, customer.account_id))
    january = ("2026-01-01", "2026-02-01")
    assert items == {
        "API calls": [(*january, "20", 200)],  # 20 x 0.10
        "Minutes": [(*january, "150", 12000)],  # volume: all 150 at 0.80
    }
    return customer


def test_late_usage_is_billed_once_by_the_next_run(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    """January is billed; then usage dated January 20 arrives. It is accepted (Pending,
    still changeable), billed once by the March 1 run with the February period, and then
    can no longer change."""
    tenant_id = api.tenant.tenant_id
    customer = _late_setup(api, runtime, jobs)

    late = add_usage(api, customer, "Minutes", 30, "2026-01-20T00:00:00", "Minute")
    assert late.status_code == 200, late.text
    late_id = late.json()["Id"]
    assert add_usage(api, customer, "API calls", 5, "2026-01-25T00:00:00", "Call").is_success
    # Pending late usage may still change, like any unbilled usage.
    response = api.client.get(f"{USAGE}/{late_id}", headers=api.zuora_headers)
    assert response.json()["RbeStatus"] == "Pending"
    response = api.client.put(
        f"{USAGE}/{late_id}", json={"Quantity": 40}, headers=api.zuora_headers
    )
    assert response.status_code == 200, response.text
    assert add_usage(api, customer, "Minutes", 50, "2026-02-10T00:00:00", "Minute").is_success

    # A run whose target bills no new period leaves the late usage for the next.
    assert run_bill_run(api, jobs, "2026-02-15")["invoicesCreated"] == 0
    run = run_bill_run(api, jobs, "2026-03-01")
    assert run["status"] == "Completed", run
    items = _amounts(items_by_charge(runtime, tenant_id, customer.account_id))
    february = ("2026-02-01", "2026-03-01")
    assert items["Minutes"][1:] == [(*february, "90", 9000)]  # 50 + 40 late: tier 1, 90 x 1
    assert items["API calls"][1:] == [(*february, "5", 50)]  # 5 late x 0.10
    records = records_of(runtime, tenant_id, customer.account_id)
    assert all(r.billed_by is not None for r in records)
    assert [r.late for r in records] == [False, False, True, True, False]
    minutes = items_by_charge(runtime, tenant_id, customer.account_id)["Minutes"][1]
    assert {r.billed_by for r in records if r.usage_date.isoformat() >= "2026-01-20"} == {
        minutes.id,
        items_by_charge(runtime, tenant_id, customer.account_id)["API calls"][1].id,
    }

    detail = api.client.get(
        f"/zuora/v1/invoices/invoice-item/{to_zuora_id(minutes.id)}/usage-rate-detail",
        headers=api.zuora_headers,
    )
    assert detail.status_code == 200, detail.text
    data = detail.json()["data"]
    assert data["amountWithoutTax"] == 90.0
    assert data["quantity"] == "90"
    assert data["rateDetail"].splitlines()[-1] == (
        "Includes 40 Minute(s) of late usage dated before 02/01/2026, billed with this period."
    )

    # Billed now: changing or deleting it is refused, as Zuora refuses it.
    message = proxy_error(
        api.client.put(f"{USAGE}/{late_id}", json={"Quantity": 1}, headers=api.zuora_headers),
        400,
    )
    assert "billed" in message
    proxy_error(api.client.delete(f"{USAGE}/{late_id}", headers=api.zuora_headers), 400)

    # The next run bills it no more: March has no usage.
    run_bill_run(api, jobs, "2026-04-01")
    items = _amounts(items_by_charge(runtime, tenant_id, customer.account_id))
    assert items["Minutes"][2:] == [("2026-03-01", "2026-04-01", "0", 0)]
    assert items["API calls"][2:] == [("2026-03-01", "2026-04-01", "0", 0)]


def test_late_usage_freed_by_a_cancel_is_billed_by_the_run_after(
    api: Api, runtime: Runtime, jobs: ManualDispatcher
) -> None:
    tenant_id = api.tenant.tenant_id
    customer = _late_setup(api, runtime, jobs)
    # Late usage through a file import this time.
    content = (
        "ACCOUNT_ID,UOM,QTY,STARTDATE,CHARGE_ID\n"
        f"{customer.account_number},Call,7,01/31/2026,{customer.charge_numbers['API calls']}\n"
    ).encode()
    response = api.client.post(
        "/zuora/v1/usage",
        files={"file": ("late.csv", content, "text/csv")},
        headers=api.zuora_headers,
    )
    assert response.status_code == 200, response.text
    jobs.run_until_idle()
    assert [r.late for r in records_of(runtime, tenant_id, customer.account_id)] == [
        False,
        False,
        True,
    ]
    run = run_bill_run(api, jobs, "2026-03-01")
    assert _amounts(items_by_charge(runtime, tenant_id, customer.account_id))["API calls"][1:] == [
        ("2026-02-01", "2026-03-01", "7", 70)
    ]
    response = api.client.put(f"{BILL_RUNS}/{run['id']}/cancel", json={}, headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    jobs.run_until_idle()
    late = [r for r in records_of(runtime, tenant_id, customer.account_id) if r.quantity == 7]
    assert late[0].billed_by is None

    run_bill_run(api, jobs, "2026-03-01")
    items = _amounts(items_by_charge(runtime, tenant_id, customer.account_id))
    assert items["API calls"] == [
        ("2026-01-01", "2026-02-01", "20", 200),
        ("2026-02-01", "2026-03-01", "7", 70),
    ]
    assert all(r.billed_by is not None for r in records_of(runtime, tenant_id, customer.account_id))
