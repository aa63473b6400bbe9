"""Creating tenants and authenticating their credentials."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from billcycle.clock import Clock
from billcycle.errors import InvalidValue, NotAuthenticated
from billcycle.ids import to_zuora_id
from billcycle.tenancy import credentials, repository
from billcycle.tenancy.models import ApiKey, OAuthClient, Tenant
from billcycle.tenancy.time_zones import DEFAULT_TIME_ZONE, check_time_zone


@dataclass(frozen=True)
class NewTenant:
    tenant_id: int
    entity_id: str
    client_id: str
    client_secret: str
    api_key: str


def create_tenant(
    session: Session,
    clock: Clock,
    name: str,
    *,
    bulk_jobs: bool = False,
    bulk_job_record_limit: int = 1000,
    time_zone: str = DEFAULT_TIME_ZONE,
    sandbox: bool = False,
) -> NewTenant:
    """A new tenant and its first credentials. A ``sandbox`` tenant gets its own test
    clock, starting at ``clock``'s time (see :mod:`billcycle.testclocks`)."""
    name = name.strip()
    if not name or len(name) > 255:
        raise InvalidValue("Tenant name must be 1 to 255 characters.")
    if bulk_job_record_limit < 1:
        raise InvalidValue("The bulk-job record limit must be at least 1.")
    check_time_zone(time_zone)
    now = clock.now()
    tenant = repository.add_tenant(
        session,
        Tenant(
            name=name,
            bulk_jobs_enabled=bulk_jobs,
            bulk_job_record_limit=bulk_job_record_limit,
            created_at=now,
            time_zone=time_zone,
            test_clock_at=now if sandbox else None,
        ),
    )
    return issue_credentials(session, clock, tenant.id)


def issue_credentials(session: Session, clock: Clock, tenant_id: int) -> NewTenant:
    """A new OAuth client and API key for an existing tenant (the secrets are returned
    once and kept only as digests)."""
    now = clock.now()
    client_id = credentials.new_client_id()
    client_secret = credentials.new_client_secret()
    api_key, key_id, key_secret = credentials.new_api_key()
    session.add_all(
        [
            OAuthClient(
                tenant_id=tenant_id,
                client_id=client_id,
                secret_digest=credentials.digest(client_secret),
                created_at=now,
            ),
            ApiKey(
                tenant_id=tenant_id,
                key_id=key_id,
                secret_digest=credentials.digest(key_secret),
                created_at=now,
            ),
        ]
    )
    session.flush()
    return NewTenant(
        tenant_id=tenant_id,
        entity_id=to_zuora_id(tenant_id),
        client_id=client_id,
        client_secret=client_secret,
        api_key=api_key,
    )


def authenticate_client(session: Session, client_id: str, client_secret: str) -> OAuthClient:
    client = repository.find_oauth_client(session, client_id)
    # Compare even when the client is unknown, so timing does not reveal which ids exist.
    stored = client.secret_digest if client else credentials.digest("\0unknown")
    if not credentials.matches(client_secret, stored) or client is None:
        raise NotAuthenticated("Invalid client credentials.")
    return client


REVOKED_TOKEN = "Authentication error: the access token's client was deleted or rotated."


def check_token_client(session: Session, tenant_id: int, client_id: str, generation: int) -> None:
    """Refuse a validly signed token whose client was deleted (with its tenant, too) or
    whose secret was rotated after the token was issued."""
    check_generation(repository.client_generation(session, client_id, tenant_id), generation)


def check_generation(current: int | None, generation: int) -> None:
    """The token check on a client generation another read fetched (None: no client)."""
    if current is None or current != generation:
        raise NotAuthenticated(REVOKED_TOKEN)


def authenticate_api_key(session: Session, key: str) -> int:
    """The tenant id an API key belongs to."""
    parts = credentials.split_api_key(key)
    record = repository.find_api_key(session, parts[0]) if parts else None
    stored = record.secret_digest if record else credentials.digest("\0unknown")
    secret = parts[1] if parts else ""
    if not credentials.matches(secret, stored) or record is None:
        raise NotAuthenticated("Invalid API key.")
    return record.tenant_id


def set_bulk_jobs(
    session: Session, tenant_id: int, enabled: bool, record_limit: int | None = None
) -> Tenant:
    tenant = repository.get_tenant(session, tenant_id)
    if tenant is None:
        raise InvalidValue(f"Tenant {tenant_id} does not exist.")
    tenant.bulk_jobs_enabled = enabled
    if record_limit is not None:
        if record_limit < 1:
            raise InvalidValue("The bulk-job record limit must be at least 1.")
        tenant.bulk_job_record_limit = record_limit
    session.flush()
    return tenant
