"""Charging through a gateway, in three phases, so that no database write lock is held
while a gateway is called and a payment run can batch and overlap its calls.

1. :func:`begin_charges` (one unit of work, the caller commits it): each request becomes
   a Processing electronic payment with its number, its gateway attempt key
   (``gateways.interface.attempt_key(gatewayOrderId, attempt)``, the payment number by
   default) and its intended applications (``payments.pending``). Nothing counts as paid
   yet. A request that cannot be charged (no method, a closed or scrubbed method, a
   method of another account, no token, no gateway, a bad amount) gets a
   :class:`PendingCharge` whose ``error`` says why, and writes nothing: one bad account
   does not fail a batch.
2. :func:`send_charges` (no unit of work open): the gateway calls, at most ``in_flight``
   at once in a thread pool, each gateway's ``max_calls_per_second`` honoured.
3. :func:`finish_charges` (one unit of work): Approved -> Processed and applied;
   Declined -> Error; Pending or Unknown -> still Processing, for the reconciler
   (``payments.reconciler``), which asks the gateway with the same attempt key. The
   payment method's counters follow each known outcome (``paymentmethods.outcomes``).

A process that dies between 2 and 3 leaves Processing payments whose charges the
gateway knows by their keys: the reconciler settles them, never charging twice. A retry
after a *known* failure is a new payment, hence a new key (lago-api #3042: a stuck
``processing`` payment must not block retries); a payment sent with a client's
``gatewayOrderId`` already used by a failed attempt gets the next attempt's key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from billcycle.accounts import service as accounts
from billcycle.context import ServiceContext
from billcycle.errors import Conflict, DomainError, InvalidValue, NotFound, RuleViolation
from billcycle.gateways import service as gateways
from billcycle.gateways.interface import (
    Gateway,
    GatewayResult,
    PaymentMethodRef,
    SaleRequest,
    attempt_key,
)
from billcycle.gateways.statuses import DeclineCategory, GatewayOutcome, TransactionKind
from billcycle.ledger.models import EntrySource
from billcycle.money import from_minor
from billcycle.paymentmethods import outcomes as method_outcomes
from billcycle.paymentmethods import repository as methods
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.statuses import PaymentMethodStatus
from billcycle.payments import pending as intentions
from billcycle.payments import pending_repository
from billcycle.payments import service as payments
from billcycle.payments.checks import PAYMENT, lock
from billcycle.payments.inputs import GatewayOutcome as SettleOutcome
from billcycle.payments.inputs import InvoiceApplication, NewPayment
from billcycle.payments.models import Payment
from billcycle.payments.statuses import SETTLED_STATUSES, GatewayState, PaymentStatus, PaymentType
from billcycle.runtime import Runtime

log = logging.getLogger(__name__)

METHOD = "paymentMethod"
DEFAULT_IN_FLIGHT = 64
# The gateway setting every gateway type may carry: calls per second per process.
RATE_LIMIT_SETTING = "max_calls_per_second"


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    account_id: int
    amount_minor: int  # > 0, in the account's currency
    invoices: tuple[InvoiceApplication, ...]  # applied when the charge settles; () = unapplied
    payment_method_id: int | None = None  # None: the account's default method
    gateway_id: int | None = None  # None: the method's gateway, else the tenant's default
    comment: str | None = None
    source: EntrySource = EntrySource.API
    attempt_source: str | None = None  # e.g. "PaymentRun PR-00000001" (kept on the payment)
    # Zuora's gatewayOrderId (the gateway's duplicate check); None: the payment number.
    gateway_order_id: str | None = None
    # The client's own fields, kept on the payment: an earlier authorization it
    # captures, the statement text (also the sale's description) and its reference (the
    # gateway's transaction id replaces it on the wire once the gateway gives one).
    auth_transaction_id: str | None = None
    soft_descriptor: str | None = None
    reference_id: str | None = None


@dataclass(frozen=True, slots=True)
class PendingCharge:
    """A Processing payment to send to its gateway, or why the request was refused."""

    request: ChargeRequest
    payment_id: int | None = None
    payment_number: str | None = None
    attempt_key: str | None = None
    gateway_id: int | None = None
    payment_method_id: int | None = None
    amount: Decimal | None = None
    currency: str | None = None
    token: str | None = None
    second_token: str | None = None
    error: DomainError | None = None


@dataclass(frozen=True, slots=True)
class ChargeAnswer:
    """What the gateway answered for one pending charge (``result``), or the domain error
    it raised before charging (``error``); both None only for a refused request."""

    pending: PendingCharge
    result: GatewayResult | None = None
    error: DomainError | None = None


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    request: ChargeRequest
    payment_id: int | None
    payment_number: str | None
    status: PaymentStatus | None
    succeeded: bool
    pending: bool  # still Processing: the reconciler will settle it
    gateway_code: str | None = None
    gateway_message: str | None = None
    decline_category: DeclineCategory | None = None
    error: DomainError | None = None
    transaction_id: str | None = None
    # This call moved the payment out of Processing (an answer recorded twice, here and
    # by the reconciler, settles once: only the first tells collections).
    settled_now: bool = False


# -- phase 1 ---------------------------------------------------------------------------


def begin_charges(ctx: ServiceContext, requests: Sequence[ChargeRequest]) -> list[PendingCharge]:
    """Processing payments for ``requests`` (in order), each in a savepoint: a refused
    request writes nothing and answers its error. The caller commits before sending."""
    found: list[PendingCharge] = []
    for request in requests:
        try:
            with ctx.session.begin_nested():
                found.append(_begin_one(ctx, request))
        except DomainError as exc:
            found.append(PendingCharge(request=request, error=exc))
    return found


def _begin_one(ctx: ServiceContext, request: ChargeRequest) -> PendingCharge:
    account = accounts.require_account(ctx, request.account_id)
    if request.amount_minor <= 0:
        raise InvalidValue(
            "The amount must be greater than zero.", resource=PAYMENT, field="amount"
        )
    method = _method_of(ctx, request)
    # The request's gateway, else the method's (authGateway), else its account's
    # (paymentGateway), else the tenant's default: paymentmethods.service.gateway_for's rule.
    gateway_id = request.gateway_id or method.gateway_id or account.payment_gateway_id
    gateway = (
        gateways.get_gateway(ctx, gateway_id)
        if gateway_id is not None
        else gateways.get_default_gateway(ctx)
    )
    if not gateway.is_active:
        raise RuleViolation(
            "Payment gateway {gateway} is not active.",
            resource="payment_gateway",
            ids={"gateway": gateway.id},
        )
    amount = from_minor(request.amount_minor, account.currency)
    payment = payments.create_payment(
        ctx,
        NewPayment(
            account_id=account.id,
            amount=amount,
            currency=account.currency,
            payment_type=PaymentType.ELECTRONIC,
            invoices=request.invoices,
            payment_method_id=method.id,
            gateway_id=gateway.id,
            gateway_order_id=request.gateway_order_id,
            auth_transaction_id=request.auth_transaction_id,
            soft_descriptor=request.soft_descriptor,
            reference_id=request.reference_id,
            comment=request.comment,
            source=request.source,
        ),
    )
    order_id = payment.gateway_order_id or payment.number
    payment.attempt_key = attempt_key(order_id, _attempt_of(ctx, payment, order_id))
    payment.attempt_source = request.attempt_source
    ctx.session.flush()
    return PendingCharge(
        request=request,
        payment_id=payment.id,
        payment_number=payment.number,
        attempt_key=payment.attempt_key,
        gateway_id=gateway.id,
        payment_method_id=method.id,
        amount=amount,
        currency=account.currency,
        token=method.token,
        second_token=method.second_token,
    )


def _method_of(ctx: ServiceContext, request: ChargeRequest) -> PaymentMethod:
    if request.payment_method_id is None:
        method = methods.default_for_account(ctx.session, ctx.tenant_id, request.account_id)
        if method is None:
            raise RuleViolation(
                "Account {account} has no default payment method.",
                resource=PAYMENT,
                field=METHOD + "Id",
                ids={"account": request.account_id},
            )
    else:
        found = methods.get_method(ctx.session, ctx.tenant_id, request.payment_method_id)
        if found is None:
            raise NotFound(
                "Payment method {method} not found.",
                resource=METHOD,
                ids={"method": request.payment_method_id},
            )
        method = found
        if method.account_id != request.account_id:
            raise RuleViolation(
                "Payment method {method} does not belong to account {account}.",
                resource=PAYMENT,
                field=METHOD + "Id",
                ids={"method": method.id, "account": request.account_id},
            )
    if method.status != PaymentMethodStatus.ACTIVE:
        raise RuleViolation(
            f"Payment method {{method}} is {method.status}: it cannot be charged.",
            resource=PAYMENT,
            field=METHOD + "Id",
            ids={"method": method.id},
        )
    if not method.token:
        raise RuleViolation(
            "Payment method {method} has no gateway token: it cannot be charged.",
            resource=PAYMENT,
            field=METHOD + "Id",
            ids={"method": method.id},
        )
    return method


def _attempt_of(ctx: ServiceContext, payment: Payment, order_id: str) -> int:
    """This payment's attempt number under ``order_id``: one more than the failed
    attempts before it. An earlier attempt still Processing, or one that succeeded,
    means this order was (or may have been) charged: refused, never sent twice."""
    earlier = pending_repository.same_order_payments(
        ctx.session, ctx.tenant_id, order_id, payment.id
    )
    for other in earlier:
        status = PaymentStatus(other.status)
        if status == PaymentStatus.PROCESSING:
            raise Conflict(
                f"Payment {other.number} with gatewayOrderId {order_id} is still processing: "
                "it is settled by the gateway's answer before the order can be retried.",
                resource=PAYMENT,
                field="gatewayOrderId",
            )
        if status in SETTLED_STATUSES:
            raise RuleViolation(
                f"Payment {other.number} already charged gatewayOrderId {order_id}.",
                resource=PAYMENT,
                field="gatewayOrderId",
            )
    return len(earlier) + 1


# -- phase 2 ---------------------------------------------------------------------------


class RateLimiter:
    """Spaces calls at least ``1 / rate`` seconds apart (per process). Each caller takes
    the next free slot under a lock and sleeps until it, outside the lock."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self, sleep: Callable[[float], None]) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.rate
        if slot > now:
            sleep(slot - now)


