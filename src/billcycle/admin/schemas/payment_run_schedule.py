"""A tenant's recurring payment-run schedule on the admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from billcycle.admin.schemas.common import Input
from billcycle.paymentruns.schedule_models import PaymentRunSchedule


class ScheduleIn(Input):
    run_hour: int = Field(
        ge=0, le=23, description="The hour (0..23) of the tenant's time zone the run starts at"
    )
    frequency: Literal["Daily"] = Field("Daily", description="How often a run starts")
    active: bool = Field(True, description="False: kept, but no run starts")


class ScheduleOut(BaseModel):
    tenant_id: int
    frequency: str
    run_hour: int
    active: bool
    next_run_at: datetime = Field(description="The next run's start (UTC)")
    last_run_at: datetime | None = Field(description="The last occurrence that started a run")
    last_run_id: int | None = Field(description="The payment run it started")

    @classmethod
    def of(cls, schedule: PaymentRunSchedule) -> ScheduleOut:
        return cls(
            tenant_id=schedule.tenant_id,
            frequency=schedule.frequency,
            run_hour=schedule.run_hour,
            active=schedule.active,
            next_run_at=schedule.next_run_at,
            last_run_at=schedule.last_run_at,
            last_run_id=schedule.last_run_id,
        )
