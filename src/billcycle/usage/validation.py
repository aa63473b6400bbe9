"""The rules a usage record must keep, shared by the API and the file import: pure
functions over what the repository looked up (no SQL here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation

from billcycle.errors import shown_number
from billcycle.money import decimal_places
from billcycle.usage.models import UnitOfMeasure
from billcycle.usage.repository import UsageCharge

QUANTITY_MAX = Decimal("1e15")


def check_quantity(quantity: Decimal, uom: UnitOfMeasure | None) -> str | None:
    """Why ``quantity`` is not a valid usage quantity, or None."""
    try:
        if not quantity.is_finite():
            return "Quantity must be a number."
        if quantity < 0:
            return f"Quantity must be 0 or more, got {shown_number(quantity)}."
        if quantity >= QUANTITY_MAX:
            return f"Quantity {shown_number(quantity)} is too large."
    except InvalidOperation:
        return "Quantity must be a number."
    places = decimal_places(quantity)
    if uom is not None and places > uom.decimal_places:
        return (
            f"Quantity {shown_number(quantity)} has {places} decimal places; "
            f"unit of measure {uom.name} "
            f"allows {uom.decimal_places}."
        )
    return None


def find_uom(uoms: Mapping[str, UnitOfMeasure], name: str) -> UnitOfMeasure | str:
    found = uoms.get(name.strip().lower())
    if found is None:
        return f"Unit of measure {name!r} is not defined for this tenant."
    return found


def charge_candidates(
    charges: Sequence[UsageCharge],
    *,
    account: str,
    subscription_number: str | None,
    charge_number: str | None,
    uom: UnitOfMeasure,
) -> list[UsageCharge] | str:
    """The account's usage charge segments a record in ``uom`` may bill to (before its
    date is considered), or why there are none.

    With a charge number, that charge of the account (in the subscription, if given);
    without one, the account's usage charges in this unit of measure (Zuora matches
    usage to charges by UOM the same way).
    """
    candidates = list(charges)
    if subscription_number is not None:
        candidates = [c for c in candidates if c.subscription_number == subscription_number]
        if not candidates:
            return f"Subscription {subscription_number} of account {account} has no usage charge."
    unit = uom.name.lower()
    if charge_number is not None:
        candidates = [c for c in candidates if c.charge_number == charge_number]
        if not candidates:
            return f"Usage charge {charge_number} does not exist on account {account}."
        if all((c.uom or "").lower() != unit for c in candidates):
            return (
                f"Unit of measure {uom.name} is not the unit of charge {charge_number} "
                f"({candidates[0].uom})."
            )
    else:
        candidates = [c for c in candidates if (c.uom or "").lower() == unit]
        if not candidates:
            return f"Account {account} has no usage charge in unit of measure {uom.name}."
    return candidates


def pick_active(
    candidates: Sequence[UsageCharge], *, account: str, uom: UnitOfMeasure, usage_date: date
) -> UsageCharge | str:
    """The segment a record dated ``usage_date`` bills to, or why there is none.

    A date in a billed period is late usage: accepted, and billed by the charge's next
    bill run (Zuora's Late Usage), so it goes to a segment with a period left to bill.
    """
    active = [
        c
        for c in candidates
        if c.effective_start_date <= usage_date
        and (c.effective_end_date is None or usage_date < c.effective_end_date)
    ]
    if not active:
        return (
            f"Start date {usage_date.isoformat()} is outside the subscription: no usage charge "
            f"of account {account} in {uom.name} is active on that date."
        )
    if len(active) > 1 and len({c.charge_number for c in active}) > 1:
        return (
            f"Account {account} has several usage charges in {uom.name} on "
            f"{usage_date.isoformat()}; give the ChargeNumber."
        )
    segment = active[0]
    if segment.billed_through is None or usage_date >= segment.billed_through:
        return segment
    # Late usage: its period is billed. It is billed by the next bill run of its charge,
    # with the first period that run bills (see docs/usage.md), so it needs a segment
    # of the charge with a period still to bill: this one, or a later sibling.
    if not _finished(segment):
        return segment
    later = sorted(
        (
            c
            for c in candidates
            if c.charge_number == segment.charge_number
            and c.effective_start_date >= segment.effective_start_date
            and c.id != segment.id
            and not _finished(c)
        ),
        key=lambda c: c.effective_start_date,
    )
    if later:
        return later[0]
    return (
        f"The period of {usage_date.isoformat()} of charge {segment.charge_number} is "
        "billed and the charge has ended: no later bill run can bill this usage."
    )


def _finished(charge: UsageCharge) -> bool:
    """Billed through its end date: no period of it is left to bill."""
    return (
        charge.effective_end_date is not None
        and charge.billed_through is not None
        and charge.billed_through >= charge.effective_end_date
    )


def pick_charge(
    charges: Sequence[UsageCharge],
    *,
    account: str,
    subscription_number: str | None,
    charge_number: str | None,
    uom: UnitOfMeasure,
    usage_date: date,
) -> UsageCharge | str:
    """The usage charge segment a record bills to, or why there is none."""
    candidates = charge_candidates(
        charges,
        account=account,
        subscription_number=subscription_number,
        charge_number=charge_number,
        uom=uom,
    )
    if isinstance(candidates, str):
        return candidates
    return pick_active(candidates, account=account, uom=uom, usage_date=usage_date)


def is_late(charge: UsageCharge, usage_date: date) -> bool:
    """Whether a record dated ``usage_date`` on ``charge`` is late usage: its date is
    in a period already billed (or, on a later segment, before that segment starts)."""
    return usage_date < charge.effective_start_date or (
        charge.billed_through is not None and usage_date < charge.billed_through
    )