_LIMITERS: dict[tuple[int, int], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def _limiter(tenant_id: int, gateway_id: int, rate: float) -> RateLimiter:
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get((tenant_id, gateway_id))
        if limiter is None or limiter.rate != rate:
            limiter = _LIMITERS[(tenant_id, gateway_id)] = RateLimiter(rate)
        return limiter


def send_charges(
    runtime: Runtime,
    tenant_id: int,
    pending: Sequence[PendingCharge],
    *,
    in_flight: int = DEFAULT_IN_FLIGHT,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ChargeAnswer]:
    """Send each pending charge's sale to its gateway; answers in ``pending``'s order.

    Holds no database write lock (the gateways are read in a short unit of work first):
    the caller committed its Processing payments, and a gateway that keeps its own
    records in billcycle's database (the test gateway) writes them meanwhile. At most
    ``in_flight`` calls are outstanding; each gateway's ``max_calls_per_second`` setting
    spaces its calls. ``sleep`` is how waits happen (tests record them instead).

    An exception from an adapter that is not a domain error is a lost answer: the charge
    may have gone through, so it is ``Unknown`` and the payment stays Processing.
    """
    if in_flight < 1:
        raise InvalidValue("in_flight is at least 1.", field="in_flight")
    answers: list[ChargeAnswer | None] = [None] * len(pending)
    todo = [(i, p) for i, p in enumerate(pending) if p.error is None and p.gateway_id]
    for i, charge in enumerate(pending):
        if charge.error is not None or not charge.gateway_id:
            answers[i] = ChargeAnswer(pending=charge)
    opened: dict[int, tuple[Gateway, RateLimiter] | DomainError] = {}
    if todo:
        with runtime.service_context(tenant_id) as ctx:
            for gateway_id in {p.gateway_id for _, p in todo if p.gateway_id}:
                try:
                    row = gateways.get_gateway(ctx, gateway_id)
                    gateway = gateways.open_gateway(ctx, gateway_id, sleep=sleep)
                    rate = _rate_of(row.settings)
                    opened[gateway_id] = (gateway, _limiter(tenant_id, gateway_id, rate))
                except DomainError as exc:
                    opened[gateway_id] = exc

    def call(charge: PendingCharge) -> ChargeAnswer:
        assert charge.gateway_id is not None
        found = opened[charge.gateway_id]
        if isinstance(found, DomainError):
            return ChargeAnswer(pending=charge, error=found)
        gateway, limiter = found
        return _sale(gateway, limiter, charge, sleep)

    if todo:
        workers = max(1, min(in_flight, len(todo)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="charge") as pool:
            for (i, _), answer in zip(todo, pool.map(call, [p for _, p in todo]), strict=True):
                answers[i] = answer
    return [answer for answer in answers if answer is not None]


def _rate_of(settings: dict[str, Any]) -> float:
    value = settings.get(RATE_LIMIT_SETTING) or 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return value


def _sale(
    gateway: Gateway, limiter: RateLimiter, charge: PendingCharge, sleep: Callable[[float], None]
) -> ChargeAnswer:
    assert charge.attempt_key
    assert charge.amount is not None
    assert charge.currency
    assert charge.token
    limiter.wait(sleep)
    try:
        result = gateway.sale(
            SaleRequest(
                idempotency_key=charge.attempt_key,
                amount=charge.amount,
                currency=charge.currency,
                payment_method=PaymentMethodRef(charge.token, charge.second_token),
                description=charge.request.soft_descriptor or charge.payment_number,
            )
        )
    except DomainError as exc:
        return ChargeAnswer(pending=charge, error=exc)
    except Exception:  # a lost answer: the reconciler asks the gateway later
        log.exception("gateway sale %s: no answer", charge.attempt_key)
        result = GatewayResult(
            kind=TransactionKind.SALE,
            outcome=GatewayOutcome.UNKNOWN,
            idempotency_key=charge.attempt_key,
            code="no_answer",
            message="The gateway call failed without an answer.",
            category=DeclineCategory.SYSTEM,
        )
    return ChargeAnswer(pending=charge, result=result)


# -- phase 3 ---------------------------------------------------------------------------


def finish_charges(ctx: ServiceContext, answers: Sequence[ChargeAnswer]) -> list[ChargeOutcome]:
    """Record each answer on its payment (in payment id order, the lock order every
    finisher uses; outcomes in ``answers``' order). Only a payment still Processing
    moves, so an answer recorded twice (here and by the reconciler) counts once."""
    outcomes: dict[int, ChargeOutcome] = {}
    order = sorted(range(len(answers)), key=lambda i: answers[i].pending.payment_id or 0)
    for i in order:
        answer = answers[i]
        charge = answer.pending
        if charge.error is not None or charge.payment_id is None:
            outcomes[i] = _refused(charge)
            continue
        try:
            with ctx.session.begin_nested():
                outcomes[i] = record_answer(
                    ctx, charge.payment_id, answer.result, answer.error, request=charge.request
                )
        except DomainError as exc:
            outcomes[i] = ChargeOutcome(
                request=charge.request,
                payment_id=charge.payment_id,
                payment_number=charge.payment_number,
                status=None,
                succeeded=False,
                pending=False,
                error=exc,
            )
    found = [outcomes[i] for i in range(len(answers))]
    notify_collections(ctx, found)
    return found


def _refused(charge: PendingCharge) -> ChargeOutcome:
    return ChargeOutcome(
        request=charge.request,
        payment_id=None,
        payment_number=None,
        status=None,
        succeeded=False,
        pending=False,
        error=charge.error,
    )


def record_answer(
    ctx: ServiceContext,
    payment_id: int,
    result: GatewayResult | None,
    error: DomainError | None = None,
    *,
    request: ChargeRequest | None = None,
) -> ChargeOutcome:
    """Record a gateway's answer about a Processing payment's attempt (a sale's answer or
    the reconciler's ``status``) under the payment's lock. Approved: Processed, its money
    on the account and its intended applications made. Declined, Voided, NotFound or a
    domain error before charging: Error, nothing moves. Pending, Unknown: unchanged."""
    payment = lock(ctx, payment_id)
    status = PaymentStatus(payment.status)
    req = request or _request_of(payment)
    if status != PaymentStatus.PROCESSING:
        return _outcome(req, payment, result)
    now = ctx.clock.now()
    if result is not None and result.transaction_id:
        payment.gateway_transaction_id = result.transaction_id
    if error is not None or result is None:
        message = error.render() if error is not None else "No answer from the gateway."
        payments.settle_payment(
            ctx,
            payment.id,
            SettleOutcome(succeeded=False, gateway_response=message[:500]),
            source=req.source,
        )
        _count(ctx, payment, approved=False, at=now)
        return replace(_outcome(req, payment, result, error), settled_now=True)
    outcome = result.outcome
    if outcome in (GatewayOutcome.PENDING, GatewayOutcome.UNKNOWN):
        payment.gateway_response = _clip(result.message, 500)
        payment.gateway_response_code = _clip(result.code, 100)
        payment.updated_at = now
        ctx.session.flush()
        return _outcome(req, payment, result)
    approved = outcome is GatewayOutcome.APPROVED
    payments.settle_payment(
        ctx,
        payment.id,
        SettleOutcome(
            succeeded=approved,
            gateway_state=None
            if approved or outcome is GatewayOutcome.DECLINED
            else (
                GatewayState.NOT_SUBMITTED
                if outcome is GatewayOutcome.NOT_FOUND
                else GatewayState.FAILED_TO_SETTLE
            ),
            gateway_response=_clip(result.message, 500),
            gateway_response_code=_clip(result.code, 100),
        ),
        source=req.source,
    )
    if not approved and result.category is not None:
        payment.decline_category = result.category.value
    # A sale's outcome counts on its method; "never received" is no sale at all.
    if outcome in (GatewayOutcome.APPROVED, GatewayOutcome.DECLINED):
        _count(ctx, payment, approved=approved, at=now)
    ctx.session.flush()
    return replace(_outcome(req, payment, result), settled_now=True)


def notify_collections(ctx: ServiceContext, outcomes: Sequence[ChargeOutcome]) -> None:
    """Tell collections about the payments these outcomes settled (once each): it records
    the events, sends the emails and moves the accounts' standing (one pass for all)."""
    from billcycle.collections.outcomes import PaymentOutcome, on_payment_outcomes

    settled = [
        PaymentOutcome(o.payment_id, o.succeeded, o.gateway_code, o.gateway_message)
        for o in outcomes
        if o.settled_now and o.payment_id is not None
    ]
    if settled:
        on_payment_outcomes(ctx, settled)


def _count(ctx: ServiceContext, payment: Payment, *, approved: bool, at: datetime) -> None:
    if payment.payment_method_id is not None:
        method_outcomes.record_sale(ctx, payment.payment_method_id, approved=approved, at=at)


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None


def _request_of(payment: Payment) -> ChargeRequest:
    return ChargeRequest(
        account_id=payment.account_id,
        amount_minor=payment.amount_minor,
        invoices=(),
        payment_method_id=payment.payment_method_id,
        gateway_id=payment.gateway_id,
        comment=payment.comment,
        attempt_source=payment.attempt_source,
    )


def _outcome(
    request: ChargeRequest,
    payment: Payment,
    result: GatewayResult | None,
    error: DomainError | None = None,
) -> ChargeOutcome:
    status = PaymentStatus(payment.status)
    category = payment.decline_category
    return ChargeOutcome(
        request=request,
        payment_id=payment.id,
        payment_number=payment.number,
        status=status,
        succeeded=status in SETTLED_STATUSES,
        pending=status == PaymentStatus.PROCESSING,
        gateway_code=result.code if result is not None else payment.gateway_response_code,
        gateway_message=result.message if result is not None else payment.gateway_response,
        decline_category=(
            result.category
            if result is not None and result.category is not None
            else (DeclineCategory(category) if category else None)
        ),
        error=error,
        transaction_id=payment.gateway_transaction_id,
    )


# -- all three -------------------------------------------------------------------------


def charge_now(
    runtime: Runtime,
    tenant_id: int,
    request: ChargeRequest,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> ChargeOutcome:
    """Charge one request now (an API electronic payment, a Fusebill card payment): the
    three phases in three units of work. A refused request writes nothing; its outcome
    carries the error (the caller raises it to answer a 4xx)."""
    with runtime.service_context(tenant_id) as ctx:
        [charge] = begin_charges(ctx, [request])
    if charge.error is not None:
        return _refused(charge)
    answers = send_charges(runtime, tenant_id, [charge], in_flight=1, sleep=sleep)
    with runtime.service_context(tenant_id) as ctx:
        [outcome] = finish_charges(ctx, answers)
    return outcome


def invoices_awaiting_settlement(ctx: ServiceContext, invoice_ids: Sequence[int]) -> set[int]:
    """Those of ``invoice_ids`` that a Processing payment intends to pay: a payment run
    does not collect them again until that payment settles."""
    return intentions.invoices_awaiting_settlement(ctx, invoice_ids)
