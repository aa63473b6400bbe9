"""Zuora ``/v1/payments``: create, list, retrieve, update, delete, apply, unapply, cancel,
transfer, refund (with or without auto-unapply).

Keys are the payment's 32-hex id or its number (``P-00000001``); invoices are named by
``invoiceId`` or ``invoiceNumber``. billcycle has no debit memos: a non-empty
``debitMemos`` is refused (400, invalid value) rather than ignored, since ignoring it would
leave money unapplied that the client meant to apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header
from starlette.requests import Request
from starlette.responses import JSONResponse

from billcycle.accounts import service as accounts
from billcycle.accounts.models import Account
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, MissingField, NotFound
from billcycle.gateways.interface import declined_message
from billcycle.idempotency import Answer, request_hash, run_once
from billcycle.ids import parse_zuora_id
from billcycle.invoicing import service as invoicing
from billcycle.payments import (
    api_charges,
    applications,
    charging,
    gateway_refunds,
    listing,
    refunds,
)
from billcycle.payments import service as payments
from billcycle.payments.inputs import InvoiceApplication, ItemApplication, NewPayment, NewRefund
from billcycle.payments.models import Payment, Refund
from billcycle.payments.statuses import PaymentStatus, PaymentType
from billcycle.web.units import Units
from billcycle.zuora.deps import Ctx, Work
from billcycle.zuora.errors import GATEWAY_FAILURE, error_response
from billcycle.zuora.paging import Page, next_page_url
from billcycle.zuora.schemas import payments as schemas
from billcycle.zuora.schemas.payment_queries import PageSizeText, PageText, SortText, payment_query

router = APIRouter(prefix="/v1/payments", tags=["Payments"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Same key and body within 24 h: the first answer again, no second payment",
    ),
]
PAYMENT = "payment"


# -- keys and bodies -------------------------------------------------------------------


def find_payment(ctx: ServiceContext, key: str) -> Payment:
    """Zuora's payment key: the 32-hex id or the payment number."""
    return payments.find_payment(ctx, payment_id=parse_zuora_id(key), number=key)


def _id_or_404(value: str, resource: str, field: str) -> int:
    parsed = parse_zuora_id(value.strip())
    if parsed is None:
        raise NotFound(f"{field} {value} not found.", resource=resource, field=field)
    return parsed


def _account(ctx: ServiceContext, account_id: str | None, account_number: str | None) -> Account:
    if account_id:
        return accounts.find_account(ctx, account_id=parse_zuora_id(account_id), number=account_id)
    if account_number:
        return accounts.find_account(ctx, account_id=None, number=account_number)
    raise MissingField(
        "Missing required field: accountId or accountNumber (billcycle records a payment on "
        "an account).",
        resource=PAYMENT,
        field="accountId",
    )


def refuse_debit_memos(debit_memos: Sequence[Any] | None) -> None:
    if debit_memos:
        raise InvalidValue(
            "Invalid value for field debitMemos: billcycle has no debit memos; name invoices only.",
            resource=PAYMENT,
            field="debitMemos",
        )


def invoice_applications(
    ctx: ServiceContext, wanted: Sequence[schemas.InvoiceApplicationRequest] | None
) -> tuple[InvoiceApplication, ...]:
    """The wire's invoices as the domain's applications (invoices found by id or number;
    another account's invoice is refused by the domain as not found)."""
    found: list[InvoiceApplication] = []
    for index, item in enumerate(wanted or ()):
        key = item.invoice_id or item.invoice_number
        if not key:
            raise MissingField(
                f"Missing required field: invoices[{index}].invoiceId or invoiceNumber.",
                resource=PAYMENT,
                field="invoiceId",
            )
        invoice = invoicing.find_invoice(
            ctx, invoice_id=parse_zuora_id(key) if item.invoice_id else None, number=key
        )
        items: list[ItemApplication] = []
        for part in item.items or ():
            if part.tax_item_id and not part.invoice_item_id:
                raise InvalidValue(
                    "Invalid value for field taxItemId: billcycle has no taxation items.",
                    resource=PAYMENT,
                    field="taxItemId",
                )
            if not part.invoice_item_id:
                raise MissingField(
                    f"Missing required field: invoices[{index}].items.invoiceItemId.",
                    resource=PAYMENT,
                    field="invoiceItemId",
                )
            items.append(
                ItemApplication(
                    _id_or_404(part.invoice_item_id, "invoice_item", "invoiceItemId"),
                    schemas.exact(part.amount, "amount"),
                )
            )
        found.append(
            InvoiceApplication(invoice.id, schemas.exact(item.amount, "amount"), tuple(items))
        )
    return tuple(found)


