"""Managing tenants and their credentials: what an operator does (the admin API).

A tenant has any number of OAuth clients (Zuora dialect) and API keys (Fusebill dialect);
each works until it is rotated or deleted. Secrets are returned once, when made, and
kept only as digests. Rotating keeps the credential's row (and an OAuth client's
``client_id``) and replaces its secret, so the old secret is refused from then on;
deleting removes it. Either takes effect on the next token request or API-key check.
Access tokens are stateless: one issued before its client was rotated or deleted stays
valid until it expires (``BILLCYCLE_ACCESS_TOKEN_TTL_SECONDS``, an hour by default).

Deleting a tenant is refused while it has business data (accounts, products, invoices,
bill runs, ...): deleting them with it would destroy billing records, silently. A tenant
with data is shut out by deleting its credentials instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from billcycle.clock import Clock
from billcycle.errors import InvalidValue, NotFound, RuleViolation
from billcycle.tenancy import credentials
from billcycle.tenancy import management_repository as repository
from billcycle.tenancy import repository as tenants
from billcycle.tenancy.models import ApiKey, OAuthClient, Tenant
from billcycle.unset import UNSET, Unset

MAX_NAME = 255


@dataclass(frozen=True)
class NewOAuthClient:
    client: OAuthClient
    client_secret: str


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    api_key: str


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidValue("Tenant name must be 1 to 255 characters.", field="name")
    return name


def _check_record_limit(limit: int) -> int:
    if limit < 1:
        raise InvalidValue(
            "The bulk-job record limit must be at least 1.", field="bulk_job_record_limit"
        )
    return limit


def get_tenant(session: Session, tenant_id: int) -> Tenant:
    tenant = tenants.get_tenant(session, tenant_id)
    if tenant is None:
        raise NotFound("Tenant {tenant} does not exist.", ids={"tenant": tenant_id})
    return tenant


def list_tenants(session: Session, after: int | None, limit: int) -> Sequence[Tenant]:
    return repository.list_tenants(session, after, limit)


def update_tenant(
    session: Session,
    tenant_id: int,
    *,
    name: str | Unset = UNSET,
    bulk_jobs_enabled: bool | Unset = UNSET,
    bulk_job_record_limit: int | Unset = UNSET,
) -> Tenant:
    """Everything is checked before anything changes."""
    tenant = get_tenant(session, tenant_id)
    new_name = _check_name(name) if name is not UNSET else UNSET
    if bulk_job_record_limit is not UNSET:
        _check_record_limit(bulk_job_record_limit)
    if new_name is not UNSET:
        tenant.name = new_name
    if bulk_jobs_enabled is not UNSET:
        tenant.bulk_jobs_enabled = bulk_jobs_enabled
    if bulk_job_record_limit is not UNSET:
        tenant.bulk_job_record_limit = bulk_job_record_limit
    session.flush()
    return tenant


def delete_tenant(session: Session, tenant_id: int) -> None:
    """Refused (a rule violation) while the tenant has any business data."""
    if repository.lock_tenant(session, tenant_id) is None:
        raise NotFound("Tenant {tenant} does not exist.", ids={"tenant": tenant_id})
    # A write before the check: on SQLite it takes the database's write lock, so no
    # account can be added between the check and the delete (on PostgreSQL the row lock
    # above does that). A refusal rolls it back with the rest of the unit of work.
    repository.delete_credentials(session, tenant_id)
    if repository.tenant_has_data(session, tenant_id):
        raise RuleViolation(
            "Tenant {tenant} has billing data and cannot be deleted; delete its OAuth "
            "clients and API keys to shut it out.",
            ids={"tenant": tenant_id},
        )
    repository.delete_tenant(session, tenant_id)


# OAuth clients


def create_oauth_client(session: Session, clock: Clock, tenant_id: int) -> NewOAuthClient:
    get_tenant(session, tenant_id)
    secret = credentials.new_client_secret()
    client = OAuthClient(
        tenant_id=tenant_id,
        client_id=credentials.new_client_id(),
        secret_digest=credentials.digest(secret),
        created_at=clock.now(),
    )
    session.add(client)
    session.flush()
    return NewOAuthClient(client=client, client_secret=secret)


def list_oauth_clients(
    session: Session, tenant_id: int, after: int | None, limit: int
) -> Sequence[OAuthClient]:
    get_tenant(session, tenant_id)
    return repository.list_oauth_clients(session, tenant_id, after, limit)


def get_oauth_client(session: Session, tenant_id: int, client_pk: int) -> OAuthClient:
    get_tenant(session, tenant_id)
    client = repository.get_oauth_client(session, tenant_id, client_pk)
    if client is None:
        raise NotFound(
            "OAuth client {client} of tenant {tenant} does not exist.",
            ids={"client": client_pk, "tenant": tenant_id},
        )
    return client


def rotate_oauth_client(session: Session, tenant_id: int, client_pk: int) -> NewOAuthClient:
    client = get_oauth_client(session, tenant_id, client_pk)
    secret = credentials.new_client_secret()
    client.secret_digest = credentials.digest(secret)
    # Tokens issued with the old secret stop working at once (tenancy.service).
    client.generation = client.generation + 1
    session.flush()
    return NewOAuthClient(client=client, client_secret=secret)


def delete_oauth_client(session: Session, tenant_id: int, client_pk: int) -> None:
    get_oauth_client(session, tenant_id, client_pk)
    repository.delete_oauth_client(session, tenant_id, client_pk)


# API keys


def _fresh_key(key: ApiKey) -> str:
    full, key.key_id, secret = credentials.new_api_key()
    key.secret_digest = credentials.digest(secret)
    return full


def create_api_key(session: Session, clock: Clock, tenant_id: int) -> NewApiKey:
    get_tenant(session, tenant_id)
    key = ApiKey(tenant_id=tenant_id, created_at=clock.now())
    full = _fresh_key(key)
    session.add(key)
    session.flush()
    return NewApiKey(key=key, api_key=full)


def list_api_keys(
    session: Session, tenant_id: int, after: int | None, limit: int
) -> Sequence[ApiKey]:
    get_tenant(session, tenant_id)
    return repository.list_api_keys(session, tenant_id, after, limit)


def get_api_key(session: Session, tenant_id: int, key_pk: int) -> ApiKey:
    get_tenant(session, tenant_id)
    key = repository.get_api_key(session, tenant_id, key_pk)
    if key is None:
        raise NotFound(
            "API key {key} of tenant {tenant} does not exist.",
            ids={"key": key_pk, "tenant": tenant_id},
        )
    return key


def rotate_api_key(session: Session, tenant_id: int, key_pk: int) -> NewApiKey:
    """A new key altogether (its key id too): the old one no longer even looks up."""
    key = get_api_key(session, tenant_id, key_pk)
    full = _fresh_key(key)
    session.flush()
    return NewApiKey(key=key, api_key=full)


def delete_api_key(session: Session, tenant_id: int, key_pk: int) -> None:
    get_api_key(session, tenant_id, key_pk)
    repository.delete_api_key(session, tenant_id, key_pk)
