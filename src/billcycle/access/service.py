"""Granting entities and organizations to OAuth clients; creating organizations; deciding
which organizations a call acts in.

Grants are read when a client gets a token (``POST /oauth/token``) and carried in it, so
checking a request costs no database read; a grant made later applies to the client's
next token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from billcycle.access import repository
from billcycle.access.models import ClientEntityGrant, ClientOrgGrant, Organization
from billcycle.clock import Clock
from billcycle.errors import Forbidden, InvalidValue, NotFound
from billcycle.ids import is_ascii_digits
from billcycle.tenancy import repository as tenants
from billcycle.tenancy.models import OAuthClient

MAX_ORG_NAME = 100


@dataclass(frozen=True)
class Reach:
    """Where a client's token may act: its entities (its own first) and, per entity, the
    organizations it is limited to (an entity missing here: all of them)."""

    entities: tuple[int, ...]
    orgs: dict[int, tuple[int, ...]] = field(default_factory=dict)


def _client(session: Session, client_id: str) -> OAuthClient:
    client = tenants.find_oauth_client(session, client_id)
    if client is None:
        raise NotFound(f"OAuth client {client_id} does not exist.")
    return client


def reach_of(session: Session, client: OAuthClient) -> Reach:
    entities = [client.tenant_id, *repository.granted_entities(session, client.id)]
    orgs: dict[int, list[int]] = {}
    for tenant_id, org_id in repository.granted_orgs(session, client.id):
        orgs.setdefault(tenant_id, []).append(org_id)
    return Reach(tuple(dict.fromkeys(entities)), {tid: tuple(ids) for tid, ids in orgs.items()})


def grant_entity(session: Session, clock: Clock, client_id: str, tenant_id: int) -> bool:
    """Let ``client_id`` act in ``tenant_id`` too; False when it already could."""
    client = _client(session, client_id)
    if tenants.get_tenant(session, tenant_id) is None:
        raise NotFound(f"Entity {tenant_id} does not exist.")
    if client.tenant_id == tenant_id or repository.entity_granted(session, client.id, tenant_id):
        return False
    repository.add(
        session,
        ClientEntityGrant(client_pk=client.id, tenant_id=tenant_id, created_at=clock.now()),
    )
    return True


def revoke_entity(session: Session, client_id: str, tenant_id: int) -> bool:
    """Take an entity back from a client (its own cannot be); False when it had none.
    Tokens issued before keep it until they expire."""
    client = _client(session, client_id)
    if client.tenant_id == tenant_id:
        raise InvalidValue("A client's own entity cannot be taken from it.")
    return repository.remove_entity_grant(session, client.id, tenant_id)


def revoke_organization(
    session: Session, client_id: str, tenant_id: int, org_key: str, org_id: int | None = None
) -> bool:
    """Take an organization back from a client; False when it had none. A client left
    with no organization in the tenant sees all of them again."""
    client = _client(session, client_id)
    org = find_organization(session, tenant_id, org_key, org_id)
    return repository.remove_org_grant(session, tenant_id, client.id, org.id)


def create_organization(session: Session, clock: Clock, tenant_id: int, name: str) -> Organization:
    name = name.strip()
    if not name or len(name) > MAX_ORG_NAME:
        raise InvalidValue(f"An organization name is 1 to {MAX_ORG_NAME} characters.")
    if tenants.get_tenant(session, tenant_id) is None:
        raise NotFound(f"Tenant {tenant_id} does not exist.")
    if repository.organization_by_name(session, tenant_id, name) is not None:
        raise InvalidValue(f"Organization {name} already exists.")
    org = Organization(tenant_id=tenant_id, name=name, created_at=clock.now())
    repository.add(session, org)
    return org


def organizations(session: Session, tenant_id: int) -> list[Organization]:
    return repository.organizations(session, tenant_id)


def find_organization(
    session: Session, tenant_id: int, key: str, key_id: int | None = None
) -> Organization:
    """By id (``key_id``, or ``key`` as a number) or by name, in the tenant."""
    if key_id is None and is_ascii_digits(key) and len(key) < 19:
        key_id = int(key)
    if key_id is not None:
        for org in repository.organizations(session, tenant_id):
            if org.id == key_id:
                return org
    named = repository.organization_by_name(session, tenant_id, key)
    if named is None:
        raise NotFound(f"Organization {key} does not exist.")
    return named


def grant_organization(
    session: Session,
    clock: Clock,
    client_id: str,
    tenant_id: int,
    org_key: str,
    org_id: int | None = None,
) -> Organization:
    client = _client(session, client_id)
    if client.tenant_id != tenant_id and not repository.entity_granted(
        session, client.id, tenant_id
    ):
        raise InvalidValue(
            f"OAuth client {client_id} may not act in entity {tenant_id}: grant it first."
        )
    org = find_organization(session, tenant_id, org_key, org_id)
    if not repository.org_granted(session, tenant_id, client.id, org.id):
        repository.add(
            session,
            ClientOrgGrant(
                client_pk=client.id,
                organization_id=org.id,
                tenant_id=tenant_id,
                created_at=clock.now(),
            ),
        )
    return org


def narrow(granted: Iterable[int] | None, requested: list[int] | None) -> frozenset[int] | None:
    """The organizations a call acts in: ``requested`` (Zuora-Org-Ids) narrows the
    caller's ``granted`` set (None: every organization of the tenant); naming one outside
    it fails the call. None: not limited."""
    if requested is None:
        return None if granted is None else frozenset(granted)
    if granted is not None:
        outside = set(requested) - set(granted)
        if outside:
            raise Forbidden("Zuora-Org-Ids names an organization this client may not act in.")
    return frozenset(requested)


def check_orgs_exist(session: Session, tenant_id: int, org_ids: frozenset[int]) -> None:
    if repository.existing_org_ids(session, tenant_id, list(org_ids)) != set(org_ids):
        raise Forbidden("Zuora-Org-Ids names an organization this client may not act in.")
