"""The gateway interface: what billcycle asks of any payment gateway.

A gateway adapter (the built-in test gateway, or a Stripe or Adyen package found through
the ``billcycle.gateways`` entry-point group) provides a :class:`GatewayType`: a name,
a check of its per-tenant settings, and a factory that builds a :class:`Gateway` for one
tenant's configured gateway.

Every call carries an **idempotency key** derived from the payment attempt (Zuora's
``gatewayOrderId``, the payment number when the client gives none): the gateway's own
duplicate check. Asking twice with one key is the same transaction, never a second one,
which is what lets a caller that lost an answer (a timeout, a crash between the
gateway's approval and billcycle's commit) ask :meth:`Gateway.status` and settle the
payment instead of charging again.

Outcomes are answers, not exceptions: a decline, a pending transaction and a timeout
are :class:`GatewayResult` values. An adapter turns its transport's timeouts into an
``Unknown`` result; it raises only for programming errors (an amount with more decimals
than its currency, say), as billcycle's domain errors.

Money is a ``Decimal`` amount and an ISO 4217 currency. A card number reaches a gateway
only through :meth:`TokenizingGateway.tokenize`, which the test gateway alone offers
(real gateways tokenize on the client side): only the token, the brand and the masked
number are ever kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Engine

from billcycle.clock import Clock
from billcycle.errors import InvalidValue
from billcycle.gateways.statuses import (
    CardBrand,
    DeclineCategory,
    GatewayOutcome,
    TransactionKind,
)

# Zuora's gatewayOrderId is at most 50 characters; a derived attempt suffix fits in 64.
MAX_IDEMPOTENCY_KEY = 64


def check_idempotency_key(key: str) -> str:
    """A key is 1 to 64 visible characters: what every gateway can store and compare."""
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable() or key != key.strip():
        raise InvalidValue(
            f"A gateway idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} visible characters.",
            field="idempotency_key",
        )
    return key


def attempt_key(order_id: str, attempt: int = 1) -> str:
    """The idempotency key of one attempt at a payment: its ``gatewayOrderId`` for the
    first attempt, then ``<order id>/<n>``. A retry after a *known* failure is a new
    attempt (a new key); asking again after an unknown outcome reuses the attempt's key,
    so the gateway can never charge it twice."""
    if attempt < 1:
        raise InvalidValue("A payment attempt is numbered from 1.", field="attempt")
    return check_idempotency_key(order_id if attempt == 1 else f"{order_id}/{attempt}")


@dataclass(frozen=True, slots=True)
class PaymentMethodRef:
    """What the gateway charges: its token (Zuora's ``tokens.tokenId``) and, for
    customer profiles, a second token."""

    token: str
    second_token: str | None = None


@dataclass(frozen=True, slots=True)
class SaleRequest:
    """Authorize and capture ``amount`` in one step."""

    idempotency_key: str
    amount: Decimal
    currency: str
    payment_method: PaymentMethodRef
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """Give back ``amount`` of the sale the gateway knows as ``transaction_id``."""

    idempotency_key: str
    transaction_id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class VoidRequest:
    """Cancel the sale the gateway knows as ``transaction_id`` before it settles."""

    idempotency_key: str
    transaction_id: str


@dataclass(frozen=True, slots=True)
class GatewayResult:
    """The gateway's answer about one transaction.

    ``transaction_id`` is the gateway's reference (what a refund or void names);
    ``code`` and ``message`` are its response code and text (for a decline, why);
    ``category`` says whether a decline is worth retrying.
    """

    kind: TransactionKind | None  # None: a status asked about a key never received
    outcome: GatewayOutcome
    idempotency_key: str
    transaction_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    code: str | None = None
    message: str | None = None
    category: DeclineCategory | None = None

    @property
    def approved(self) -> bool:
        return self.outcome is GatewayOutcome.APPROVED

    @property
    def is_final(self) -> bool:
        """Known for good (approved, declined, voided): asking ``status`` again would
        answer the same; a later refund or chargeback is a transaction of its own.
        ``Pending`` and ``Unknown`` are not final: a payment stays ``Processing``."""
        return self.outcome in _FINAL


_FINAL = frozenset({GatewayOutcome.APPROVED, GatewayOutcome.DECLINED, GatewayOutcome.VOIDED})


@dataclass(frozen=True, slots=True)
class CardDetails:
    """A full card as a customer typed it. Never stored, never logged: ``repr`` hides the
    number and the security code."""

    number: str = field(repr=False)
    expiration_month: int
    expiration_year: int
    security_code: str | None = field(default=None, repr=False)
    holder_name: str | None = None


@dataclass(frozen=True, slots=True)
class CardToken:
    """What billcycle keeps of a card: the gateway's token, the brand and the mask."""

    token: str
    brand: CardBrand
    mask: str  # Zuora's cardMaskNumber: "************4242"
    last4: str
    expiration_month: int
    expiration_year: int


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """One tenant's configured gateway, as its adapter's factory receives it.

    ``engine`` is for gateways that keep state in billcycle's database (the test gateway
    keeps its charge book there, written on its own connections, never in the caller's
    unit of work); ``sleep`` is how an adapter waits, injectable so tests do not.
    """

    tenant_id: int
    gateway_id: int
    name: str
    settings: Mapping[str, Any]
    engine: Engine
    machine_clock: Clock
    sleep: Callable[[float], None]


class Gateway(Protocol):
    """One configured gateway of one tenant."""

    def sale(self, request: SaleRequest) -> GatewayResult: ...

    def refund(self, request: RefundRequest) -> GatewayResult: ...

    def void(self, request: VoidRequest) -> GatewayResult: ...

    def status(self, idempotency_key: str) -> GatewayResult:
        """What became of the transaction sent with ``idempotency_key`` (the
        reconciler's question, "did my charge go through?"): ``NotFound`` when the
        gateway never received it."""
        ...


@runtime_checkable
class BatchingGateway(Protocol):
    """A gateway that takes many sales in ONE call of one round trip: only for an adapter
    whose gateway really has a batch API. Card gateways such as Stripe have none (one
    charge a request): their adapters implement :meth:`Gateway.sale` only, and callers
    keep ``in_flight`` of those calls out at once, each with its own round trip. The test
    gateway offers one (``batch_sales: 1``) to model such an API. ``sale_many`` answers
    each request as :meth:`Gateway.sale` would, in order; the requests count as that
    many calls in flight together, so a caller sends at most its in-flight count in one
    batch. It may raise a domain error for a request the gateway refuses outright (a bad
    amount, a reused key): the caller then sends that batch's sales one by one, which
    answers each its own error."""

    def sale_many(self, requests: Sequence[SaleRequest]) -> list[GatewayResult]: ...


@dataclass(slots=True)
class SaleColumns:
    """The answers to a batch of sales as parallel lists, in the order asked: what
    :class:`GatewayResult` says of each sale (kind Sale), without an object a sale."""

    outcomes: list[GatewayOutcome] = field(default_factory=list)
    codes: list[str | None] = field(default_factory=list)
    messages: list[str | None] = field(default_factory=list)
    transaction_ids: list[str | None] = field(default_factory=list)
    categories: list[DeclineCategory | None] = field(default_factory=list)

    def append(self, result: GatewayResult) -> None:
        self.outcomes.append(result.outcome)
        self.codes.append(result.code)
        self.messages.append(result.message)
        self.transaction_ids.append(result.transaction_id)
        self.categories.append(result.category)


@runtime_checkable
class ColumnBatchingGateway(Protocol):
    """A :class:`BatchingGateway` that also takes a batch as plain parallel lists
    (idempotency keys, amounts in minor units, currencies, tokens) and answers
    :class:`SaleColumns`: a payment run's slice of thousands goes to it with no request
    or result object a sale. ``per_call``: the caller's in-flight count; the sales count
    as ``len(keys) / per_call`` calls of one round trip each, sent one after another
    (so the same wire model as ``sale_many`` in batches of ``per_call``), while the
    gateway may answer them together. Each answer is what :meth:`Gateway.sale` would
    give; a domain error refuses the batch (the caller then sends each sale alone)."""

    def sale_columns(
        self,
        keys: Sequence[str],
        amounts_minor: Sequence[int],
        currencies: Sequence[str],
        tokens: Sequence[str],
        *,
        per_call: int,
    ) -> SaleColumns: ...


def sale_many(gateway: Gateway, requests: Sequence[SaleRequest]) -> list[GatewayResult]:
    """Many sales through ``gateway``: its ``sale_many`` when it has one, else one
    :meth:`Gateway.sale` after another (the default every gateway has)."""
    if isinstance(gateway, BatchingGateway):
        return list(gateway.sale_many(requests))
    return [gateway.sale(request) for request in requests]


@runtime_checkable
class TokenizingGateway(Protocol):
    """A gateway that accepts a full card number and answers a token (the test gateway;
    real gateways tokenize on the customer's side, so billcycle never sees a number)."""

    def tokenize(self, card: CardDetails) -> CardToken: ...


@runtime_checkable
class VerifyingGateway(Protocol):
    """A gateway that can check a stored payment method without charging it (Zuora's
    zero-amount verification, ``PUT /v1/payment-methods/{id}/verify``). The answer is
    ``Approved`` or ``Declined``; no money moves and nothing is left to void."""

    def verify(self, payment_method: PaymentMethodRef, currency: str) -> GatewayResult: ...


class GatewayType(Protocol):
    """What a gateway package registers under the ``billcycle.gateways`` entry-point
    group: an object with these members (a module-level instance, typically)."""

    @property
    def name(self) -> str:
        """The type name tenants configure (``payment_gateways.type``)."""
        ...

    def validate_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The settings to store, checked and with defaults filled in; raises
        ``billcycle.errors.InvalidValue`` for bad ones."""
        ...

    def create(self, config: GatewayConfig) -> Gateway: ...


def declined_message(code: str | None, message: str | None) -> str:
    """How a declined transaction is told to an API client, the way Zuora reports a
    gateway's refusal: ``Transaction declined.<gateway code> - <gateway message>``."""
    reason = message or "The payment gateway declined the transaction."
    return f"Transaction declined.{code or 'declined'} - {reason}"
