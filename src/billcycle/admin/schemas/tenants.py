"""Tenants (Zuora's "entities")."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, StrictBool, model_validator

from billcycle.admin.schemas.common import Input
from billcycle.ids import to_zuora_id
from billcycle.tenancy.models import Tenant
from billcycle.tenancy.service import NewTenant


class TenantCreate(Input):
    name: str = Field(min_length=1, max_length=255)
    bulk_jobs_enabled: StrictBool = Field(
        False, description="Enable Fusebill bulk jobs and write-offs (CLI: `--bulk-jobs`)"
    )
    bulk_job_record_limit: int = Field(
        1000, ge=1, description="Records allowed per bulk job (CLI: `--bulk-job-limit`)"
    )
    sandbox: StrictBool = Field(
        False,
        description="Give the tenant its own test clock, starting now and moved only by"
        " `POST /v1/tenants/{id}/clock/advance` (CLI: `--sandbox`). Cannot be changed later.",
    )


class TenantUpdate(Input):
    """Only the fields sent change; ``null`` is refused (none of them can be cleared)."""

    name: str | None = Field(None, min_length=1, max_length=255)
    bulk_jobs_enabled: StrictBool | None = None
    bulk_job_record_limit: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _no_nulls(self) -> TenantUpdate:
        for field in self.model_fields_set:
            if getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class TenantOut(BaseModel):
    id: int
    entity_id: str = Field(description="The id as the Zuora dialect shows it (32 hex digits)")
    name: str
    bulk_jobs_enabled: bool
    bulk_job_record_limit: int
    created_at: datetime
    sandbox: bool = Field(description="Whether the tenant runs on its own test clock")

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(
            id=tenant.id,
            entity_id=to_zuora_id(tenant.id),
            name=tenant.name,
            bulk_jobs_enabled=tenant.bulk_jobs_enabled,
            bulk_job_record_limit=tenant.bulk_job_record_limit,
            created_at=tenant.created_at,
            sandbox=tenant.test_clock_at is not None,
        )


class FirstCredentials(BaseModel):
    """Shown once: only digests are kept."""

    client_id: str
    client_secret: str
    api_key: str

    @classmethod
    def of(cls, created: NewTenant) -> FirstCredentials:
        return cls(
            client_id=created.client_id,
            client_secret=created.client_secret,
            api_key=created.api_key,
        )


class TenantCreated(TenantOut):
    credentials: FirstCredentials
