"""``/v1/tenants/{tenant_id}/collections/policy`` and
``/v1/tenants/{tenant_id}/accounts/{account_id}/collections[/events]``: a tenant's one
collections policy (retry rules and dunning), an account's overrides and standing, and
its collections events (keyset-paged, oldest first).

The admin API speaks for operators across tenants, so the tenant is in the path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import Response

from billcycle.admin.deps import AdminContext, Ctx, runtime_of
from billcycle.admin.paging import PageParams, paginate
from billcycle.admin.schemas.collections import (
    AccountCollectionsOut,
    AccountOverridesUpdate,
    EventOut,
    PolicyOut,
    PolicyUpdate,
)
from billcycle.admin.schemas.common import PROBLEM_RESPONSES, ListPage
from billcycle.collections import events, policy
from billcycle.collections import service as collections
from billcycle.collections.inputs import AccountOverrides, PolicyChanges
from billcycle.context import ServiceContext
from billcycle.tenancy import management

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}", tags=["Collections"], responses=PROBLEM_RESPONSES
)

TenantId = Path(ge=1, le=2**63 - 1, description="The tenant's id")
AccountId = Path(ge=1, le=2**63 - 1, description="The account's id")


@contextmanager
def _tenant(ctx: AdminContext, request: Request, tenant_id: int) -> Iterator[ServiceContext]:
    management.get_tenant(ctx.session, tenant_id)  # an unknown tenant is a 404
    yield runtime_of(request).context(ctx.session, tenant_id)


def _sent(body: PolicyUpdate | AccountOverridesUpdate) -> dict[str, Any]:
    """The fields the client sent (the rest stay UNSET), day lists as tuples."""
    values: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        values[name] = tuple(value) if isinstance(value, list) else value
    return values


@router.get("/collections/policy", response_model=PolicyOut, summary="Get the collections policy")
def get_policy(ctx: Ctx, request: Request, tenant_id: int = TenantId) -> PolicyOut:
    """The tenant's one policy: retry rules and dunning (the defaults until set)."""
    with _tenant(ctx, request, tenant_id) as service:
        return PolicyOut.of(policy.policy_for(service))


@router.put(
    "/collections/policy", response_model=PolicyOut, summary="Change the collections policy"
)
def put_policy(
    body: PolicyUpdate, ctx: Ctx, request: Request, tenant_id: int = TenantId
) -> PolicyOut:
    """Change the fields sent; every value is checked before anything changes."""
    changes = PolicyChanges(**_sent(body))
    with _tenant(ctx, request, tenant_id) as service:
        return PolicyOut.of(policy.set_policy(service, changes))


@router.get(
    "/accounts/{account_id}/collections",
    response_model=AccountCollectionsOut,
    summary="Get an account's collections state",
)
def get_account(
    ctx: Ctx, request: Request, tenant_id: int = TenantId, account_id: int = AccountId
) -> AccountCollectionsOut:
    """Standing, suspension, overrides and the policy as it applies to the account."""
    with _tenant(ctx, request, tenant_id) as service:
        return AccountCollectionsOut.of(collections.account_collections(service, account_id))


@router.put(
    "/accounts/{account_id}/collections",
    response_model=AccountCollectionsOut,
    summary="Change an account's collections overrides",
)
def put_account(
    body: AccountOverridesUpdate,
    ctx: Ctx,
    request: Request,
    tenant_id: int = TenantId,
    account_id: int = AccountId,
) -> AccountCollectionsOut:
    """Attempt days and grace period of its own, dunning exemption, the manual collection
    flag (shown as ``Collection``)."""
    changes = AccountOverrides(**_sent(body))
    with _tenant(ctx, request, tenant_id) as service:
        policy.set_account_overrides(service, account_id, changes)
        return AccountCollectionsOut.of(collections.account_collections(service, account_id))


@router.get(
    "/accounts/{account_id}/collections/events",
    response_model=ListPage[EventOut],
    summary="List an account's collections events",
)
def list_events(
    ctx: Ctx,
    page: PageParams,
    request: Request,
    response: Response,
    tenant_id: int = TenantId,
    account_id: int = AccountId,
) -> ListPage[EventOut]:
    """Attempts, payment outcomes with their gateway codes, standing changes, suspension,
    resumption, cancellation and write-offs, oldest first."""
    with _tenant(ctx, request, tenant_id) as service:
        collections.require_account(service, account_id)
        rows = events.account_events(service, account_id, after=page.after, limit=page.fetch)
    shown = paginate(request, response, page, rows, lambda e: e.id)
    return ListPage[EventOut](data=[EventOut.of(e) for e in shown.items], next=shown.next)