def payment_answer(ctx: ServiceContext, payment: Payment) -> dict[str, Any]:
    view = payments.view_payment(ctx, payment)
    number = accounts.require_account(ctx, payment.account_id).account_number
    return {**schemas.payment_body(view, number), "success": True}


def refund_answer(ctx: ServiceContext, refund: Refund) -> dict[str, Any]:
    number = listing.payment_numbers(ctx, [refund.payment_id]).get(refund.payment_id)
    return {**schemas.refund_body(refund, number), "success": True}


def _raw(body: Any) -> dict[str, Any]:
    data: dict[str, Any] = body.model_dump(by_alias=True, exclude_unset=True, mode="json")
    data.update(body.model_extra or {})
    return data


def new_payment(ctx: ServiceContext, body: schemas.CreatePaymentRequest) -> NewPayment:
    refuse_debit_memos(body.debit_memos)
    account = _account(ctx, body.account_id, body.account_number)
    return NewPayment(
        account_id=account.id,
        amount=schemas.exact(body.amount, "amount"),
        currency=body.currency,
        payment_type=body.type,
        effective_date=body.effective_date,
        invoices=invoice_applications(ctx, body.invoices),
        payment_method_id=(
            _id_or_404(body.payment_method_id, "payment_method", "paymentMethodId")
            if body.payment_method_id
            else None
        ),
        gateway_id=(
            _id_or_404(body.gateway_id, "payment_gateway", "gatewayId") if body.gateway_id else None
        ),
        gateway_order_id=body.gateway_order_id,
        auth_transaction_id=body.auth_transaction_id,
        soft_descriptor=body.soft_descriptor,
        reference_id=body.reference_id,
        comment=body.comment,
    )


# -- routes ----------------------------------------------------------------------------


