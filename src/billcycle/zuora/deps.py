"""Request dependencies: authentication and the request-owned unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request

from billcycle.context import ServiceContext
from billcycle.errors import Forbidden, NotAuthenticated
from billcycle.ids import parse_zuora_id
from billcycle.runtime import Runtime
from billcycle.tenancy.service import check_token_client
from billcycle.tenancy.tokens import TokenClaims, TokenSigner
from billcycle.web.units import Units

bearer = HTTPBearer(auto_error=False, description="Token from POST /oauth/token")


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def signer_of(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.token_signer
    return signer


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
EntityIds = Annotated[str | None, Header(alias="Zuora-Entity-Ids")]


def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None, entity_ids: str | None
) -> int:
    """The tenant the Bearer token was issued for (its client is checked by the unit of
    work: see :func:`token_claims`)."""
    return token_claims(request, credentials, entity_ids).tenant_id


def token_claims(
    request: Request, credentials: HTTPAuthorizationCredentials | None, entity_ids: str | None
) -> TokenClaims:
    """The Bearer token's claims. Cheap enough for the event loop: verifying a token
    already seen is a dictionary look-up (see :class:`TokenSigner`). Whether its client
    still exists at that generation is read by the request's unit of work
    (``tenancy.service.check_token_client``), so a deleted or rotated client's tokens
    stop at once."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("Authentication error: a Bearer access token is required.")
    # Token expiry is machine time: a tenant's business clock moving must not expire it.
    now = runtime_of(request).machine_clock.now()
    claims = signer_of(request).verify(credentials.credentials, now)
    if entity_ids:
        entity = parse_zuora_id(entity_ids.strip())
        if entity != claims.tenant_id:
            raise Forbidden("The access token is not valid for the entity in Zuora-Entity-Ids.")
    return claims


def zuora_context(
    request: Request, credentials: Credentials, zuora_entity_ids: EntityIds = None
) -> Iterator[ServiceContext]:
    claims = token_claims(request, credentials, zuora_entity_ids)
    with runtime_of(request).service_context(claims.tenant_id) as ctx:
        check_token_client(ctx.session, claims.tenant_id, claims.client_id, claims.generation)
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
    request: Request, credentials: Credentials, zuora_entity_ids: EntityIds = None
) -> Units:
    claims = token_claims(request, credentials, zuora_entity_ids)
    return Units(
        runtime_of(request), claims.tenant_id, client=(claims.client_id, claims.generation)
    )


Work = Annotated[Units, Depends(zuora_units)]
"""For async routes: ``work.read(fn)`` inline, ``await work.write(fn)`` in one thread call
(see :mod:`billcycle.web.units`). Neither holds a lock across an await, so they need no
cap against the thread pool."""
