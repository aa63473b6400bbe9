"""``POST /oauth/token``: client-credentials grant, as Zuora's OAuth endpoint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from pydantic import BaseModel
from starlette.requests import Request

from billcycle.access import service as access
from billcycle.db.session import unit_of_work
from billcycle.errors import InvalidValue
from billcycle.tenancy import service
from billcycle.zuora.deps import runtime_of, signer_of

router = APIRouter(tags=["OAuth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str
    jti: str


@router.post("/oauth/token", response_model=TokenResponse, summary="Create an OAuth token")
def create_token(
    request: Request,
    client_id: Annotated[str, Form()],
    client_secret: Annotated[str, Form()],
    grant_type: Annotated[str, Form()],
) -> TokenResponse:
    """Exchange a client id and secret (from `billcycle tenant create`) for a Bearer token."""
    if grant_type != "client_credentials":
        raise InvalidValue("grant_type must be client_credentials.", resource="auth")
    runtime = runtime_of(request)
    with unit_of_work(runtime.session_factory) as session:
        client = service.authenticate_client(session, client_id, client_secret)
        tenant_id, cid, generation = client.tenant_id, client.client_id, client.generation
        reach = access.reach_of(session, client)
    token = signer_of(request).issue(
        tenant_id,
        cid,
        runtime.machine_clock.now(),
        generation,
        entities=reach.entities,
        orgs=reach.orgs,
    )
    return TokenResponse(
        access_token=token.token, expires_in=token.expires_in, scope=token.scope, jti=token.jti
    )
