"""Outbox events and webhook endpoints, deliveries and attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AnyUrl, BaseModel, Field, StrictBool, model_validator

from billcycle.admin.schemas.common import Input
from billcycle.events.models import Event
from billcycle.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from billcycle.webhooks.statuses import DeliveryStatus


class EventOut(BaseModel):
    id: str = Field(description="The stable event id (`evt_` + ULID): the `webhook-id`")
    type: str = Field(description="e.g. `invoice.posted`; see docs/events.md")
    object_type: str
    object_id: int
    occurred_at: datetime = Field(description="The tenant's business clock at the change")
    data: dict[str, Any] = Field(description="`object`: the object as billcycle shows it")

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            id=event.event_id,
            type=event.type,
            object_type=event.object_type,
            object_id=event.object_id,
            occurred_at=event.occurred_at,
            data=event.payload,
        )


class EndpointCreate(Input):
    url: AnyUrl = Field(description="http(s) only; private addresses need the tenant setting")
    event_types: list[str] = Field(min_length=1, description="Event types, or `*` for all")
    secret: str | None = Field(
        None, description="`whsec_` + base64 of >= 24 bytes; generated when left out"
    )
    description: str | None = Field(None, max_length=255)
    enabled: StrictBool = True


class EndpointUpdate(Input):
    """Only the fields sent change."""

    url: AnyUrl | None = None
    event_types: list[str] | None = Field(None, min_length=1)
    secret: str | None = None
    description: str | None = Field(None, max_length=255)
    enabled: StrictBool | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> EndpointUpdate:
        for field in self.model_fields_set - {"description"}:
            if getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class EndpointOut(BaseModel):
    id: int
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    failing_since: datetime | None
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointOut:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            event_types=list(endpoint.event_types),
            description=endpoint.description,
            enabled=endpoint.enabled,
            failing_since=endpoint.failing_since,
            disabled_reason=endpoint.disabled_reason,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class EndpointCreated(EndpointOut):
    secret: str = Field(description="Shown once: verify signatures with it")


class WebhookSettingsOut(BaseModel):
    webhooks_allow_private: bool = Field(
        description="Endpoints may be on loopback, link-local or private addresses"
    )


class WebhookSettingsUpdate(Input):
    webhooks_allow_private: StrictBool


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    event_type: str
    status: str = Field(description="pending, succeeded or failed (gave up)")
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: tuple[WebhookDelivery, str, str]) -> DeliveryOut:
        delivery, event_id, event_type = row
        return cls(
            id=delivery.id,
            event_id=event_id,
            event_type=event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at
            if delivery.status == DeliveryStatus.PENDING
            else None,
            last_attempt_at=delivery.last_attempt_at,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None = Field(description="null: no answer (timeout, refused, ...)")
    latency_ms: int
    succeeded: bool
    error: str | None
    response_excerpt: str | None = Field(description="The first 500 characters of the answer")

    @classmethod
    def of(cls, attempt: WebhookAttempt) -> AttemptOut:
        return cls(
            attempt=attempt.attempt,
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            latency_ms=attempt.latency_ms,
            succeeded=attempt.succeeded,
            error=attempt.error,
            response_excerpt=attempt.response_excerpt,
        )


class Redelivery(Input):
    endpoint_id: int | None = Field(
        None, ge=1, description="One endpoint; left out: every endpoint the event is for"
    )


class Queued(BaseModel):
    event_id: str
    deliveries: int = Field(description="Deliveries queued")
