"""The collections policy, an account's collections state and its events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool, model_validator

from billcycle.admin.schemas.common import Input
from billcycle.collections.models import CollectionEvent
from billcycle.collections.policy import CollectionPolicy
from billcycle.collections.service import AccountCollections
from billcycle.collections.statuses import AccountStanding, CollectionEventType

Days = list[int]


class PolicyOut(BaseModel):
    dunning_enabled: bool = Field(
        description="Daily dunning (standing, suspension, automatic attempts) is on"
    )
    retry_enabled: bool = Field(description="Zuora's tenant retry rules are on")
    max_consecutive_failures: int = Field(
        description="A payment method is not charged again after this many failures in a row"
    )
    min_hours_between_attempts: int = Field(
        description="No retry sooner than this many hours after a failed attempt"
    )
    attempt_days: Days = Field(description="Collection attempts, in days after the due date")
    grace_days: int = Field(description="Days in poor standing before suspension")
    auto_cancel_after_days: int | None = Field(
        description="Days suspended before the account is cancelled (null: never)"
    )
    auto_write_off: bool = Field(description="Write off what is owed when cancelled")

    @classmethod
    def of(cls, policy: CollectionPolicy) -> PolicyOut:
        return cls(
            dunning_enabled=policy.dunning_enabled,
            retry_enabled=policy.retry_enabled,
            max_consecutive_failures=policy.max_consecutive_failures,
            min_hours_between_attempts=policy.min_hours_between_attempts,
            attempt_days=list(policy.attempt_days),
            grace_days=policy.grace_days,
            auto_cancel_after_days=policy.auto_cancel_after_days,
            auto_write_off=policy.auto_write_off,
        )


_NOT_NULL = (
    "dunning_enabled",
    "retry_enabled",
    "max_consecutive_failures",
    "min_hours_between_attempts",
    "attempt_days",
    "grace_days",
    "auto_write_off",
)


class PolicyUpdate(Input):
    """Only the fields sent change; ``auto_cancel_after_days: null`` turns auto-cancel off."""

    dunning_enabled: StrictBool | None = None
    retry_enabled: StrictBool | None = None
    max_consecutive_failures: int | None = None
    min_hours_between_attempts: int | None = None
    attempt_days: Days | None = None
    grace_days: int | None = None
    auto_cancel_after_days: int | None = None
    auto_write_off: StrictBool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> PolicyUpdate:
        for field in self.model_fields_set & set(_NOT_NULL):
            if getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class AccountCollectionsOut(BaseModel):
    account_id: int
    account_number: str
    account_status: AccountStanding = Field(
        description="Good, PoorStanding, or Collection (flagged for manual collection)"
    )
    suspended: bool
    poor_standing_since: date | None
    suspended_on: date | None
    cancelled_on: date | None
    dunning_exempt: bool
    in_collection: bool
    attempt_days_override: Days | None = Field(description="null: the tenant's days")
    grace_days_override: int | None = Field(description="null: the tenant's grace period")
    policy: PolicyOut = Field(description="The policy as it applies to this account")

    @classmethod
    def of(cls, state: AccountCollections) -> AccountCollectionsOut:
        return cls(
            account_id=state.account.id,
            account_number=state.account.account_number,
            account_status=state.standing,
            suspended=state.suspended,
            poor_standing_since=state.poor_standing_since,
            suspended_on=state.suspended_on,
            cancelled_on=state.cancelled_on,
            dunning_exempt=state.policy.dunning_exempt,
            in_collection=state.policy.in_collection,
            attempt_days_override=(
                list(state.attempt_days) if state.attempt_days is not None else None
            ),
            grace_days_override=state.grace_days,
            policy=PolicyOut.of(state.policy),
        )


class AccountOverridesUpdate(Input):
    """Only the fields sent change; ``null`` overrides go back to the tenant's values."""

    attempt_days: Days | None = None
    grace_days: int | None = None
    dunning_exempt: StrictBool | None = None
    in_collection: StrictBool | None = None

    @model_validator(mode="after")
    def _flags_not_null(self) -> AccountOverridesUpdate:
        for field in self.model_fields_set & {"dunning_exempt", "in_collection"}:
            if getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class EventOut(BaseModel):
    id: int
    type: CollectionEventType
    business_date: date
    occurred_at: datetime
    invoice_id: int | None
    payment_id: int | None
    gateway_code: str | None
    message: str | None
    from_value: str | None = Field(description="The state before (standing changes etc.)")
    to_value: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, event: CollectionEvent) -> EventOut:
        return cls(
            id=event.id,
            type=CollectionEventType(event.event_type),
            business_date=event.business_date,
            occurred_at=event.occurred_at,
            invoice_id=event.invoice_id,
            payment_id=event.payment_id,
            gateway_code=event.gateway_code,
            message=event.message,
            from_value=event.from_value,
            to_value=event.to_value,
            details=event.details,
        )
