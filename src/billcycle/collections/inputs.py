"""What the collections services take: plain values a dialect parses its wire shapes into."""

from __future__ import annotations

from dataclasses import dataclass

from billcycle.unset import UNSET, Unset


@dataclass(frozen=True, slots=True)
class PolicyChanges:
    """A patch of the tenant's policy (UNSET: unchanged)."""

    retry_enabled: bool | Unset = UNSET
    max_consecutive_failures: int | Unset = UNSET
    min_hours_between_attempts: int | Unset = UNSET
    attempt_days: tuple[int, ...] | Unset = UNSET
    grace_days: int | Unset = UNSET
    auto_cancel_after_days: int | Unset | None = UNSET
    auto_write_off: bool | Unset = UNSET
    dunning_enabled: bool | Unset = UNSET


@dataclass(frozen=True, slots=True)
class AccountOverrides:
    """A patch of one account's overrides (UNSET: unchanged; None: back to the tenant's)."""

    attempt_days: tuple[int, ...] | Unset | None = UNSET
    grace_days: int | Unset | None = UNSET
    dunning_exempt: bool | Unset = UNSET
    in_collection: bool | Unset = UNSET
