"""Zuora routes: ``/v1/subscriptions`` (create, retrieve, list by account, update,
cancel, suspend, resume, renew)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request

from billcycle.subscriptions import amendments, lifecycle, service, views
from billcycle.subscriptions.statuses import ChargeDetail
from billcycle.zuora.deps import Ctx
from billcycle.zuora.paging import PageParams, next_page_url
from billcycle.zuora.schemas import subscriptions as schemas

router = APIRouter(prefix="/v1/subscriptions", tags=["Subscriptions"])

ChargeDetailQuery = Annotated[
    str | None,
    Query(
        alias="charge-detail",
        description="last-segment (default), current-segment, all-segments or "
        "specific-segment (with as-of-date)",
    ),
]
AsOfDate = Annotated[str | None, Query(alias="as-of-date", description="yyyy-mm-dd")]


@router.post("", response_model=schemas.CreateSubscriptionResponse, summary="Create a subscription")
def create_subscription(
    body: schemas.CreateSubscriptionRequest, ctx: Ctx
) -> schemas.CreateSubscriptionResponse:
    """Subscribe an account to product rate plans, with optional charge overrides."""
    subscription = service.create_subscription(ctx, schemas.to_new_subscription(body))
    return schemas.created(subscription, views.view_subscription(ctx, subscription))


@router.get(
    "/accounts/{account_key}",
    response_model=schemas.GetSubscriptionsResponse,
    summary="List subscriptions by account key",
)
def get_subscriptions_by_account(
    account_key: str,
    request: Request,
    page: PageParams,
    ctx: Ctx,
    charge_detail: ChargeDetailQuery = None,
    as_of_date: AsOfDate = None,
) -> schemas.GetSubscriptionsResponse:
    """Every subscription of the account (id or number), a page at a time."""
    as_of = schemas.query_date(as_of_date, "as-of-date")
    account, subscriptions, total = views.subscriptions_of_account(
        ctx, schemas.object_key(account_key), offset=page.offset, limit=page.size
    )
    shown = [
        views.view_subscription(ctx, s, detail=charge_detail, as_of=as_of, account=account)
        for s in subscriptions
    ]
    has_more = page.offset + len(subscriptions) < total
    return schemas.subscription_list(
        shown,
        next_page_url(request, page, has_more),
        all_segments=charge_detail == ChargeDetail.ALL_SEGMENTS,
    )


@router.get(
    "/{subscription_key}",
    response_model=schemas.GetSubscriptionResponse,
    summary="Retrieve a subscription by key",
)
def get_subscription(
    subscription_key: str,
    ctx: Ctx,
    charge_detail: ChargeDetailQuery = None,
    as_of_date: AsOfDate = None,
) -> schemas.GetSubscriptionResponse:
    """The subscription (id or number) with its rate plans and charges."""
    as_of = schemas.query_date(as_of_date, "as-of-date")
    subscription = service.find_subscription(ctx, schemas.object_key(subscription_key))
    view = views.view_subscription(ctx, subscription, detail=charge_detail, as_of=as_of)
    return schemas.subscription_detail(
        view, all_segments=charge_detail == ChargeDetail.ALL_SEGMENTS
    )


@router.put(
    "/{subscription_key}",
    response_model=schemas.UpdateSubscriptionResponse,
    summary="Update a subscription",
)
def update_subscription(
    subscription_key: str, body: schemas.UpdateSubscriptionRequest, ctx: Ctx
) -> schemas.UpdateSubscriptionResponse:
    """Add, update or remove rate plans and change the term settings."""
    result = amendments.update_subscription(
        ctx, schemas.object_key(subscription_key), schemas.to_subscription_changes(body)
    )
    return schemas.updated(result)


@router.put(
    "/{subscription_key}/cancel",
    response_model=schemas.CancelSubscriptionResponse,
    summary="Cancel a subscription",
)
def cancel_subscription(
    subscription_key: str, body: schemas.CancelSubscriptionRequest, ctx: Ctx
) -> schemas.CancelSubscriptionResponse:
    """Cancel at the term end, a specific date or the end of the last invoiced period."""
    result = lifecycle.cancel_subscription(
        ctx, schemas.object_key(subscription_key), schemas.to_cancellation(body)
    )
    return schemas.cancelled(result)


@router.put(
    "/{subscription_key}/suspend",
    response_model=schemas.SuspendSubscriptionResponse,
    summary="Suspend a subscription",
)
def suspend_subscription(
    subscription_key: str, body: schemas.SuspendSubscriptionRequest, ctx: Ctx
) -> schemas.SuspendSubscriptionResponse:
    """Stop the subscription's charges from a date, optionally scheduling the resumption."""
    result = lifecycle.suspend_subscription(
        ctx, schemas.object_key(subscription_key), schemas.to_suspension(body)
    )
    return schemas.suspended(result)


@router.put(
    "/{subscription_key}/resume",
    response_model=schemas.ResumeSubscriptionResponse,
    summary="Resume a subscription",
)
def resume_subscription(
    subscription_key: str, body: schemas.ResumeSubscriptionRequest, ctx: Ctx
) -> schemas.ResumeSubscriptionResponse:
    """Restart a suspended subscription's charges from a date."""
    result = lifecycle.resume_subscription(
        ctx, schemas.object_key(subscription_key), schemas.to_resumption(body)
    )
    return schemas.resumed(result)


@router.put(
    "/{subscription_key}/renew",
    response_model=schemas.RenewSubscriptionResponse,
    summary="Renew a subscription",
)
def renew_subscription(
    subscription_key: str, ctx: Ctx, body: schemas.RenewSubscriptionRequest | None = None
) -> schemas.RenewSubscriptionResponse:
    """Start the next term of a TERMED subscription at the current term's end."""
    if body is not None:
        body.refuse_billing()
    result = lifecycle.renew_subscription(ctx, schemas.object_key(subscription_key))
    return schemas.renewed(result)