@router.post("", summary="Create a payment", response_model=schemas.PaymentResponse)
def create_payment(
    request: Request,
    work: Work,
    body: Annotated[schemas.CreatePaymentRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """An `External` payment is `Processed` at once and applied to `invoices` (none: it
    stays unapplied on the account). An `Electronic` payment is charged at once through
    `gatewayId` (default: the payment method's gateway, else the tenant's default) on
    `paymentMethodId` (default: the account's default method); the answer is the payment
    with the gateway's outcome: `Processed` (applied to `invoices`) or `Processing` while
    the gateway's answer is pending (applied when it settles). A payment the gateway
    declines is kept in status `Error` (nothing applied) and the request fails:
    `success: false` with `reasons[{code: 50050099, message: "Transaction declined.<gateway
    code> - <gateway message>"}]`, HTTP 402 (200 for a `Zuora-Version` before
    2024-05-20). `debitMemos` must be empty: billcycle has no debit memos."""
    fingerprint = request_hash("POST", request.url.path, _raw(body))
    if body.type == PaymentType.ELECTRONIC:
        return _charge(request, work, body, idempotency_key, fingerprint)
    with work.runtime.service_context(work.tenant_id) as ctx:

        def record() -> Answer:
            payment = payments.create_payment(ctx, new_payment(ctx, body))
            return Answer(200, payment_answer(ctx, payment))

        answer = run_once(
            ctx, scope=CREATE_SCOPE, key=idempotency_key, fingerprint=fingerprint, work=record
        )
        return _replayed(request, ctx, answer)


CREATE_SCOPE = "POST /v1/payments"
# An electronic payment's idempotency record stores which payment the key made; a
# replay answers that payment as it is now (its charge may have settled since).
CHARGED_PAYMENT = "billcycle:paymentId"


def _replayed(request: Request, ctx: ServiceContext, answer: Answer) -> JSONResponse:
    made = answer.body.get(CHARGED_PAYMENT)
    if isinstance(made, int):
        return _charged(request, ctx, payments.get_payment(ctx, made))
    return JSONResponse(answer.body, status_code=answer.status_code)


def _charged(request: Request, ctx: ServiceContext, payment: Payment) -> JSONResponse:
    """The answer to a charge: the payment, unless the gateway refused it. Zuora answers a
    refused electronic payment as a failed request (``success: false``, the gateway's
    reason as ``Transaction declined.<code> - <message>`` under an integration-error
    code); the Error payment stays recorded and can be read or listed."""
    if PaymentStatus(payment.status) is not PaymentStatus.ERROR:
        return JSONResponse(payment_answer(ctx, payment))
    message = declined_message(payment.gateway_response_code, payment.gateway_response)
    return error_response(request, GATEWAY_FAILURE, message, resource=PAYMENT)


def _charge(
    request: Request,
    work: Units,
    body: schemas.CreatePaymentRequest,
    key: str | None,
    fingerprint: str,
) -> JSONResponse:
    """Charge in ``payments.charging``'s three phases, each in its own unit of work, so
    no lock is held while the gateway is called. The Idempotency-Key is claimed in the
    first, with the Processing payment it made: a repeat finds that payment."""
    runtime, tenant_id = work.runtime, work.tenant_id
    started: list[charging.PendingCharge] = []
    with runtime.service_context(tenant_id) as ctx:

        def begin() -> Answer:
            request = api_charges.charge_request(ctx, new_payment(ctx, body))
            [charge] = charging.begin_charges(ctx, [request])
            if charge.error is not None:
                raise charge.error
            started.append(charge)
            return Answer(200, {CHARGED_PAYMENT: charge.payment_id})

        answer = run_once(ctx, scope=CREATE_SCOPE, key=key, fingerprint=fingerprint, work=begin)
        if not started:
            return _replayed(request, ctx, answer)
    answers = charging.send_charges(runtime, tenant_id, started, in_flight=1)
    with runtime.service_context(tenant_id) as ctx:
        [outcome] = charging.finish_charges(ctx, answers)
        payment_id = outcome.payment_id or started[0].payment_id
        assert payment_id is not None
        return _charged(request, ctx, payments.get_payment(ctx, payment_id))


@router.get(
    "",
    summary="List payments",
    response_model=schemas.PaymentsResponse,
    response_model_exclude_none=True,
)
def list_payments(
    request: Request,
    ctx: Ctx,
    page: PageText = None,
    page_size: PageSizeText = None,
    sort: SortText = None,
) -> Any:
    """Filters are query parameters named after response fields: `accountId`, `amount`,
    `appliedAmount`, `createdDate`, `creditBalanceAmount`, `currency`, `effectiveDate`,
    `number`, `refundAmount`, `status`, `type`, `unappliedAmount`, `updatedDate`. A bad
    parameter gets an invalid-query-parameter error (code category 27)."""
    params = dict(request.query_params)
    try:
        query = payment_query(params)
    except InvalidValue as exc:
        return error_response(request, 27, exc.message, resource=PAYMENT)
    views, more = listing.payments_page(ctx, query)
    numbers = {
        account_id: accounts.require_account(ctx, account_id).account_number
        for account_id in {view.payment.account_id for view in views}
    }
    body: dict[str, Any] = {
        "payments": [schemas.payment_body(v, numbers[v.payment.account_id]) for v in views],
        "success": True,
    }
    nxt = next_page_url(request, Page(query.offset // query.limit + 1, query.limit), more)
    if nxt:
        body["nextPage"] = nxt
    return JSONResponse(body)


@router.get("/{payment_key}", summary="Retrieve a payment", response_model=schemas.PaymentResponse)
def get_payment(payment_key: str, ctx: Ctx) -> JSONResponse:
    """By 32-hex id or number (`P-00000001`)."""
    return JSONResponse(payment_answer(ctx, find_payment(ctx, payment_key)))


@router.put("/{payment_key}", summary="Update a payment", response_model=schemas.PaymentResponse)
def update_payment(
    payment_key: str, ctx: Ctx, body: Annotated[schemas.UpdatePaymentRequest, Body()]
) -> JSONResponse:
    """`comment`, `referenceId` (External payments only) and `gatewayState`."""
    payment = find_payment(ctx, payment_key)
    payment = payments.update_payment(
        ctx,
        payment.id,
        comment=body.comment,
        reference_id=body.reference_id,
        gateway_state=body.gateway_state,
    )
    return JSONResponse(payment_answer(ctx, payment))


@router.delete("/{payment_key}", summary="Delete a payment")
def delete_payment(payment_key: str, ctx: Ctx) -> dict[str, Any]:
    """Only a `Canceled` payment can be deleted."""
    payments.delete_payment(ctx, find_payment(ctx, payment_key).id)
    return {"success": True}


@router.put(
    "/{payment_key}/apply", summary="Apply a payment", response_model=schemas.PaymentResponse
)
def apply_payment(
    payment_key: str, ctx: Ctx, body: Annotated[schemas.ApplyPaymentRequest, Body()]
) -> JSONResponse:
    """Apply unapplied money of a processed payment to posted invoices of its account:
    never more than it has unapplied, nor more than an invoice (or item) owes."""
    refuse_debit_memos(body.debit_memos)
    payment = find_payment(ctx, payment_key)
    applications.apply_payment(
        ctx,
        payment.id,
        invoice_applications(ctx, body.invoices),
        effective_date=body.effective_date,
    )
    return JSONResponse(payment_answer(ctx, payment))


@router.put(
    "/{payment_key}/unapply", summary="Unapply a payment", response_model=schemas.PaymentResponse
)
def unapply_payment(
    payment_key: str, ctx: Ctx, body: Annotated[schemas.ApplyPaymentRequest, Body()]
) -> JSONResponse:
    """Take back part of what the payment applied: the invoices owe it again."""
    refuse_debit_memos(body.debit_memos)
    payment = find_payment(ctx, payment_key)
    applications.unapply_payment(
        ctx,
        payment.id,
        invoice_applications(ctx, body.invoices),
        effective_date=body.effective_date,
    )
    return JSONResponse(payment_answer(ctx, payment))


@router.put(
    "/{payment_key}/cancel", summary="Cancel a payment", response_model=schemas.PaymentResponse
)
def cancel_payment(payment_key: str, ctx: Ctx) -> JSONResponse:
    """Only an unapplied, unrefunded payment that no gateway settled can be canceled."""
    payment = payments.cancel_payment(ctx, find_payment(ctx, payment_key).id)
    return JSONResponse(payment_answer(ctx, payment))


@router.put(
    "/{payment_key}/transfer",
    summary="Transfer a payment",
    response_model=schemas.PaymentResponse,
)
def transfer_payment(
    payment_key: str, ctx: Ctx, body: Annotated[schemas.TransferPaymentRequest, Body()]
) -> JSONResponse:
    """Move an unapplied payment to another account with its currency. billcycle keeps
    every payment on an account: `accountId` is required."""
    if not body.account_id:
        raise MissingField(
            "Missing required field: accountId (billcycle cannot unassign a payment).",
            resource=PAYMENT,
            field="accountId",
        )
    payment = find_payment(ctx, payment_key)
    target = _account(ctx, body.account_id, None)
    payment = payments.transfer_payment(
        ctx, payment.id, target.id, effective_date=body.effective_date
    )
    return JSONResponse(payment_answer(ctx, payment))


def _new_refund(
    body: schemas.CreateRefundRequest, unapply: tuple[InvoiceApplication, ...]
) -> NewRefund:
    return NewRefund(
        amount=schemas.exact(body.total_amount, "totalAmount"),
        refund_type=body.type,
        method_type=body.method_type,
        refund_date=body.refund_date,
        reason_code=body.reason_code,
        reference_id=body.reference_id,
        comment=body.comment,
        refund_transaction_type=body.refund_transaction_type,
        unapply=unapply,
    )


# As CHARGED_PAYMENT, for an electronic refund's idempotency record.
SENT_REFUND = "billcycle:refundId"


def _refund(
    work: Units,
    payment_key: str,
    body: schemas.RefundWithAutoUnapplyRequest | schemas.CreateRefundRequest,
    *,
    auto_unapply: bool,
    key: str | None,
    fingerprint: str,
) -> JSONResponse:
    """An External refund in one unit of work; an Electronic one through the payment's
    gateway in ``payments.gateway_refunds``' three (no lock held while the gateway
    answers), its Idempotency-Key claimed in the first with the Processing refund."""
    runtime, tenant_id = work.runtime, work.tenant_id
    scope = f"POST /v1/payments/{payment_key}/refunds" + ("/unapply" if auto_unapply else "")
    electronic = body.type == PaymentType.ELECTRONIC
    sent: list[int] = []
    with runtime.service_context(tenant_id) as ctx:

        def begin() -> Answer:
            unapply: tuple[InvoiceApplication, ...] = ()
            if isinstance(body, schemas.RefundWithAutoUnapplyRequest):
                refuse_debit_memos(body.debit_memos)
                if body.write_off:
                    raise InvalidValue(
                        "Invalid value for field writeOff: billcycle does not write off "
                        "invoices while refunding; write them off with "
                        "PUT /v1/invoices/{invoiceKey}/write-off.",
                        resource="refund",
                        field="writeOff",
                    )
                unapply = invoice_applications(ctx, body.invoices)
            payment = find_payment(ctx, payment_key)
            data = _new_refund(body, unapply)
            if electronic:
                begun = gateway_refunds.begin_refund(
                    ctx, payment.id, data, auto_unapply=auto_unapply
                )
                sent.append(begun.id)
                return Answer(200, {SENT_REFUND: begun.id})
            if auto_unapply:
                refund = refunds.refund_with_auto_unapply(ctx, payment.id, data)
            else:
                refund = refunds.refund_payment(ctx, payment.id, data)
            return Answer(200, refund_answer(ctx, refund))

        answer = run_once(ctx, scope=scope, key=key, fingerprint=fingerprint, work=begin)
        if not sent:
            made = answer.body.get(SENT_REFUND)
            if isinstance(made, int):
                return JSONResponse(refund_answer(ctx, refunds.get_refund(ctx, made)))
            return JSONResponse(answer.body, status_code=answer.status_code)
    result, error = gateway_refunds.send_refund(runtime, tenant_id, sent[0])
    with runtime.service_context(tenant_id) as ctx:
        refund = gateway_refunds.finish_refund(ctx, sent[0], result, error)
        return JSONResponse(refund_answer(ctx, refund))


@router.post(
    "/{payment_key}/refunds", summary="Refund a payment", response_model=schemas.RefundResponse
)
def refund_payment(
    payment_key: str,
    request: Request,
    work: Work,
    body: Annotated[schemas.CreateRefundRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Refund from the payment's unapplied amount (`totalAmount` <= unapplied; applied
    money needs an unapply first, or the auto-unapply operation). `methodType` is required
    for an External refund; an Electronic refund (of an Electronic payment) goes back
    through the payment's gateway and answers `Processed`, `Error` (with the gateway's
    response; the money is back on the payment, unapplied) or `Processing`."""
    fingerprint = request_hash("POST", request.url.path, _raw(body))
    return _refund(
        work, payment_key, body, auto_unapply=False, key=idempotency_key, fingerprint=fingerprint
    )


@router.post(
    "/{payment_key}/refunds/unapply",
    summary="Refund a payment with auto-unapply",
    response_model=schemas.RefundResponse,
)
def refund_with_auto_unapply(
    payment_key: str,
    request: Request,
    work: Work,
    body: Annotated[schemas.RefundWithAutoUnapplyRequest, Body()],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Refund up to all not refunded yet, unapplying first what the unapplied amount does
    not cover: from the `invoices` named, else from the newest applications. `writeOff`
    is not supported (400). Electronic refunds go through the gateway as above."""
    fingerprint = request_hash("POST", request.url.path, _raw(body))
    return _refund(
        work, payment_key, body, auto_unapply=True, key=idempotency_key, fingerprint=fingerprint
    )
