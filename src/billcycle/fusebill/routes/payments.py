"""Fusebill routes: payments, refunds and payment activities.

- ``POST /v1/payments``: record a payment (Cash, Check, DirectDeposit) and allocate it to
  named invoices or automatically (oldest or newest first); answers the payment
- ``GET /v1/payments/{id}``: a payment with its allocations, refunds, unallocated and
  refundable amounts
- ``POST /v1/Refunds``: refund part of a payment, from its unallocated money or from
  the invoices named in ``refundAllocations``; answers the refund
- ``GET /v1/paymentActivities/{id}``, ``GET /v1/customers/{id}/paymentActivities``,
  ``GET /v1/PaymentActivities/GetByAccountID``: every attempt, successful or failed

Statuses: 400 a malformed body or a value the request itself gets wrong (zero, negative
or over-precise amounts, allocations above an invoice's balance or above the payment, a
refund above what is refundable, refund allocations that do not total the refund), 404
an unknown or another tenant's customer, payment, invoice or activity, 409 a state that
refuses a well-formed request. Every refusal changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, RuleViolation
from billcycle.fusebill.deps import Ctx
from billcycle.fusebill.paging import PageParams, set_paging_headers
from billcycle.fusebill.query import parse_id
from billcycle.fusebill.schemas import payments as schemas
from billcycle.fusebill.schemas.customers import resource_uri
from billcycle.payments import activities, card_collection
from billcycle.payments import refunds as refund_service
from billcycle.payments.activity_models import PaymentActivity
from billcycle.payments.activity_statuses import RECORDED_KINDS, ActivityStatus, ActivityType
from billcycle.payments.statuses import RefundStatus
from billcycle.runtime import Runtime

router = APIRouter(tags=["Payments"])

SORTABLE = ("id", "createdTimestamp", "effectiveTimestamp")


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _body(model: type[Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def _payment(request: Request, ctx: ServiceContext, payment_id: int) -> schemas.PaymentOut:
    found = activities.collected_payment(ctx, payment_id)
    return schemas.payment_out(found, resource_uri(request, "payments", payment_id))


def _transaction(
    request: Request, ctx: ServiceContext, activity: PaymentActivity
) -> schemas.PaymentOut | schemas.RefundOut | None:
    if activity.payment_id is None or activities.current_status(ctx, activity) == (
        ActivityStatus.FAILED
    ):
        return None
    if activity.transaction_type == ActivityType.REFUND and activity.refund_id is not None:
        refund = refund_service.get_refund(ctx, activity.refund_id)
        found = activities.collected_payment(ctx, activity.payment_id)
        return schemas.refund_out(refund, activity, found.activity)
    return _payment(request, ctx, activity.payment_id)


def _activity(
    request: Request, ctx: ServiceContext, activity: PaymentActivity
) -> schemas.ActivityOut:
    return schemas.activity_out(
        activity,
        activities.current_status(ctx, activity),
        _transaction(request, ctx, activity),
        resource_uri(request, "paymentActivities", activity.id),
    )


@router.post(
    "/v1/payments",
    response_model=schemas.PaymentOut,
    summary="Create a payment",
    openapi_extra=_body(schemas.PaymentBody),
)
def create_payment(
    request: Request, ctx: Ctx, raw: Annotated[bytes, Depends(_raw_body)]
) -> schemas.PaymentOut:
    """Record a Cash, Check or DirectDeposit payment, or charge a CreditCard or ACH
    payment method now through its gateway (``paymentMethodId``, or the customer's default
    with ``useDefaultPaymentMethod``). The payment is allocated to ``paymentAllocations``
    or, with ``autoAllocate``, to the customer's open invoices in ``autoAllocateOrder``;
    what is not allocated stays on the customer as unallocated money. A declined charge
    answers 409 and leaves a Failed payment activity, and no payment."""
    body = schemas.parse_payment(schemas.loads(raw))
    if body.method_kind in RECORDED_KINDS:
        payment_id = activities.collect(ctx, body).id
    else:
        # Charged in charging's own units of work: this request's unit has not begun
        # (nothing read yet), so it reads the outcome once they have committed.
        runtime: Runtime = request.app.state.runtime
        attempt = card_collection.charge(runtime, ctx.tenant_id, body)
        if attempt.outcome.payment_id is None or not (
            attempt.outcome.succeeded or attempt.outcome.pending
        ):
            raise card_collection.declined(attempt)
        payment_id = attempt.outcome.payment_id
    return _payment(request, ctx, payment_id)


@router.get(
    "/v1/payments/{payment_id}", response_model=schemas.PaymentOut, summary="Read a payment"
)
def get_payment(payment_id: str, request: Request, ctx: Ctx) -> schemas.PaymentOut:
    """A payment with its invoice allocations, refunds, and unallocated and refundable
    amounts (derived from the ledger)."""
    return _payment(request, ctx, parse_id(payment_id, "payment"))


@router.post(
    "/v1/refunds",
    response_model=schemas.RefundOut,
    summary="Refund a payment",
    openapi_extra=_body(schemas.RefundBody),
)
def create_refund(
    request: Request, ctx: Ctx, raw: Annotated[bytes, Depends(_raw_body)]
) -> schemas.RefundOut:
    """Refund part of a payment. ``refundAllocations`` (required once the payment is fully
    allocated, totalling the amount) name the invoices that owe the money again. A card
    or bank payment refunded by ``PaymentMethod`` goes back through its gateway; a refund
    the gateway declines answers 409 and leaves a Failed activity."""
    body = schemas.parse_refund(raw)
    runtime: Runtime = request.app.state.runtime
    with runtime.service_context(ctx.tenant_id) as checking:  # writes nothing
        through_gateway = activities.check_refund(checking, body).through_gateway
    if through_gateway:
        # Refunded in its own units of work: this request's unit has not begun.
        refund, activity_id = card_collection.refund(runtime, ctx.tenant_id, body)
        if refund.status == RefundStatus.ERROR:
            raise RuleViolation(
                f"The refund failed at the gateway (payment activity {activity_id}); the "
                "money is back on the payment, unallocated.",
                resource="refund",
            )
    else:
        refund = activities.refund_customer(ctx, body)
    found = activities.collected_payment(ctx, refund.payment_id)
    return schemas.refund_out(refund, found.refund_activities.get(refund.id), found.activity)


# -- payment activities ---------------------------------------------------------------------


def _ascending(page: Any) -> bool:
    wanted = (page.sort_expression or "").strip()
    if wanted and wanted.casefold() not in {name.casefold() for name in SORTABLE}:
        raise InvalidValue(
            f"Invalid sortExpression '{wanted[:40]}'. Sortable fields: {', '.join(SORTABLE)}.",
            field="sortExpression",
        )
    return bool(page.sort_order == "Ascending")


def _activity_page(
    request: Request,
    response: Response,
    ctx: ServiceContext,
    page: Any,
    account_id: int | None,
) -> list[schemas.ActivityOut]:
    found, total = activities.list_activities(
        ctx,
        account_id=account_id,
        offset=page.offset,
        limit=page.size,
        ascending=_ascending(page),
    )
    set_paging_headers(response, page, total, "id")
    return [_activity(request, ctx, activity) for activity in found]


@router.get(
    "/v1/paymentactivities/getbyaccountid",
    response_model=list[schemas.ActivityOut],
    summary="List every payment activity",
)
def list_all_activities(
    request: Request, response: Response, ctx: Ctx, page: PageParams
) -> list[schemas.ActivityOut]:
    """Every customer's payment activities, newest first, a page at a time."""
    return _activity_page(request, response, ctx, page, None)


@router.get(
    "/v1/paymentactivities/{activity_id}",
    response_model=schemas.ActivityOut,
    summary="Read a payment activity",
)
def get_activity(activity_id: str, request: Request, ctx: Ctx) -> schemas.ActivityOut:
    """One attempt: its status, method, amount and the payment or refund it made."""
    activity = activities.get_activity(ctx, parse_id(activity_id, "payment activity"))
    return _activity(request, ctx, activity)


@router.get(
    "/v1/customers/{customer_id}/paymentactivities",
    response_model=list[schemas.ActivityOut],
    summary="List a customer's payment activities",
)
def list_customer_activities(
    customer_id: str, request: Request, response: Response, ctx: Ctx, page: PageParams
) -> list[schemas.ActivityOut]:
    """The customer's collections and refunds, successful or failed, newest first."""
    return _activity_page(request, response, ctx, page, parse_id(customer_id, "customer"))
