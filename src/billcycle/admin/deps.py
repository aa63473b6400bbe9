"""Operator authentication (``Authorization: Bearer <operator key>``) and the
request-owned unit of work.

Only an operator key made by ``billcycle operator create`` is accepted. A tenant's API
key, OAuth client secret or access token is refused like any unknown key: operator keys
have their own table and prefix, and the admin API never consults a tenant credential.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.requests import Request

from billcycle.clock import Clock
from billcycle.db.session import unit_of_work
from billcycle.errors import NotAuthenticated
from billcycle.operators import service as operators
from billcycle.runtime import Runtime

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OperatorKey",
    description="An operator key from `billcycle operator create NAME`.",
)


@dataclass(frozen=True, slots=True)
class AdminContext:
    """What an admin route hands to domain services: the unit of work's session, the
    clock, and which operator asked. Not tenant-scoped: operators manage all tenants."""

    session: Session
    clock: Clock
    operator: str


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def admin_context(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Iterator[AdminContext]:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("An operator key is required: Authorization: Bearer <key>.")
    runtime = runtime_of(request)
    with unit_of_work(runtime.session_factory) as session:
        operator = operators.authenticate_operator(session, credentials.credentials.strip())
        yield AdminContext(session=session, clock=runtime.clock, operator=operator.name)


Ctx = Annotated[AdminContext, Depends(admin_context, scope="function")]
