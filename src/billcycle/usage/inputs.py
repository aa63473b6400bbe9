"""What the usage services take (parsed from the wire by the dialects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billcycle.unset import UNSET, Unset


@dataclass(frozen=True, slots=True)
class NewUsage:
    """One usage record: the account by id or number, the charge by number (or found by
    the account's usage charge with this UOM), optionally the subscription by number."""

    account_id: int | None
    account_number: str | None
    subscription_number: str | None
    charge_number: str | None
    start: datetime
    end: datetime | None
    uom: str
    quantity: Decimal
    description: str | None = None


@dataclass(frozen=True, slots=True)
class UsageChanges:
    start: datetime | Unset = UNSET
    end: datetime | Unset | None = UNSET
    uom: str | Unset = UNSET
    quantity: Decimal | Unset = UNSET


@dataclass(frozen=True, slots=True)
class NewUom:
    name: str
    decimal_places: int = 0
    display_name: str | None = None
