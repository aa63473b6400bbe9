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
from billcycle.tenancy.tokens import TokenSigner

bearer = HTTPBearer(auto_error=False, description="Token from POST /oauth/token")


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def signer_of(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.token_signer
    return signer


def zuora_context(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    zuora_entity_ids: Annotated[str | None, Header(alias="Zuora-Entity-Ids")] = None,
) -> Iterator[ServiceContext]:
    runtime = runtime_of(request)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("Authentication error: a Bearer access token is required.")
    claims = signer_of(request).verify(credentials.credentials, runtime.clock.now())
    if zuora_entity_ids:
        entity = parse_zuora_id(zuora_entity_ids.strip())
        if entity != claims.tenant_id:
            raise Forbidden("The access token is not valid for the entity in Zuora-Entity-Ids.")
    with runtime.service_context(claims.tenant_id) as ctx:
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
