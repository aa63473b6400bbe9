"""Request dependencies: authentication and the request-owned unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request
from starlette.types import Scope

from billcycle.access import service as access
from billcycle.context import ServiceContext
from billcycle.db.session import read_only_unit
from billcycle.errors import DomainError, Forbidden, InvalidValue, NotAuthenticated
from billcycle.ids import parse_zuora_id
from billcycle.runtime import Runtime
from billcycle.tenancy.service import check_token_client
from billcycle.tenancy.tokens import TokenClaims, TokenSigner
from billcycle.web.audit import note_caller, unit_recorder
from billcycle.web.ratelimit import check_rate
from billcycle.web.units import Units

bearer = HTTPBearer(auto_error=False, description="Token from POST /oauth/token")


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def signer_of(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.token_signer
    return signer


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
EntityIds = Annotated[
    str | None,
    Header(
        alias="Zuora-Entity-Ids",
        description="The entity (tenant) the call acts in; required when the token covers "
        "more than one (`billcycle tenant grant`).",
    ),
]
OrgIds = Annotated[
    str | None,
    Header(
        alias="Zuora-Org-Ids",
        description="Comma-separated organization ids narrowing the call to some of the "
        "caller's organizations (multi-org); one outside them fails the call (403).",
    ),
]


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: int
    client_id: str
    # The client's own tenant and generation: the request's unit of work checks that the
    # client still exists at that generation (a deleted or rotated client's tokens stop).
    home_tenant_id: int
    generation: int
    # The organizations the call acts in (None: not limited); ``named`` when they come
    # from Zuora-Org-Ids of an unrestricted client and must be checked to exist.
    org_ids: frozenset[int] | None
    named: bool


def choose_entity(claims: TokenClaims, entity_ids: str | None) -> int:
    """The entity a call acts in: the one ``Zuora-Entity-Ids`` names among those the token
    covers; without the header, the token's only entity (required when it has several)."""
    covered = claims.all_entities
    if entity_ids is None or not entity_ids.strip():
        if len(covered) > 1:
            raise InvalidValue(
                "Zuora-Entity-Ids is required: the access token covers more than one entity."
            )
        return claims.tenant_id
    parts = [part.strip() for part in entity_ids.split(",") if part.strip()]
    if len(parts) != 1:
        raise InvalidValue("Zuora-Entity-Ids must name exactly one entity.")
    entity = parse_zuora_id(parts[0])
    if entity is None or entity not in covered:
        raise Forbidden("The access token is not valid for the entity in Zuora-Entity-Ids.")
    return entity


def parse_org_ids(header: str) -> list[int]:
    """``Zuora-Org-Ids``: comma-separated organization ids (32 hex digits)."""
    ids: list[int] = []
    for part in header.split(","):
        org_id = parse_zuora_id(part.strip())
        if org_id is None:
            raise InvalidValue(f"Invalid organization id in Zuora-Org-Ids: {part.strip()!r}.")
        ids.append(org_id)
    return ids


def _claims(request: Request, credentials: HTTPAuthorizationCredentials | None) -> TokenClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("Authentication error: a Bearer access token is required.")
    # Token expiry is machine time: a tenant's business clock moving must not expire it.
    now = runtime_of(request).machine_clock.now()
    return signer_of(request).verify(credentials.credentials, now)


def authenticate(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    entity_ids: str | None,
    org_ids: str | None = None,
) -> Caller:
    """Who calls, in which entity and organizations. Cheap enough for the event loop:
    verifying a token already seen is a dictionary look-up (see :class:`TokenSigner`), and
    the rate-limit count touches no database."""
    claims = _claims(request, credentials)
    tenant_id = choose_entity(claims, entity_ids)
    request.state.tenant_id = tenant_id  # the request's log line names it
    requested = parse_org_ids(org_ids) if org_ids and org_ids.strip() else None
    granted = claims.orgs.get(tenant_id)
    orgs = access.narrow(granted, requested)
    check_rate(request, tenant_id, claims.client_id)
    note_caller(request, tenant_id, f"client:{claims.client_id}")
    return Caller(
        tenant_id,
        claims.client_id,
        claims.tenant_id,
        claims.generation,
        orgs,
        requested is not None and granted is None,
    )


def _check_orgs(runtime: Runtime, caller: Caller) -> None:
    if caller.named and caller.org_ids is not None:
        with read_only_unit(runtime.session_factory) as session:
            access.check_orgs_exist(session, caller.tenant_id, caller.org_ids)


async def identify(scope: Scope) -> tuple[int, str] | None:
    """The tenant a request acts in, for the Idempotency-Key middleware (None when the
    credentials do not hold: the route's own dependency answers that)."""
    request = Request(scope)
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        now = runtime_of(request).machine_clock.now()
        claims = signer_of(request).verify(token.strip(), now)
        entity = choose_entity(claims, request.headers.get("zuora-entity-ids"))
    except DomainError:
        return None
    return entity, f"client:{claims.client_id}"


def zuora_context(
    request: Request,
    credentials: Credentials,
    zuora_entity_ids: EntityIds = None,
    zuora_org_ids: OrgIds = None,
) -> Iterator[ServiceContext]:
    caller = authenticate(request, credentials, zuora_entity_ids, zuora_org_ids)
    runtime = runtime_of(request)
    _check_orgs(runtime, caller)
    with runtime.service_context(caller.tenant_id, caller.org_ids) as ctx:
        check_token_client(ctx.session, caller.home_tenant_id, caller.client_id, caller.generation)
        yield ctx


# How many Zuora requests may hold a unit of work at once. A request waiting on a database
# lock occupies one of the 40 threads of the sync route pool, and the request holding the
# lock needs a free thread to finish and commit: without a cap below the pool size (and
# the connection pool), 64 concurrent writers deadlock until the lock timeouts fire. The
# waiting here is asynchronous, so queued requests hold no thread.
ZUORA_UNITS_OF_WORK = 16

Ctx = Annotated[
    ServiceContext,
    Depends(zuora_context, scope="function", max_concurrency=ZUORA_UNITS_OF_WORK),
]
"""A unit of work around a sync route: a thread hand-off each for its start, the route, the
response's validation and its commit (see Work for the hot paths)."""


async def zuora_units(
    request: Request,
    credentials: Credentials,
    zuora_entity_ids: EntityIds = None,
    zuora_org_ids: OrgIds = None,
) -> Units:
    caller = authenticate(request, credentials, zuora_entity_ids, zuora_org_ids)
    runtime = runtime_of(request)
    _check_orgs(runtime, caller)
    return Units(
        runtime,
        caller.tenant_id,
        caller.org_ids,
        client=(caller.home_tenant_id, caller.client_id, caller.generation),
        audit=unit_recorder(request),
    )


Work = Annotated[Units, Depends(zuora_units)]
"""For async routes: ``work.read(fn)`` inline, ``await work.write(fn)`` in one thread call
(see :mod:`billcycle.web.units`). Neither holds a lock across an await, so they need no
cap against the thread pool."""
