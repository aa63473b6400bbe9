"""A tenant's OAuth clients (Zuora dialect) and API keys (Fusebill dialect)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from billcycle.tenancy.credentials import api_key_prefix
from billcycle.tenancy.management import NewApiKey, NewOAuthClient
from billcycle.tenancy.models import ApiKey, OAuthClient


class OAuthClientOut(BaseModel):
    id: int
    tenant_id: int
    client_id: str = Field(description="Sent as `client_id` to `POST /zuora/oauth/token`")
    created_at: datetime

    @classmethod
    def of(cls, client: OAuthClient) -> OAuthClientOut:
        return cls(
            id=client.id,
            tenant_id=client.tenant_id,
            client_id=client.client_id,
            created_at=client.created_at,
        )


class OAuthClientSecret(OAuthClientOut):
    client_secret: str = Field(description="Shown once: only its digest is kept")

    @classmethod
    def made(cls, new: NewOAuthClient) -> OAuthClientSecret:
        return cls(**OAuthClientOut.of(new.client).model_dump(), client_secret=new.client_secret)


class ApiKeyOut(BaseModel):
    id: int
    tenant_id: int
    key_prefix: str = Field(description="The key's public start, to tell keys apart")
    created_at: datetime

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            tenant_id=key.tenant_id,
            key_prefix=api_key_prefix(key.key_id),
            created_at=key.created_at,
        )


class ApiKeySecret(ApiKeyOut):
    api_key: str = Field(description="Shown once: only its digest is kept")

    @classmethod
    def made(cls, new: NewApiKey) -> ApiKeySecret:
        return cls(**ApiKeyOut.of(new.key).model_dump(), api_key=new.api_key)
