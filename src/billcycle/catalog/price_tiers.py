"""Reading a charge's price points: the catalog's per-currency tiers and a subscriber's
override tiers.

Both follow Zuora and :mod:`billcycle.rating.pricing`: tiers are written ``0-10, 11-20,
21-`` (each starts one unit after the previous one ends) and only the last may be
open-ended. The catalog is strict about it (every tier gives its range, the ranges meet
exactly, every currency shares them); a subscriber overriding a charge's tiers may leave
a starting unit out, and it is then read as one unit after the previous tier's end.
See :mod:`billcycle.catalog.charge_terms` for why the two APIs word their refusals
differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from billcycle.catalog import charge_terms as terms
from billcycle.catalog.inputs import TierInput
from billcycle.catalog.models import CHARGE
from billcycle.catalog.vocabulary import TIERED_MODELS, ChargeModel, PriceFormat
from billcycle.errors import DomainError, InvalidValue, MissingField
from billcycle.money import normalize_currency

_ONE = Decimal(1)
_ZERO = Decimal(0)


def _bad(message: str, field: str) -> InvalidValue:
    return InvalidValue(message, resource=CHARGE, field=field)


def _needs(message: str, field: str) -> MissingField:
    return MissingField(message, resource=CHARGE, field=field)


def next_tier_start(previous_end: Decimal | None) -> Decimal:
    """Where a tier starts when it follows one ending at ``previous_end`` (0 for the first)."""
    return previous_end + _ONE if previous_end is not None else _ZERO


# -- the catalog: one or more tiers per currency ------------------------------------------------


@dataclass(frozen=True, slots=True)
class CatalogTier:
    """A validated catalog price point, in the values its columns store."""

    currency: str
    tier: int
    starting_unit: Decimal | None
    ending_unit: Decimal | None
    price: Decimal
    price_format: PriceFormat


def tier_currency(value: str | None) -> str:
    """A tier's currency, upper-cased and known (ISO 4217)."""
    if value is None:
        raise _needs("Currency is required for every tier.", "Currency")
    try:
        return normalize_currency(value)
    except DomainError as exc:
        raise _bad(exc.message, "Currency") from None


def catalog_tiers(model: ChargeModel, tiers: Sequence[TierInput]) -> tuple[CatalogTier, ...]:
    """Every currency's tiers, validated: flat fee and per unit charges have one price
    per currency, tiered and volume charges the same ranges in every currency."""
    if not tiers:
        raise _needs(
            "ProductRatePlanChargeTierData must give at least one price.",
            "ProductRatePlanChargeTierData",
        )
    by_currency: dict[str, list[TierInput]] = {}
    for tier in tiers:
        by_currency.setdefault(tier_currency(tier.currency), []).append(tier)
    resolved: list[CatalogTier] = []
    shared_ranges: list[tuple[Decimal | None, Decimal | None]] | None = None
    for code in sorted(by_currency):
        items = by_currency[code]
        if model not in TIERED_MODELS:
            resolved.append(_single_price(model, code, items))
            continue
        currency_tiers = _ranged_tiers(code, items)
        ranges = [(tier.starting_unit, tier.ending_unit) for tier in currency_tiers]
        if shared_ranges is None:
            shared_ranges = ranges
        elif ranges != shared_ranges:
            raise _bad(
                f"Tier ranges must be the same in every currency; {code} differs.",
                "ProductRatePlanChargeTier",
            )
        resolved.extend(currency_tiers)
    return tuple(resolved)


def _price(value: Decimal | None, code: str) -> Decimal:
    if value is None:
        raise _needs(f"Price is required ({code}).", "Price")
    return terms.amount(value, "Price", CHARGE)


def _single_price(model: ChargeModel, code: str, items: list[TierInput]) -> CatalogTier:
    if len(items) != 1:
        raise _bad(
            f"{model.value} takes exactly one price per currency; {code} has {len(items)}.",
            "ProductRatePlanChargeTier",
        )
    item = items[0]
    if item.tier not in (None, 1):
        raise _bad(f"{model.value} has a single tier, numbered 1 (got {item.tier}).", "Tier")
    price_format = PriceFormat.FlatFee if model == ChargeModel.FlatFee else PriceFormat.PerUnit
    return CatalogTier(code, 1, None, None, _price(item.price, code), price_format)


