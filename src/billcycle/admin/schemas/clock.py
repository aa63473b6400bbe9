"""A sandbox tenant's test clock."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from billcycle.admin.schemas.common import Input
from billcycle.testclocks.service import Advanced, ClockReading


class ClockOut(BaseModel):
    tenant_id: int
    now: datetime = Field(description="The tenant's business time (UTC)")
    today: date = Field(description="The tenant's business date, in its time zone")
    time_zone: str

    @classmethod
    def of(cls, reading: ClockReading) -> ClockOut:
        return cls(
            tenant_id=reading.tenant_id,
            now=reading.now,
            today=reading.today,
            time_zone=reading.time_zone,
        )


class ClockAdvance(Input):
    """Either ``to`` (a later time, with its zone) or a duration (``months`` of 30 days,
    ``days``, ``hours``); forward only."""

    to: AwareDatetime | None = None
    months: int = Field(0, ge=0, le=120)
    days: int = Field(0, ge=0, le=3660)
    hours: int = Field(0, ge=0, le=87840)

    @model_validator(mode="after")
    def _one_way(self) -> ClockAdvance:
        moved = self.months or self.days or self.hours
        if (self.to is None) == (not moved):
            raise ValueError("give either `to` or a duration (`months`, `days`, `hours`)")
        return self


class ClockAdvanced(ClockOut):
    started_at: datetime = Field(description="Where the clock was before this advance")
    days: int = Field(description="Business days the clock moved on (midnights crossed)")
    days_evaluated: int = Field(
        description="Business days whose collections evaluation ran (days with nothing due "
        "are passed over: the same rows result, see docs/test-clocks.md)"
    )
    bill_runs: int = Field(description="Scheduled bill runs started on the way")
    payment_runs: int = Field(description="Scheduled payment runs started on the way")

    @classmethod
    def of_advance(cls, reading: ClockReading, done: Advanced) -> ClockAdvanced:
        return cls(
            **ClockOut.of(reading).model_dump(),
            started_at=done.started_at,
            days=done.days,
            days_evaluated=done.evaluations,
            bill_runs=done.bill_runs,
            payment_runs=done.payment_runs,
        )
