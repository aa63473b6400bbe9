"""What the payment services take: plain values a dialect parses its wire shapes into
(Zuora's create/apply/refund bodies, Fusebill's payment and refund bodies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from billcycle.ledger.models import EntrySource
from billcycle.payments.activity_statuses import (
    AllocationOrder,
    MethodKind,
    PaymentSource,
    RefundChannel,
)
from billcycle.payments.statuses import (
    GatewayState,
    PaymentSortField,
    PaymentStatus,
    PaymentType,
    RefundMethodType,
    RefundSortField,
    RefundStatus,
    RefundTransactionType,
)


@dataclass(frozen=True, slots=True)
class ItemApplication:
    invoice_item_id: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceApplication:
    """Part of a payment applied to (or taken back from) one invoice.

    ``amount`` None: the invoice's whole balance (apply) or all this payment applied to it
    (unapply). With ``items``, the amount is spread over those invoice items and, when
    given, must equal their sum.
    """

    invoice_id: int
    amount: Decimal | None = None
    items: tuple[ItemApplication, ...] = ()


@dataclass(frozen=True, slots=True)
class NewPayment:
    account_id: int
    amount: Decimal
    currency: str
    payment_type: PaymentType = PaymentType.EXTERNAL
    effective_date: date | None = None  # today when absent
    invoices: tuple[InvoiceApplication, ...] = ()
    payment_method_id: int | None = None
    gateway_id: int | None = None
    gateway_order_id: str | None = None
    auth_transaction_id: str | None = None
    soft_descriptor: str | None = None
    reference_id: str | None = None
    comment: str | None = None
    source: EntrySource = EntrySource.API  # the door the ledger entries came in by


@dataclass(frozen=True, slots=True)
class NewRefund:
    amount: Decimal
    refund_type: PaymentType = PaymentType.EXTERNAL
    method_type: RefundMethodType | None = None
    refund_date: date | None = None  # today when absent
    reason_code: str | None = None
    reference_id: str | None = None
    comment: str | None = None
    refund_transaction_type: RefundTransactionType | None = None
    # Refund with auto-unapply: what to unapply first (none given: the newest
    # applications, as much as the refund needs beyond the unapplied amount).
    unapply: tuple[InvoiceApplication, ...] = field(default_factory=tuple)
    source: EntrySource = EntrySource.API


@dataclass(frozen=True, slots=True)
class GatewayOutcome:
    """What a gateway (or a reconciler asking it) reports for a Processing payment."""

    succeeded: bool
    gateway_state: GatewayState | None = None  # default: Settled, or FailedToSettle
    gateway_response: str | None = None
    gateway_response_code: str | None = None


@dataclass(frozen=True, slots=True)
class NewCollection:
    """A payment as Fusebill takes it: recorded money (cash, a check, a direct deposit)
    or a charge of a card or bank account, allocated to named invoices or automatically
    to the customer's open invoices (``order``: an ``AllocationOrder``)."""

    account_id: int
    amount: Decimal
    method_kind: MethodKind
    source: PaymentSource
    reference: str | None = None
    payment_method_id: int | None = None
    use_default_payment_method: bool = False
    allocations: tuple[InvoiceApplication, ...] = ()
    auto_allocate: bool = False
    order: AllocationOrder = AllocationOrder.OLDEST_TO_NEWEST


@dataclass(frozen=True, slots=True)
class NewCustomerRefund:
    """A refund as Fusebill takes it: ``allocations`` name the invoices to take the money
    back from (required once the payment is fully allocated; they total the amount)."""

    payment_id: int
    amount: Decimal
    channel: RefundChannel = RefundChannel.PAYMENT_METHOD
    reference: str | None = None
    allocations: tuple[InvoiceApplication, ...] = ()


@dataclass(frozen=True, slots=True)
class Span:
    """Instants from ``start`` (inclusive) to ``end`` (exclusive): a filter on a
    timestamp given to the second, or a whole day."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class PaymentQuery:
    """A page of a tenant's payments: every filter given must match (amounts are exact
    equalities in the payment's currency); ``sort`` is ``(field, descending)`` pairs,
    newest number first when empty."""

    account_id: int | None = None
    number: str | None = None
    currency: str | None = None
    status: PaymentStatus | None = None
    payment_type: PaymentType | None = None
    amount: Decimal | None = None
    applied_amount: Decimal | None = None
    unapplied_amount: Decimal | None = None
    refund_amount: Decimal | None = None
    credit_balance_amount: Decimal | None = None
    effective_date: date | None = None
    created: Span | None = None
    updated: Span | None = None
    nothing: bool = False  # a filter no payment can match (e.g. on a user id)
    sort: tuple[tuple[PaymentSortField, bool], ...] = ()
    offset: int = 0
    limit: int = 20


@dataclass(frozen=True, slots=True)
class RefundQuery:
    """A page of a tenant's refunds, as :class:`PaymentQuery` for payments."""

    account_id: int | None = None
    payment_id: int | None = None
    number: str | None = None
    status: RefundStatus | None = None
    refund_type: PaymentType | None = None
    method_type: RefundMethodType | None = None
    amount: Decimal | None = None
    refund_date: date | None = None
    created: Span | None = None
    updated: Span | None = None
    nothing: bool = False
    sort: tuple[tuple[RefundSortField, bool], ...] = ()
    offset: int = 0
    limit: int = 20