def _ranged_tiers(code: str, items: list[TierInput]) -> list[CatalogTier]:
    numbers = [item.tier for item in items]
    if all(number is None for number in numbers):
        ordered = items
    elif any(number is None for number in numbers):
        raise _bad(f"Give Tier for every tier of {code} or for none.", "Tier")
    else:
        ordered = sorted(items, key=lambda item: item.tier or 0)
        if [item.tier for item in ordered] != list(range(1, len(items) + 1)):
            raise _bad(
                f"Tiers of {code} must be numbered 1 to {len(items)} without gaps or repeats.",
                "Tier",
            )
    result: list[CatalogTier] = []
    previous_end: Decimal | None = None
    for index, item in enumerate(ordered):
        number = index + 1
        start, end = _tier_range(code, number, item, last=index == len(ordered) - 1)
        if previous_end is None:
            if start not in (0, 1):
                raise _bad(
                    f"The first tier must start at 0 or 1; {code} starts at {start}.",
                    "StartingUnit",
                )
        elif start != next_tier_start(previous_end):
            problem = "overlaps" if start <= previous_end else "leaves a gap after"
            raise _bad(
                f"Tier {number} of {code} {problem} tier {number - 1}: tier {number - 1} "
                f"ends at {previous_end}, so tier {number} must start at {previous_end + 1}, "
                f"not {start}.",
                "StartingUnit",
            )
        price_format = terms.choice(
            PriceFormat, item.price_format or PriceFormat.PerUnit, "PriceFormat", CHARGE
        )
        result.append(CatalogTier(code, number, start, end, _price(item.price, code), price_format))
        previous_end = end
    return result


def _tier_range(
    code: str, number: int, item: TierInput, *, last: bool
) -> tuple[Decimal, Decimal | None]:
    if item.starting_unit is None:
        raise _needs(f"StartingUnit is required for tier {number} of {code}.", "StartingUnit")
    start = terms.amount(item.starting_unit, "StartingUnit", CHARGE)
    if item.ending_unit is None:
        if not last:
            raise _needs(
                f"EndingUnit is required for tier {number} of {code}; only the last tier "
                "may be open-ended.",
                "EndingUnit",
            )
        return start, None
    end = terms.amount(item.ending_unit, "EndingUnit", CHARGE)
    if end < start:
        raise _bad(
            f"Tier {number} of {code} ends at {end}, before it starts at {start}.", "EndingUnit"
        )
    return start, end


# -- a subscriber's override: the tiers of one charge in the account's currency ---------------


class OverrideTier(Protocol):
    """A subscriber's tier as the subscriptions service receives it."""

    @property
    def tier(self) -> int: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def starting_unit(self) -> Decimal | None: ...
    @property
    def ending_unit(self) -> Decimal | None: ...
    @property
    def price_format(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class TierTerms:
    tier: int
    starting_unit: Decimal | None
    ending_unit: Decimal | None
    price: Decimal
    price_format: PriceFormat


def override_tiers(
    tiers: Sequence[OverrideTier], field: str = "tiers", *, resource: str
) -> tuple[TierTerms, ...]:
    """Tiers numbered 1, 2, 3, ...; a missing starting unit follows the previous tier."""
    if not tiers:
        raise InvalidValue(
            f"Invalid value for {field}: at least one tier is required.",
            resource=resource,
            field=field,
        )
    ordered = sorted(tiers, key=lambda t: t.tier)
    if [t.tier for t in ordered] != list(range(1, len(ordered) + 1)):
        raise InvalidValue(
            f"Invalid value for {field}: tiers must be numbered 1, 2, 3, ...",
            resource=resource,
            field=field,
        )
    result: list[TierTerms] = []
    previous_end: Decimal | None = None
    for position, tier in enumerate(ordered):
        name = f"{field}[{tier.tier}]"
        if tier.starting_unit is not None:
            start = terms.exact_number(
                tier.starting_unit, f"{name}.startingUnit", resource=resource, negative=False
            )
        else:
            start = next_tier_start(previous_end)
        end = (
            terms.exact_number(
                tier.ending_unit, f"{name}.endingUnit", resource=resource, negative=False
            )
            if tier.ending_unit is not None
            else None
        )
        if end is None and position != len(ordered) - 1:
            raise InvalidValue(
                f"Invalid value for {name}.endingUnit: only the last tier may be open.",
                resource=resource,
            )
        if end is not None and end < start:
            raise InvalidValue(
                f"Invalid value for {name}: endingUnit is below startingUnit.", resource=resource
            )
        result.append(
            TierTerms(
                tier=tier.tier,
                starting_unit=start,
                ending_unit=end,
                price=terms.exact_number(
                    tier.price, f"{name}.price", resource=resource, negative=False
                ),
                price_format=terms.price_format(
                    tier.price_format, f"{name}.priceFormat", resource=resource
                ),
            )
        )
        previous_end = end
    return tuple(result)
