"""Charge models: the un-prorated, unrounded price of one full period.

Nothing here rounds: proration happens first and the engine rounds each item exactly
once with :func:`billcycle.money.round_money`, so a partial period is never the
rounding of an already-rounded number.
"""

from __future__ import annotations

from decimal import Decimal

from billcycle.rating.types import ChargeModel, ChargeTerms, PriceFormat, Tier

_ZERO = Decimal(0)
_ONE = Decimal(1)
_DISCOUNTS = frozenset({ChargeModel.DiscountPercentage, ChargeModel.DiscountFixed})


def _tier_floor(tier: Tier) -> Decimal:
    """Exclusive lower bound of a tier: Zuora writes tiers as 0-10, 11-20, ... and a tier
    starting at unit ``n`` owns the quantity above ``n - 1``, so fractional quantities
    between two integer-bounded tiers (10.5) still belong to exactly one tier."""
    return tier.starting_unit - _ONE


def tiered_amount(tiers: tuple[Tier, ...], quantity: Decimal) -> Decimal:
    """Each tier prices only the units that fall inside it (graduated pricing)."""
    if not tiers:
        raise ValueError("Tiered pricing needs at least one tier.")
    if quantity < _ZERO:
        raise ValueError(f"Tiered pricing cannot rate a negative quantity ({quantity:f}).")
    total = _ZERO
    for tier in tiers:
        floor = _tier_floor(tier)
        if floor < _ZERO:
            floor = _ZERO  # a first tier written "0-10" still holds 10 units, not 11
        if quantity <= floor:
            continue
        ceiling = tier.ending_unit
        top = quantity if ceiling is None or quantity < ceiling else ceiling
        if top <= floor:
            continue
        if tier.price_format == PriceFormat.FlatFee:
            total += tier.price
        else:
            total += tier.price * (top - floor)
    return total


def volume_tier(tiers: tuple[Tier, ...], quantity: Decimal) -> Tier:
    """The single tier whose range holds the whole quantity."""
    if not tiers:
        raise ValueError("Volume pricing needs at least one tier.")
    for tier in tiers:
        ceiling = tier.ending_unit
        if _tier_floor(tier) < quantity and (ceiling is None or quantity <= ceiling):
            return tier
    raise ValueError(f"Volume pricing: quantity {quantity:f} falls outside every tier.")


def volume_amount(tiers: tuple[Tier, ...], quantity: Decimal) -> Decimal:
    """The tier holding the whole quantity prices every unit (or once, if flat)."""
    tier = volume_tier(tiers, quantity)
    if tier.price_format == PriceFormat.FlatFee:
        return tier.price
    return tier.price * quantity


def price_and_unit_price(terms: ChargeTerms) -> tuple[Decimal, Decimal]:
    """One full period's price and the unit price to print on the invoice line.

    Computed together because the engine needs both once per call. For Tiered and
    Volume the unit price is the effective average (period price / quantity, unrounded,
    0 for a zero quantity): a single tier's price would not reproduce the amount.
    """
    model = terms.charge_model
    quantity = terms.quantity
    if model in _DISCOUNTS:
        # A discount has no price of its own: its amount is a share of other items.
        return _ZERO, _ZERO
    if model == ChargeModel.FlatFee:
        return terms.price, terms.price
    if model == ChargeModel.PerUnit or model == ChargeModel.Overage:
        # Overage is a usage model (rated by rating/usage.py from usage records); here
        # its quantity prices like per unit, for callers that show a charge's price.
        return terms.price * quantity, terms.price
    try:
        if model == ChargeModel.Tiered:
            amount = tiered_amount(terms.tiers, quantity)
        elif model == ChargeModel.Volume:
            amount = volume_amount(terms.tiers, quantity)
        else:
            raise ValueError(f"unknown charge model {model!r}.")
    except ValueError as exc:
        # Rating runs in bulk: name the charge so the bad catalog entry can be found.
        raise ValueError(f"Charge {terms.charge_id}: {exc}") from None
    return amount, (amount / quantity if quantity else _ZERO)


def period_price(terms: ChargeTerms) -> Decimal:
    """The un-prorated amount of one full period, before rounding."""
    return price_and_unit_price(terms)[0]
