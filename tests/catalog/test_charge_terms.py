"""The shared reading of a charge's words, numbers and tiers (pure: no database).

The catalog reads strictly, subscriptions forgivingly; both keep their own wording,
which their wire APIs already answer with.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billcycle.catalog import charge_terms as terms
from billcycle.catalog.inputs import TierInput
from billcycle.catalog.price_tiers import catalog_tiers, override_tiers
from billcycle.catalog.vocabulary import (
    CATALOG_BILL_CYCLE_TYPES,
    BillCycleType,
    BillingPeriod,
    BillingTiming,
    ChargeModel,
    PriceFormat,
    WeekDay,
)
from billcycle.errors import InvalidValue, RuleViolation
from billcycle.subscriptions.inputs import TierInput as OverrideTier

D = Decimal
SUB = "subscription"


def test_the_catalog_reads_words_only_as_stored() -> None:
    assert terms.choice(ChargeModel, "Per Unit Pricing", "ChargeModel", "c") is ChargeModel.PerUnit
    with pytest.raises(InvalidValue) as refused:
        terms.choice(ChargeModel, "PerUnit", "ChargeModel", "c")
    assert refused.value.message == (
        "Invalid value for ChargeModel: 'PerUnit'. Allowed: Flat Fee Pricing, Per Unit "
        "Pricing, Tiered Pricing, Volume Pricing, Overage Pricing, Discount-Percentage, "
        "Discount-Fixed Amount."
    )
    assert refused.value.field == "ChargeModel"
    with pytest.raises(InvalidValue, match=r"Allowed: DefaultFromCustomer, .*SpecificDayofWeek\.$"):
        terms.choice(BillCycleType, "TermStartDay", "BillCycleType", "c", CATALOG_BILL_CYCLE_TYPES)


@pytest.mark.parametrize(
    ("spelling", "model"),
    [
        ("FlatFee", ChargeModel.FlatFee),
        ("Flat Fee Pricing", ChargeModel.FlatFee),
        ("flat_fee", ChargeModel.FlatFee),
        ("PerUnit", ChargeModel.PerUnit),
        ("Tiered", ChargeModel.Tiered),
        ("volume pricing", ChargeModel.Volume),
    ],
)
def test_subscriptions_read_every_zuora_spelling(spelling: str, model: ChargeModel) -> None:
    assert terms.charge_model(spelling, resource=SUB) is model


def test_forgiving_readers_still_refuse_unknown_words() -> None:
    with pytest.raises(RuleViolation, match="Charge model 'Stairs' is not supported"):
        terms.charge_model("Stairs", resource=SUB)
    assert terms.billing_timing("In Advance", resource=SUB) is BillingTiming.InAdvance
    assert terms.billing_period("semi-annual", resource=SUB) is BillingPeriod.Semi_Annual
    with pytest.raises(InvalidValue, match="Supported billing periods: Month, Quarter"):
        terms.billing_period("SemiAnnual", resource=SUB)
    assert terms.price_format(None, resource=SUB) is PriceFormat.PerUnit
    assert terms.price_format("flat fee", resource=SUB) is PriceFormat.FlatFee
    assert terms.bill_cycle_type("termstartday", resource=SUB) is BillCycleType.TermStartDay
    with pytest.raises(InvalidValue, match="Use one of Monday, Tuesday"):
        terms.weekday("Funday", resource=SUB)


def test_weekdays_are_numbered_as_python_numbers_them() -> None:
    monday = date(2026, 1, 5)
    for offset, day in enumerate(WeekDay):
        assert day.number == offset
        assert WeekDay.of(date.fromordinal(monday.toordinal() + offset).weekday()) is day


def test_amount_rules_of_each_api() -> None:
    with pytest.raises(InvalidValue, match=r"^Price cannot be negative \(-1\)\.$"):
        terms.amount(D(-1), "Price", "c")
    assert terms.exact_number(D("-1.50"), "price", resource=SUB) == D("-1.5")
    with pytest.raises(InvalidValue, match=r"^Invalid value for quantity: -1 must not be"):
        terms.exact_number(D(-1), "quantity", resource=SUB, negative=False)
    # The catalog stores 19 integer digits; a subscription keeps one for the quantity.
    assert terms.amount(D(10) ** 18, "Price", "c") == D(10) ** 18
    with pytest.raises(InvalidValue, match="too large"):
        terms.exact_number(D(10) ** 18, "price", resource=SUB)
    for value in (D("0.0000000001"), D("NaN")):
        with pytest.raises(InvalidValue):
            terms.amount(value, "Price", "c")
        with pytest.raises(InvalidValue):
            terms.exact_number(value, "price", resource=SUB)


def test_catalog_tiers_meet_exactly_in_every_currency() -> None:
    rows = [
        TierInput("usd", D(3), starting_unit=D(0), ending_unit=D(10)),
        TierInput("USD", D(2), starting_unit=D(11)),
        TierInput("EUR", D(3), starting_unit=D(0), ending_unit=D(10)),
        TierInput("EUR", D(2), starting_unit=D(11)),
    ]
    tiers = catalog_tiers(ChargeModel.Volume, rows)
    assert [(t.currency, t.tier, t.starting_unit, t.ending_unit) for t in tiers] == [
        ("EUR", 1, D(0), D(10)),
        ("EUR", 2, D(11), None),
        ("USD", 1, D(0), D(10)),
        ("USD", 2, D(11), None),
    ]
    with pytest.raises(InvalidValue, match="leaves a gap after tier 1"):
        catalog_tiers(
            ChargeModel.Tiered,
            [
                TierInput("USD", D(1), starting_unit=D(0), ending_unit=D(10)),
                TierInput("USD", D(1), starting_unit=D(12)),
            ],
        )


def test_override_tiers_may_leave_their_start_out() -> None:
    tiers = override_tiers(
        [
            OverrideTier(tier=2, price=D(1)),
            OverrideTier(tier=1, price=D(2), ending_unit=D(10), price_format="FlatFee"),
        ],
        resource=SUB,
    )
    assert [(t.tier, t.starting_unit, t.ending_unit, t.price_format) for t in tiers] == [
        (1, D(0), D(10), PriceFormat.FlatFee),
        (2, D(11), None, PriceFormat.PerUnit),
    ]
    with pytest.raises(InvalidValue, match=r"^Invalid value for tiers\[1\]\.endingUnit"):
        override_tiers(
            [OverrideTier(tier=1, price=D(1)), OverrideTier(tier=2, price=D(1))], resource=SUB
        )
