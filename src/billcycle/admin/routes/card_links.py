"""``/v1/tenants/{tenant_id}/accounts/{account_id}/card-link``: a signed, expiring link to
the hosted card page, for an operator to send a customer whose card must change."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Path
from starlette.requests import Request

from billcycle.admin.deps import Ctx, runtime_of
from billcycle.admin.schemas.card_links import CardLinkOut
from billcycle.admin.schemas.common import PROBLEM_RESPONSES
from billcycle.paymentmethods import capture_links

router = APIRouter(
    prefix="/v1/tenants/{tenant_id}/accounts/{account_id}",
    tags=["Card links"],
    responses=PROBLEM_RESPONSES,
)

TenantId = Path(ge=1, le=2**63 - 1, description="The tenant's id")
AccountId = Path(ge=1, le=2**63 - 1, description="The account's id")


@router.post(
    "/card-link", status_code=201, response_model=CardLinkOut, summary="Make a card page link"
)
def make_card_link(
    ctx: Ctx, request: Request, tenant_id: int = TenantId, account_id: int = AccountId
) -> CardLinkOut:
    """Anyone holding the link can set the account's default card until it expires
    (``BILLCYCLE_CARD_LINK_TTL_SECONDS``, a week by default): send it to the customer
    only. It starts with ``BILLCYCLE_PUBLIC_URL``."""
    runtime = runtime_of(request)
    settings = runtime.settings
    link = capture_links.card_link(
        runtime.context(ctx.session, tenant_id),
        account_id,
        signing_key=request.app.state.signing_key,
        public_url=settings.public_url,
        ttl=timedelta(seconds=settings.card_link_ttl_seconds),
    )
    return CardLinkOut(url=link.url, expires_at=link.expires_at)
