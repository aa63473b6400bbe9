"""Fusebill authentication (``Authorization: Basic {apiKey}``, the raw key) and the
request-owned unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, Header
from starlette.requests import Request
from starlette.types import Scope

from billcycle.context import ServiceContext
from billcycle.db.session import unit_of_work
from billcycle.errors import NotAuthenticated, NotFound
from billcycle.runtime import Runtime
from billcycle.tenancy import repository as tenants
from billcycle.tenancy import service as tenancy
from billcycle.tenancy.credentials import split_api_key
from billcycle.web.audit import note_caller
from billcycle.web.ratelimit import check_rate

MALFORMED = "Authorization key is not in the correct format."
DENIED = "Authorization has been denied for this request."


def _api_key(authorization: str | None) -> str:
    if not authorization:
        raise NotAuthenticated(MALFORMED)
    scheme, _, key = authorization.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "basic" or not key or " " in key:
        raise NotAuthenticated(MALFORMED)
    return key


def fusebill_context(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Iterator[ServiceContext]:
    runtime: Runtime = request.app.state.runtime
    key = _api_key(authorization)
    with unit_of_work(runtime.session_factory) as session:
        try:
            tenant_id = tenancy.authenticate_api_key(session, key)
        except NotAuthenticated as exc:
            raise NotAuthenticated(DENIED) from exc
    request.state.tenant_id = tenant_id  # the request's log line names it
    key_id = (split_api_key(key) or ("", ""))[0]
    check_rate(request, tenant_id, f"key:{key_id}")
    note_caller(request, tenant_id, f"apikey:bc_{key_id}_")
    with runtime.service_context(tenant_id) as ctx:
        yield ctx


async def identify(scope: Scope) -> tuple[int, str] | None:
    """The tenant of a request's API key, for the Idempotency-Key middleware (None when
    the key does not hold: the route's own dependency answers that)."""
    request = Request(scope)
    try:
        key = _api_key(request.headers.get("authorization"))
    except NotAuthenticated:
        return None
    runtime: Runtime = request.app.state.runtime

    def lookup() -> tuple[int, str] | None:
        with unit_of_work(runtime.session_factory) as session:
            try:
                tenant_id = tenancy.authenticate_api_key(session, key)
            except NotAuthenticated:
                return None
        return tenant_id, f"tenant:{tenant_id}"

    return await to_thread.run_sync(lookup)


# See billcycle.zuora.deps.ZUORA_UNITS_OF_WORK: the two caps together stay well below the
# 40 threads of the sync route pool and the 40 connections of the database pool.
FUSEBILL_UNITS_OF_WORK = 8

Ctx = Annotated[
    ServiceContext,
    Depends(fusebill_context, scope="function", max_concurrency=FUSEBILL_UNITS_OF_WORK),
]


def require_bulk_jobs(ctx: Ctx) -> ServiceContext:
    """Bulk jobs and write-offs are a per-tenant feature; Fusebill answers 404 when off."""
    tenant = tenants.get_tenant(ctx.session, ctx.tenant_id)
    if tenant is None or not tenant.bulk_jobs_enabled:
        raise NotFound("The requested resource was not found.")
    return ctx


BulkCtx = Annotated[ServiceContext, Depends(require_bulk_jobs)]
