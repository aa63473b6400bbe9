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
from collections import Counter
from collections.abc import Callable, Container, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billcycle import metrics
from billcycle.accounts import service as accounts
from billcycle.context import ServiceContext
from billcycle.db.bulk import json_text
from billcycle.errors import Conflict, DomainError, InvalidValue, NotFound, RuleViolation
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.gateways import service as gateways
from billcycle.gateways.interface import (
    BatchingGateway,
    ColumnBatchingGateway,
    Gateway,
    GatewayResult,
    PaymentMethodRef,
    SaleColumns,
    SaleRequest,
    attempt_key,
    sale_many,
)
from billcycle.gateways.statuses import DeclineCategory, GatewayOutcome, TransactionKind
from billcycle.invoicing import repository as invoice_repo
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.ledger.models import EntrySource, EntryType
from billcycle.money import from_minor
from billcycle.paymentmethods import outcomes as method_outcomes
from billcycle.paymentmethods import repository as methods
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.statuses import PaymentMethodStatus
from billcycle.payments import activity_repository, pending_repository
from billcycle.payments import pending as intentions
from billcycle.payments import repository as payment_repo
from billcycle.payments import service as payments
from billcycle.payments.activity_repository import allocate_payment_ids
from billcycle.payments.checks import PAYMENT, lock, positive_minor
from billcycle.payments.inputs import GatewayOutcome as SettleOutcome
from billcycle.payments.inputs import InvoiceApplication, NewPayment
from billcycle.payments.models import Payment
from billcycle.payments.statuses import SETTLED_STATUSES, GatewayState, PaymentStatus, PaymentType
from billcycle.runtime import Runtime
from billcycle.tenancy import numbers as number_sequences

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
    # Zuora's processPaymentWithClosedPM: a Closed method (still holding its token) may be
    # charged; a Scrubbed one never (its token is gone).
    allow_closed_method: bool = False


def _chargeable(request: ChargeRequest, status: str) -> bool:
    return status == PaymentMethodStatus.ACTIVE or (
        request.allow_closed_method and status == PaymentMethodStatus.CLOSED
    )


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


def begin_charges(
    ctx: ServiceContext,
    requests: Sequence[ChargeRequest],
    *,
    defaults: Mapping[int, PaymentMethod] | None = None,
    invoices: Mapping[int, tuple[int, str, int, date]] | None = None,
    created_events: bool = True,
) -> list[PendingCharge]:
    """Processing payments for ``requests`` (in order), each in a savepoint: a refused
    request writes nothing and answers its error. The caller commits before sending.
    ``defaults``: the accounts' default methods when the caller read them in this unit
    of work already (a payment run's chunk), account id -> method; read otherwise.
    ``invoices``: ``activity_repository.invoice_facts`` of the requests' invoices when
    the caller read them in this unit of work and changed none since (the caller holds
    SQLite's write lock, or PostgreSQL reads them again under the payments' locks when
    settling); read otherwise. ``created_events``: False when no endpoint of the tenant
    subscribes to ``payment.created`` and the caller is a payment run (the set written
    here then writes none; one written one by one still does)."""
    found: list[PendingCharge] = []
    if not requests:
        return found
    payment_repo.hold_write_lock(ctx.session)
    batch = _Batch.read(ctx, requests, defaults, invoices)
    waiting: list[tuple[int, ChargeRequest, _Planned]] = []
    for request in requests:
        planned = batch.plan(request)
        if planned is not None:
            waiting.append((len(found), request, planned))
            found.append(PendingCharge(request=request))
            continue
        # Anything the set checks do not pass goes the one-by-one way, which answers
        # its exact error; the batch so far is written first, so each request sees
        # those before it, as one by one.
        _write_planned(ctx, batch, waiting, found, created_events)
        waiting = []
        try:
            with ctx.session.begin_nested():
                found.append(_begin_one(ctx, request))
        except DomainError as exc:
            found.append(PendingCharge(request=request, error=exc))
        batch.forget_promises()
    _write_planned(ctx, batch, waiting, found, created_events)
    return found


def hold_write_lock(ctx: ServiceContext) -> None:
    """SQLite: take the database's write lock now, before a caller reads what it passes
    to :func:`begin_charges` (``invoices``), so those reads are the state the charges
    are written against. PostgreSQL: nothing (rows are locked where written)."""
    payment_repo.hold_write_lock(ctx.session)


@dataclass(frozen=True, slots=True)
class _Planned:
    account: Any  # (id, currency, payment_gateway_id) of the account
    method: PaymentMethod
    gateway_id: int
    amount: Decimal
    rows: list[tuple[int, int]]  # (invoice_id, amount_minor) intended


@dataclass(slots=True)
class _Batch:
    """What the set checks of :func:`begin_charges` read once for all its requests:
    accounts, methods, gateways, invoices, balances and what other Processing payments
    already intend. ``plan`` answers a request's writes when every check passes and the
    request is of the common kind (whole-invoice applications, no client order id),
    else None (the one-by-one path decides)."""

    ctx: ServiceContext
    # account id -> (id, currency, payment_gateway_id), plain rows
    accounts: dict[int, Any]
    methods: dict[int, PaymentMethod]
    defaults: dict[int, PaymentMethod]
    gateways: dict[int, Any]
    # invoice id -> (account id, status, balance, invoice date), one statement
    invoices: dict[int, tuple[int, str, int, date]]
    balances: dict[int, int]
    promised: dict[int, int]

    @classmethod
    def read(
        cls,
        ctx: ServiceContext,
        requests: Sequence[ChargeRequest],
        known: Mapping[int, PaymentMethod] | None = None,
        facts: Mapping[int, tuple[int, str, int, date]] | None = None,
    ) -> _Batch:
        account_ids = sorted({r.account_id for r in requests})
        invoice_ids = sorted({a.invoice_id for r in requests for a in r.invoices})
        promised = {
            invoice_id: sum(per_item.values())
            for invoice_id, per_item in pending_repository.pending_on_invoices(
                ctx.session, ctx.tenant_id, invoice_ids
            ).items()
        }
        if facts is not None and all(i in facts for i in invoice_ids):
            invoices = {i: facts[i] for i in invoice_ids}
        else:
            invoices = activity_repository.invoice_facts(ctx.session, ctx.tenant_id, invoice_ids)
        return cls(
            ctx=ctx,
            accounts=payment_repo.account_facts(ctx.session, ctx.tenant_id, account_ids),
            methods=methods.methods_by_id(
                ctx.session,
                ctx.tenant_id,
                [r.payment_method_id for r in requests if r.payment_method_id is not None],
            ),
            defaults=_defaults(ctx, requests, known),
            gateways={},
            invoices=invoices,
            balances={invoice_id: facts[2] for invoice_id, facts in invoices.items()},
            promised=promised,
        )

    def forget_promises(self) -> None:
        """After a one-by-one request: what is promised is read again when next needed."""
        self.promised = {
            invoice_id: sum(per_item.values())
            for invoice_id, per_item in pending_repository.pending_on_invoices(
                self.ctx.session, self.ctx.tenant_id, list(self.invoices)
            ).items()
        }

    def _gateway(self, gateway_id: int | None) -> Any:
        key = gateway_id or 0
        if key not in self.gateways:
            try:
                self.gateways[key] = (
                    gateways.get_gateway(self.ctx, gateway_id)
                    if gateway_id is not None
                    else gateways.get_default_gateway(self.ctx)
                )
            except DomainError:
                self.gateways[key] = None
        return self.gateways[key]

    def plan(self, request: ChargeRequest) -> _Planned | None:
        account = self.accounts.get(request.account_id)
        if account is None or request.amount_minor <= 0 or request.gateway_order_id:
            return None
        if request.comment is not None and len(request.comment) > payments.LIMITS["comment"]:
            return None
        if request.payment_method_id is None:
            method = self.defaults.get(request.account_id)
        else:
            method = self.methods.get(request.payment_method_id)
        if (
            method is None
            or method.account_id != request.account_id
            or not _chargeable(request, method.status)
            or not method.token
        ):
            return None
        gateway = self._gateway(
            request.gateway_id or method.gateway_id or account.payment_gateway_id
        )
        if gateway is None or not gateway.is_active:
            return None
        rows: list[tuple[int, int]] = []
        taken: dict[int, int] = {}
        for wanted in request.invoices:
            invoice_id = wanted.invoice_id
            facts = self.invoices.get(invoice_id)
            if (
                wanted.items
                or facts is None
                or facts[0] != account.id
                or facts[1] != InvoiceStatus.POSTED
            ):
                return None
            available = (
                self.balances.get(invoice_id, 0)
                - self.promised.get(invoice_id, 0)
                - taken.get(invoice_id, 0)
            )
            if wanted.amount is None:
                amount = available
            else:
                try:
                    amount = positive_minor(wanted.amount, account.currency)
                except DomainError:
                    return None
            if amount <= 0 or amount > available:
                return None
            taken[invoice_id] = taken.get(invoice_id, 0) + amount
            rows.append((invoice_id, amount))
        if sum(amount for _, amount in rows) > request.amount_minor:
            return None
        for invoice_id, amount in rows:
            self.promised[invoice_id] = self.promised.get(invoice_id, 0) + amount
        return _Planned(
            account=account,
            method=method,
            gateway_id=gateway.id,
            amount=from_minor(request.amount_minor, account.currency),
            rows=rows,
        )


def _defaults(
    ctx: ServiceContext,
    requests: Sequence[ChargeRequest],
    known: Mapping[int, PaymentMethod] | None,
) -> dict[int, PaymentMethod]:
    """The default method of each account whose request names none: from ``known``
    (read by the caller in this unit of work), the others read in one query."""
    wanted = sorted({r.account_id for r in requests if r.payment_method_id is None})
    found = {a: known[a] for a in wanted if known is not None and a in known}
    missing = [a for a in wanted if a not in found]
    if missing:
        found.update(methods.defaults_for_accounts(ctx.session, ctx.tenant_id, missing))
    return found


def _write_planned(
    ctx: ServiceContext,
    batch: _Batch,
    waiting: Sequence[tuple[int, ChargeRequest, _Planned]],
    found: list[PendingCharge],
    created_events: bool = True,
) -> None:
    """Write the planned requests as :func:`_begin_one` would, in a few statements:
    their numbers in one block, the payments and their intentions in one insert each.
    A request whose number some earlier payment already sent as its gatewayOrderId
    (a client's choice) gets that attempt's key, or its error, as one by one."""
    if not waiting:
        return
    numbers_ = number_sequences.number_block(ctx.session, ctx.tenant_id, "payment", len(waiting))
    earlier = pending_repository.orders_in_use(ctx.session, ctx.tenant_id, numbers_)
    now = ctx.clock.now()
    today = ctx.clock.today()
    made: list[tuple[int, ChargeRequest, _Planned, dict[str, Any]]] = []
    for (index, request, planned), number in zip(waiting, numbers_, strict=True):
        try:
            attempt = _attempt_from(earlier.get(number, []), number)
        except DomainError as exc:
            found[index] = PendingCharge(request=request, error=exc)
            for invoice_id, amount in planned.rows:
                batch.promised[invoice_id] -= amount
            continue
        row = dict(_PAYMENT_ROW)
        row.update(
            tenant_id=ctx.tenant_id,
            account_id=planned.account.id,
            number=number,
            amount_minor=request.amount_minor,
            currency=planned.account.currency,
            effective_date=today,
            payment_method_id=planned.method.id,
            gateway_id=planned.gateway_id,
            gateway_order_id=number,
            comment=request.comment,
            submitted_at=now,
            created_at=now,
            updated_at=now,
            attempt_key=attempt_key(number, attempt),
            attempt_source=request.attempt_source,
        )
        made.append((index, request, planned, row))
    # Plain rows, one batched INSERT each: no ORM object per payment or intention.
    ids = payment_repo.insert_rows(ctx.session, [row for *_, row in made])
    pending_repository.add_rows(
        ctx.session,
        [
            {
                "tenant_id": ctx.tenant_id,
                "payment_id": payment_id,
                "invoice_id": invoice_id,
                "invoice_item_id": None,
                "amount_minor": amount,
            }
            for (_, _, planned, _), payment_id in zip(made, ids, strict=True)
            for invoice_id, amount in planned.rows
        ],
    )
    # payment.created for each, in one statement with the payments (what create_payment
    # emits for a payment written one by one).
    if created_events:
        events.emit_many(
            ctx,
            EventType.PAYMENT_CREATED,
            [{**row, "id": payment_id} for (*_, row), payment_id in zip(made, ids, strict=True)],
        )
    for (index, request, planned, row), payment_id in zip(made, ids, strict=True):
        found[index] = PendingCharge(
            request=request,
            payment_id=payment_id,
            payment_number=row["number"],
            attempt_key=row["attempt_key"],
            gateway_id=planned.gateway_id,
            payment_method_id=planned.method.id,
            amount=planned.amount,
            currency=planned.account.currency,
            token=planned.method.token,
            second_token=planned.method.second_token,
        )


@dataclass(slots=True)
class RunSlice:
    """A payment run's slice of checked charges as parallel columns, one entry a charge
    (``paymentruns.setbased`` decided each on the rows it read under SQLite's write
    lock: method, gateway, invoice, balance, nothing pending; every check
    :func:`begin_charges` makes), each charge ONE invoice of its account, each invoice
    once. :func:`begin_run_slice` writes the payments and fills ``payment_ids``,
    ``numbers`` and ``keys``; :func:`send_run_slice` sends them, :func:`finish_run_slice`
    settles the answers: no object a charge on the way (the per-call path, and gateways
    without a column batch API, keep :class:`PendingCharge`: :meth:`pending`)."""

    attempt_source: str
    allow_closed_method: bool = False
    records: list[int] = field(default_factory=list)  # the caller's (payment-run records)
    accounts: list[int] = field(default_factory=list)
    invoices: list[int] = field(default_factory=list)
    amounts: list[int] = field(default_factory=list)  # minor units, > 0
    currencies: list[str] = field(default_factory=list)
    methods: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    second_tokens: list[str | None] = field(default_factory=list)
    gateways: list[int] = field(default_factory=list)  # the active gateway charged
    comments: list[str | None] = field(default_factory=list)
    # Each invoice's due date as the decisions read it (a date, or SQLite's text): the
    # AR summaries' keys (``open_balances_repository.entries_applied_owned``); empty:
    # not known (the summaries read each invoice).
    due_dates: list[Any] = field(default_factory=list)
    payment_ids: list[int] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    # The slice in flight (``pending_repository.add_in_flight``) when its payments are
    # written once, by the finish, with their outcomes; None: written Processing by the
    # begin. ``day`` and ``at``: the begin's business day and instant, theirs.
    in_flight: int | None = None
    day: date | None = None
    at: datetime | None = None

    def __len__(self) -> int:
        return len(self.records)

    def payment_columns(self) -> tuple[list[Any], ...]:
        """The slice's payments as ``payment_repo.insert_run_payment_columns``' nine
        parallel columns, in its order (which ``pending_repository``'s in-flight rows keep
        too): accounts, numbers, amounts, currencies, methods, gateways, comments,
        attempt keys, invoices."""
        return (
            self.accounts,
            self.numbers,
            self.amounts,
            self.currencies,
            self.methods,
            self.gateways,
            self.comments,
            self.keys,
            self.invoices,
        )

    def keep(self, indexes: Sequence[int]) -> None:
        """Only the charges at ``indexes`` (in order) stay: those written."""
        for name in _SLICE_COLUMNS:
            column = getattr(self, name)
            if column:
                setattr(self, name, [column[i] for i in indexes])

    def pending(self, i: int) -> PendingCharge:
        """Charge ``i`` as the per-call path carries it (a gateway without a column
        batch API, a batch it refused)."""
        currency = self.currencies[i]
        return PendingCharge(
            request=ChargeRequest(
                account_id=self.accounts[i],
                amount_minor=self.amounts[i],
                invoices=(
                    InvoiceApplication(self.invoices[i], from_minor(self.amounts[i], currency)),
                ),
                comment=self.comments[i],
                attempt_source=self.attempt_source,
                allow_closed_method=self.allow_closed_method,
            ),
            payment_id=self.payment_ids[i],
            payment_number=self.numbers[i],
            attempt_key=self.keys[i],
            gateway_id=self.gateways[i],
            payment_method_id=self.methods[i],
            amount=from_minor(self.amounts[i], currency),
            currency=currency,
            token=self.tokens[i],
            second_token=self.second_tokens[i],
        )


_SLICE_COLUMNS = (
    "records",
    "accounts",
    "invoices",
    "amounts",
    "currencies",
    "methods",
    "tokens",
    "second_tokens",
    "gateways",
    "comments",
    "due_dates",
    "payment_ids",
    "numbers",
    "keys",
)


def begin_run_slice(
    ctx: ServiceContext,
    charges: RunSlice,
    *,
    created_events: bool = True,
    in_flight: tuple[int, int, int] | None = None,
) -> list[tuple[int, int, DomainError]]:
    """Processing payments for a payment run's checked slice, in a fixed number of
    statements whatever its size: numbers in one block, the payments by ONE
    ``INSERT ... SELECT`` from the columns (ids in one block; each holds its intention,
    its whole amount to its invoice, on its own row: ``pending_invoice_id``), and
    (``created_events``: a tenant subscribes to them) ``payment.created`` by another.
    ``in_flight`` (the run's id and the slice's first and last account), when no
    ``payment.created`` is written: the payments are NOT written here but held by ONE
    row, the slice in flight (``pending_repository.add_in_flight``: ids, numbers, keys
    and columns as decided), and :func:`finish_run_slice` writes each once with its
    outcome; until then the row makes them in flight for every reader of intentions
    and orders, and a worker that dies leaves it for a recovery
    (:func:`recover_run_slices`), which writes them Processing.
    A charge whose number an earlier payment already sent as its gatewayOrderId gets
    that attempt's key, or its error, as :func:`_write_planned`: returned as (the
    charge's record, its amount, the error) and dropped from ``charges``."""
    count = len(charges)
    if not count:
        return []
    # PostgreSQL: the block in a short transaction of its own, as a bill run's workers
    # take theirs, so two workers' slices do not queue on the tenant's number row until
    # each other's commit (a slice rolled back leaves a gap in the numbers).
    numbers_ = number_sequences.number_block(
        ctx.session, ctx.tenant_id, "payment", count, own_transaction=True
    )
    taken = pending_repository.orders_taken(ctx.session, ctx.tenant_id, numbers_)
    keys = list(numbers_)
    refused: list[tuple[int, int, DomainError]] = []
    if taken:
        earlier = pending_repository.orders_in_use(ctx.session, ctx.tenant_id, taken)
        kept: list[int] = []
        for i, number in enumerate(numbers_):
            if number in earlier:
                try:
                    keys[i] = attempt_key(number, _attempt_from(earlier[number], number))
                except DomainError as exc:
                    refused.append((charges.records[i], charges.amounts[i], exc))
                    continue
            kept.append(i)
        if refused:
            numbers_ = [numbers_[i] for i in kept]
            keys = [keys[i] for i in kept]
            charges.keep(kept)
    if not len(charges):
        return refused
    charges.numbers = list(numbers_)
    charges.keys = keys
    columns = charges.payment_columns()
    day, now = ctx.clock.today(), ctx.clock.now()
    if in_flight is not None and not created_events:
        ids = allocate_payment_ids(ctx.session, len(charges))
        charges.in_flight = pending_repository.add_in_flight(
            ctx.session,
            ctx.tenant_id,
            in_flight[0],
            (in_flight[1], in_flight[2]),
            ids,
            columns,
            day=day,
            at=now,
            source=charges.attempt_source,
        )
        charges.day, charges.at = day, now
    else:
        ids = payment_repo.insert_run_payment_columns(
            ctx.session,
            ctx.tenant_id,
            columns,
            attempt_source=charges.attempt_source,
            day=day,
            now=now,
            payment_type=PaymentType.ELECTRONIC.value,
            status=PaymentStatus.PROCESSING.value,
            gateway_state=GatewayState.SUBMITTED.value,
        )
        if created_events:
            events.emit_payments_created(ctx, ids)
    charges.payment_ids = ids
    return refused


def recover_run_slices(
    ctx: ServiceContext, run_id: int, first_account: int, last_account: int
) -> int:
    """The run's slices in flight among ``first_account`` .. ``last_account`` (a worker
    died between a slice's begin and its finish, or lost its chunk): their payments
    written Processing (:func:`recover_in_flight`); how many. A no-op read otherwise."""
    found = pending_repository.in_flight_of_run(
        ctx.session, ctx.tenant_id, run_id, first_account, last_account
    )
    if not found:
        return 0
    payment_repo.hold_write_lock(ctx.session)
    return recover_in_flight(ctx, found)


def recover_in_flight(ctx: ServiceContext, in_flight_ids: Sequence[int]) -> int:
    """Each slice in flight still there taken and its payments written as its begin
    would have written them (Processing, holding their invoices, the begin's day, time,
    numbers and attempt keys): the state a crash after the begin left before payments
    were written once. Their gateway calls' outcomes are the reconciler's to ask, by
    the same keys (or the slice's own finish, still running, settles them: it finds
    its slice taken). How many payments were written."""
    written = 0
    for in_flight_id in in_flight_ids:
        found = pending_repository.take_in_flight_charges(ctx.session, ctx.tenant_id, in_flight_id)
        if found is None:
            continue
        payment_repo.insert_run_payment_columns(
            ctx.session,
            ctx.tenant_id,
            found.columns,
            attempt_source=found.source,
            day=found.day,
            now=found.at,
            payment_type=PaymentType.ELECTRONIC.value,
            status=PaymentStatus.PROCESSING.value,
            gateway_state=GatewayState.SUBMITTED.value,
            ids=found.ids,
        )
        written += len(found.ids)
    if written:
        log.warning("%d payments of a payment run's slice in flight written Processing", written)
    return written


@dataclass(slots=True)
class SliceAnswers:
    """The answers to a :class:`RunSlice`, staged: for each charge (same order) the row
    :func:`finish_run_slice` settles it by (``payments.repository.settle_staged``'s
    kind A/F/P, the gateway's words, transaction id, decline category, gateway state)
    and whether it counts as a sale on its method (approved, declined, or neither)."""

    kinds: list[str] = field(default_factory=list)
    messages: list[str | None] = field(default_factory=list)
    codes: list[str | None] = field(default_factory=list)
    transaction_ids: list[str | None] = field(default_factory=list)
    categories: list[str | None] = field(default_factory=list)
    states: list[str | None] = field(default_factory=list)
    counted: list[bool | None] = field(default_factory=list)
    # What :func:`finish_run_slice` settles by when every payment is still Processing,
    # built beforehand (:func:`prepare_run_slice_finish`); None: built there.
    prepared: SettleRows | None = None
    # The payments' outcome columns when the finish writes them (a slice in flight),
    # built beforehand too (:func:`_outcome_columns`); None: built there.
    outcome_columns: list[list[Any]] | None = None

    def put(self, i: int, staged: tuple[Any, ...]) -> None:
        (
            self.kinds[i],
            self.messages[i],
            self.codes[i],
            self.transaction_ids[i],
            self.categories[i],
            self.states[i],
            self.counted[i],
        ) = staged

    @classmethod
    def sized(cls, count: int) -> SliceAnswers:
        return cls(*([None] * count for _ in range(7)))  # type: ignore[arg-type]


def _staged_answer(
    outcome: GatewayOutcome,
    message: str | None,
    code: str | None,
    transaction_id: str | None,
    category: DeclineCategory | None,
) -> tuple[Any, ...]:
    """(kind, message, code, transaction id, decline category, gateway state, counted)
    of a gateway's answer: Pending/Unknown stay Processing with the words, Approved
    settles, anything else fails (NotFound: never submitted)."""
    if outcome in _PENDING_OUTCOMES:
        return ("P", _clip(message, 500), _clip(code, 100), transaction_id, None, None, None)
    if outcome is GatewayOutcome.APPROVED:
        return ("A", _clip(message, 500), _clip(code, 100), transaction_id, None, _SETTLED, True)
    return (
        "F",
        _clip(message, 500),
        _clip(code, 100),
        transaction_id,
        category.value if category is not None else None,
        _NOT_SUBMITTED if outcome is GatewayOutcome.NOT_FOUND else _FAILED,
        False if outcome is GatewayOutcome.DECLINED else None,
    )


def _staged_of(answer: ChargeAnswer) -> tuple[Any, ...]:
    """:func:`_staged_answer` of a :class:`ChargeAnswer` (a domain error or no answer
    fails the payment, as :func:`record_answer` does)."""
    result = answer.result
    if answer.error is not None or result is None:
        message = (
            answer.error.render() if answer.error is not None else "No answer from the gateway."
        )
        return ("F", message[:500], None, None, None, _FAILED, False)
    return _staged_answer(
        result.outcome, result.message, result.code, result.transaction_id, result.category
    )


def send_run_slice(
    runtime: Runtime,
    tenant_id: int,
    charges: RunSlice,
    *,
    in_flight: int = DEFAULT_IN_FLIGHT,
    sleep: Callable[[float], None] = time.sleep,
    gate: InFlightGate | None = None,
) -> SliceAnswers:
    """Phase 2 for a :class:`RunSlice`: a gateway with a column batch API
    (``ColumnBatchingGateway``, the test gateway) gets the slice's charges as parallel
    lists in ONE call (counted as ``len / in_flight`` batches of ``in_flight``); any
    other gateway gets them through :func:`send_charges` as the per-call path does.
    Answers staged, in the slice's order."""
    count = len(charges)
    staged = SliceAnswers.sized(count)
    if not count:
        return staged
    by_gateway: dict[int, list[int]] = {}
    for i, gateway_id in enumerate(charges.gateways):
        by_gateway.setdefault(gateway_id, []).append(i)
    opened: dict[int, tuple[Gateway, RateLimiter] | DomainError] = {}
    with runtime.service_context(tenant_id) as ctx:
        for gateway_id in by_gateway:
            try:
                row = gateways.get_gateway(ctx, gateway_id)
                gateway = gateways.open_gateway(ctx, gateway_id, sleep=sleep)
                opened[gateway_id] = (
                    gateway,
                    _limiter(tenant_id, gateway_id, _rate_of(row.settings)),
                )
            except DomainError as exc:
                opened[gateway_id] = exc
    for gateway_id, indexes in by_gateway.items():
        found = opened[gateway_id]
        if isinstance(found, DomainError):
            failed = ("F", found.render()[:500], None, None, None, _FAILED, False)
            for i in indexes:
                staged.put(i, failed)
            continue
        gateway, limiter = found
        if isinstance(gateway, ColumnBatchingGateway):
            with gate.batch if gate is not None else nullcontext():
                if _sale_columns(gateway, limiter, charges, indexes, staged, in_flight, sleep):
                    continue
            # The gateway refused the batch: each sale on its own, which answers its error.
            for i in indexes:
                staged.put(i, _staged_of(_sale(gateway, _NO_LIMIT, charges.pending(i), sleep)))
            continue
        answers = send_charges(
            runtime,
            tenant_id,
            [charges.pending(i) for i in indexes],
            in_flight=in_flight,
            sleep=sleep,
            gate=gate,
        )
        for i, answer in zip(indexes, answers, strict=True):
            staged.put(i, _staged_of(answer))
    return staged


def _sale_columns(
    gateway: ColumnBatchingGateway,
    limiter: RateLimiter,
    charges: RunSlice,
    indexes: Sequence[int],
    staged: SliceAnswers,
    in_flight: int,
    sleep: Callable[[float], None],
) -> bool:
    """The sales at ``indexes`` through the gateway's column batch API into ``staged``;
    False (nothing staged) when the gateway refused the batch with a domain error. A
    batch that failed without an answer leaves each payment Processing (Unknown), for the
    reconciler, as :func:`_sale_batch` does."""
    if limiter.rate > 0:
        for _ in indexes:
            limiter.wait(sleep)
    whole = len(indexes) == len(charges)
    keys = charges.keys if whole else [charges.keys[i] for i in indexes]
    amounts = charges.amounts if whole else [charges.amounts[i] for i in indexes]
    currencies = charges.currencies if whole else [charges.currencies[i] for i in indexes]
    tokens = charges.tokens if whole else [charges.tokens[i] for i in indexes]
    label = metrics.gateway_label(gateway)
    try:
        with metrics.timed_gateway_call(label, "sale_batch") as answered:
            found = gateway.sale_columns(keys, amounts, currencies, tokens, per_call=in_flight)
            answered.append("answered")
    except DomainError:
        return False
    except Exception:
        log.exception("gateway batch of %d sales: no answer", len(indexes))
        found = SaleColumns()
    if len(found.outcomes) != len(indexes):
        if found.outcomes:
            log.error("gateway batch: %d answers for %d sales", len(found.outcomes), len(indexes))
        lost = _staged_answer(
            GatewayOutcome.UNKNOWN,
            "The gateway call failed without an answer.",
            "no_answer",
            None,
            DeclineCategory.SYSTEM,
        )
        for i in indexes:
            staged.put(i, lost)
        return True
    for outcome, number in Counter(found.outcomes).items():
        metrics.GATEWAY_CALLS.labels(label, "sale", outcome.value.lower()).inc(number)
    # A slice's answers are a few distinct ones (an outcome, its words, a category)
    # with a transaction id each: each distinct answer staged once.
    said: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    kinds, messages, codes = staged.kinds, staged.messages, staged.codes
    transactions, categories = staged.transaction_ids, staged.categories
    states, counted = staged.states, staged.counted
    for i, outcome, message, code, transaction, category in zip(
        indexes,
        found.outcomes,
        found.messages,
        found.codes,
        found.transaction_ids,
        found.categories,
        strict=True,
    ):
        answer = (outcome, message, code, category)
        one = said.get(answer)
        if one is None:
            one = said[answer] = _staged_answer(outcome, message, code, None, category)
        kinds[i], messages[i], codes[i], _, categories[i], states[i], counted[i] = one
        transactions[i] = transaction
    return True


@dataclass(slots=True)
class SettleRows:
    """The rows :func:`finish_run_slice` settles a slice's payments by (those at
    ``order``, in payment id order): each answer's row, the staged rows and their one
    JSON array, the approved ones' invoices, and the methods' sales; and what it
    answers and tells from them: each staged payment's kind (A/F/P) by id, the settled
    (A or F) ones' ids, and the approved and the failed ones' ids, in staged order."""

    rows: list[list[Any]]
    order: list[int]
    staged: list[list[Any]]
    staged_json: str
    approved: list[int]
    sales: method_outcomes.SalesBatch
    kinds: dict[int, str]
    settled_ids: list[int]
    approved_ids: list[int]
    failed_ids: list[int]
    # (currency, due date, account) of each approved payment's invoice, by invoice id,
    # when the slice knows its due dates (the AR summaries' keys).
    owners: dict[int, tuple[str, Any, int]]


def _settle_rows(
    charges: RunSlice, answers: SliceAnswers, live: Container[int] | None
) -> SettleRows | None:
    """:class:`SettleRows` of the payments in ``live`` (None: all of them); None when
    there are none."""
    count = len(charges)
    source = EntrySource.API.value
    rows = [
        [pid, kind, message, code, transaction, category, state, invoice, source]
        for pid, kind, message, code, transaction, category, state, invoice in zip(
            charges.payment_ids,
            answers.kinds,
            answers.messages,
            answers.codes,
            answers.transaction_ids,
            answers.categories,
            answers.states,
            charges.invoices,
            strict=True,
        )
    ]
    ids = charges.payment_ids
    order = sorted((i for i in range(count) if live is None or ids[i] in live), key=ids.__getitem__)
    if not order:
        return None
    staged = [rows[i] for i in order]
    sales: dict[int, _MethodSales] = {}
    counted, methods_ = answers.counted, charges.methods
    for i in order:
        if counted[i] is not None:
            sales.setdefault(methods_[i], _MethodSales()).add(bool(counted[i]))
    kinds = {row[0]: row[1] for row in staged}
    owners: dict[int, tuple[str, Any, int]] = {}
    if charges.due_dates:
        invoices, currencies = charges.invoices, charges.currencies
        due_dates, accounts_ = charges.due_dates, charges.accounts
        owners = {
            invoices[i]: (currencies[i], due_dates[i], accounts_[i])
            for i in order
            if rows[i][1] == "A"
        }
    return SettleRows(
        rows=rows,
        order=order,
        staged=staged,
        # One JSON array the settle's statements and collections' events all read.
        staged_json=json_text(staged),
        approved=sorted(row[7] for row in staged if row[1] == "A"),
        sales=method_outcomes.sales_batch(
            {
                method_id: (s.approved, s.failed, s.failed_since_approval, s.last_approved)
                for method_id, s in sales.items()
            }
        ),
        kinds=kinds,
        settled_ids=[pid for pid, kind in kinds.items() if kind != "P"],
        approved_ids=[pid for pid, kind in kinds.items() if kind == "A"],
        failed_ids=[pid for pid, kind in kinds.items() if kind == "F"],
        owners=owners,
    )


def prepare_run_slice_finish(charges: RunSlice, answers: SliceAnswers) -> None:
    """Build what :func:`finish_run_slice` settles by, for the usual case of every
    payment still Processing, into ``answers.prepared``: in the thread that sent the
    slice (a payment run's send thread), off the collecting thread, which holds
    SQLite's one write lock while it finishes (the rows and their JSON were ~3.5% of
    that thread's time). The finish uses it only when the lock finds every payment
    still Processing, and builds its own otherwise."""
    if len(charges):
        answers.prepared = _settle_rows(charges, answers, None)
        if charges.in_flight is not None:
            answers.outcome_columns = _outcome_columns(answers)


_STATUS_OF_KIND = {
    "A": PaymentStatus.PROCESSED.value,
    "F": PaymentStatus.ERROR.value,
    "P": PaymentStatus.PROCESSING.value,
}
_SUBMITTED = GatewayState.SUBMITTED.value


def _outcome_columns(answers: SliceAnswers) -> list[list[Any]]:
    """(statuses, gateway states, responses, codes, transaction ids, decline categories)
    of the answered payments, what the staged settle's ``UPDATE`` made of a payment
    written Processing and Submitted (``payments.repository._STAGED_PAYMENTS``): the
    state the answer's, else still Submitted; a decline category only on a failure."""
    kinds = answers.kinds
    return [
        [_STATUS_OF_KIND[kind] for kind in kinds],
        [
            state if state is not None and kind != "P" else _SUBMITTED
            for kind, state in zip(kinds, answers.states, strict=True)
        ],
        answers.messages,
        answers.codes,
        answers.transaction_ids,
        [
            category if kind == "F" else None
            for kind, category in zip(kinds, answers.categories, strict=True)
        ],
    ]


def finish_run_slice(
    ctx: ServiceContext,
    charges: RunSlice,
    answers: SliceAnswers,
    *,
    outcome_events: Container[EventType] = frozenset(
        {EventType.PAYMENT_PROCESSED, EventType.PAYMENT_FAILED}
    ),
) -> dict[int, str]:
    """Phase 3 for a :class:`RunSlice`: its staged answers settled as ONE set, as
    :func:`_settle_staged` settles a slice of :class:`ChargeAnswer` (Processed with the
    money received and applied as far as each invoice still owes, or Error, or still
    Processing with the gateway's words; the AR summaries; the methods' counters in
    payment id order), then collections told of the settled ones and the outcome events
    of the kinds in ``outcome_events`` (the kinds a tenant's endpoint subscribes to).
    A payment no longer Processing (the reconciler settled it meanwhile) is left as it
    is. Returns the staged kind of each payment it recorded (A approved, F failed, P
    still Processing), by payment id; one it left out is not there."""
    count = len(charges)
    if not count:
        return {}
    payment_repo.hold_write_lock(ctx.session)
    in_flight, charges.in_flight = charges.in_flight, None
    prepared = answers.prepared
    answers.prepared = None
    outcome_columns, answers.outcome_columns = answers.outcome_columns, None
    if in_flight is not None and pending_repository.take_in_flight(
        ctx.session, ctx.tenant_id, in_flight
    ):
        # The slice's payments are written here, once, with their outcomes (none of
        # them exists yet: the slice in flight held them, and it was still there).
        if prepared is None:
            prepared = _settle_rows(charges, answers, None)
        assert prepared is not None
        rows, order, staged = prepared.rows, prepared.order, prepared.staged
        approved = prepared.approved
        invoice_repo.lock_invoices(ctx.session, ctx.tenant_id, approved, with_accounts=False)
        now = ctx.clock.now()
        assert charges.day is not None
        assert charges.at is not None
        payment_repo.insert_run_payments_settled(
            ctx.session,
            ctx.tenant_id,
            charges.payment_ids,
            [*charges.payment_columns(), *(outcome_columns or _outcome_columns(answers))],
            attempt_source=charges.attempt_source,
            day=charges.day,
            at=charges.at,
            now=now,
            payment_type=PaymentType.ELECTRONIC.value,
            processed=PaymentStatus.PROCESSED.value,
            processing=PaymentStatus.PROCESSING.value,
        )
        applied = payment_repo.run_slice_entries(
            ctx.session,
            ctx.tenant_id,
            charges.payment_ids,
            charges.invoices,
            [kind == "A" for kind in answers.kinds],
            source=EntrySource.API.value,
            now=now,
            today=ctx.clock.today(),
            posted=InvoiceStatus.POSTED.value,
            amounts=charges.amounts,
        )
    else:
        # The payments were written Processing (by the begin, or by a recovery that
        # took the slice in flight first): each still Processing is settled.
        live = payment_repo.lock_staged(
            ctx.session, ctx.tenant_id, charges.payment_ids, PaymentStatus.PROCESSING
        )
        if prepared is None or len(live) != count:
            # Some payment settled meanwhile (the reconciler): only the others are settled.
            prepared = _settle_rows(charges, answers, live)
            if prepared is None:
                return {}
        rows, order, staged = prepared.rows, prepared.order, prepared.staged
        staged_json, approved = prepared.staged_json, prepared.approved
        invoice_repo.lock_invoices(ctx.session, ctx.tenant_id, approved, with_accounts=False)
        now = ctx.clock.now()
        applied = payment_repo.settle_staged(
            ctx.session,
            ctx.tenant_id,
            staged,
            staged_json=staged_json,
            approved=bool(approved),
            now=now,
            today=ctx.clock.today(),
            statuses=(PaymentStatus.PROCESSED.value, PaymentStatus.ERROR.value),
            posted=InvoiceStatus.POSTED.value,
            # begin_run_slice wrote no intention row: each payment holds its own.
            intention_rows=False,
        )
    open_balances.entries_applied_owned(ctx.session, ctx.tenant_id, applied, prepared.owners)
    if prepared.sales.sales:
        method_outcomes.record_sales(ctx, prepared.sales, at=now)
    from billcycle.collections.outcomes import PaymentOutcome, on_staged_payment_outcomes

    accounts_ = charges.accounts

    def settled() -> list[tuple[PaymentOutcome, int]]:
        return [
            (PaymentOutcome(rows[i][0], rows[i][1] == "A", rows[i][3], rows[i][2]), accounts_[i])
            for i in order
            if rows[i][1] != "P"
        ]

    if prepared.settled_ids:
        on_staged_payment_outcomes(
            ctx, prepared.settled_ids, settled, processed=PaymentStatus.PROCESSED.value
        )
    for event_type, ids in (
        (EventType.PAYMENT_PROCESSED, prepared.approved_ids),
        (EventType.PAYMENT_FAILED, prepared.failed_ids),
    ):
        if event_type in outcome_events and ids:
            events.emit_payment_outcomes(ctx, event_type, ids)
    return prepared.kinds


# Every column a payment begun as a set is written with (one executemany needs the same
# keys in every row); what _write_planned does not set keeps these values.
_PAYMENT_ROW: dict[str, Any] = {
    "payment_type": PaymentType.ELECTRONIC.value,
    "status": PaymentStatus.PROCESSING.value,
    "gateway_state": GatewayState.SUBMITTED.value,
    "gateway_response": None,
    "gateway_response_code": None,
    "auth_transaction_id": None,
    "soft_descriptor": None,
    "reference_id": None,
    "settled_at": None,
    "cancelled_at": None,
    "deleted_at": None,
    "gateway_transaction_id": None,
    "decline_category": None,
}


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
    if not _chargeable(request, method.status):
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
    return _attempt_from(earlier, order_id)


def _attempt_from(earlier: Sequence[Payment], order_id: str) -> int:
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


class InFlightGate:
    """Shared by several :func:`send_charges` calls of one caller that overlap (a payment
    run's chunk sends its next slice while the last calls of the previous one are still
    out): together they keep at most ``in_flight`` calls out. Sales one call each take
    one of ``in_flight`` permits each; a batch (which counts as ``in_flight`` calls) is
    sent only while no other batch of the gate is out."""

    def __init__(self, in_flight: int) -> None:
        self.in_flight = in_flight
        self.calls = threading.BoundedSemaphore(in_flight)
        self.batch = threading.Lock()


def send_charges(
    runtime: Runtime,
    tenant_id: int,
    pending: Sequence[PendingCharge],
    *,
    in_flight: int = DEFAULT_IN_FLIGHT,
    sleep: Callable[[float], None] = time.sleep,
    gate: InFlightGate | None = None,
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

    singles: list[tuple[int, PendingCharge, Gateway, RateLimiter]] = []
    groups: list[tuple[Gateway, RateLimiter, list[tuple[int, PendingCharge]]]] = []
    by_gateway: dict[int, list[tuple[int, PendingCharge]]] = {}
    for i, charge in todo:
        by_gateway.setdefault(charge.gateway_id or 0, []).append((i, charge))
    for gateway_id, items in by_gateway.items():
        found = opened[gateway_id]
        if isinstance(found, DomainError):
            for i, charge in items:
                answers[i] = ChargeAnswer(pending=charge, error=found)
            continue
        gateway, limiter = found
        if isinstance(gateway, BatchingGateway):
            # A batch is ``in_flight`` calls at once: one batch after another.
            groups.extend(
                (gateway, limiter, items[start : start + in_flight])
                for start in range(0, len(items), in_flight)
            )
        else:
            singles.extend((i, charge, gateway, limiter) for i, charge in items)
    for gateway, limiter, group in groups:
        with gate.batch if gate is not None else nullcontext():
            batch_answers = _sale_batch(gateway, limiter, [c for _, c in group], sleep)
        for (i, _), answer in zip(group, batch_answers, strict=True):
            answers[i] = answer
    if len(singles) == 1 or (singles and in_flight == 1):
        for i, charge, gateway, limiter in singles:
            answers[i] = _sale(gateway, limiter, charge, sleep)
    elif singles:
        pool = _pool(gate.in_flight if gate is not None else in_flight)
        futures = [
            (i, pool.submit(_gated_sale, gate, gateway, limiter, charge, sleep))
            for i, charge, gateway, limiter in singles
        ]
        for i, future in futures:
            answers[i] = future.result()
    return [answer for answer in answers if answer is not None]


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(size: int) -> ThreadPoolExecutor:
    """The process's pool of ``size`` threads for gateway calls (kept: a payment run's
    chunks reuse it rather than start threads for each chunk). A caller's calls wait in
    its queue, so one caller has at most ``size`` in flight."""
    with _POOLS_LOCK:
        pool = _POOLS.get(size)
        if pool is None:
            pool = _POOLS[size] = ThreadPoolExecutor(
                max_workers=size, thread_name_prefix=f"charge{size}"
            )
        return pool


def _sale_request(charge: PendingCharge) -> SaleRequest:
    assert charge.attempt_key
    assert charge.amount is not None
    assert charge.currency
    assert charge.token
    return SaleRequest(
        idempotency_key=charge.attempt_key,
        amount=charge.amount,
        currency=charge.currency,
        payment_method=PaymentMethodRef(charge.token, charge.second_token),
        description=charge.request.soft_descriptor or charge.payment_number,
    )


def _lost(charge: PendingCharge) -> ChargeAnswer:
    """A lost answer: the charge may have gone through; the reconciler asks later."""
    assert charge.attempt_key
    return ChargeAnswer(
        pending=charge,
        result=GatewayResult(
            kind=TransactionKind.SALE,
            outcome=GatewayOutcome.UNKNOWN,
            idempotency_key=charge.attempt_key,
            code="no_answer",
            message="The gateway call failed without an answer.",
            category=DeclineCategory.SYSTEM,
        ),
    )


_NO_LIMIT = RateLimiter(0)


def _sale_batch(
    gateway: Gateway,
    limiter: RateLimiter,
    charges: Sequence[PendingCharge],
    sleep: Callable[[float], None],
) -> list[ChargeAnswer]:
    """One batch of sales through a batching gateway (each sale takes its rate slot). A
    domain error for the batch: each sale again on its own, which answers its error."""
    for _ in charges:
        limiter.wait(sleep)
    label = metrics.gateway_label(gateway)
    try:
        with metrics.timed_gateway_call(label, "sale_batch") as answered:
            results = sale_many(gateway, [_sale_request(c) for c in charges])
            answered.append("answered")
    except DomainError:
        return [_sale(gateway, _NO_LIMIT, charge, sleep) for charge in charges]
    except Exception:
        log.exception("gateway batch of %d sales: no answer", len(charges))
        return [_lost(charge) for charge in charges]
    if len(results) != len(charges):
        log.error("gateway batch: %d answers for %d sales", len(results), len(charges))
        return [_lost(charge) for charge in charges]
    # Each sale of the batch counts as a sale by its outcome (one increment per outcome).
    by_outcome: dict[str, int] = {}
    for result in results:
        outcome = result.outcome.value
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
    for outcome, count in by_outcome.items():
        metrics.GATEWAY_CALLS.labels(label, "sale", outcome.lower()).inc(count)
    return [ChargeAnswer(pending=c, result=r) for c, r in zip(charges, results, strict=True)]


def _rate_of(settings: dict[str, Any]) -> float:
    value = settings.get(RATE_LIMIT_SETTING) or 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return value


def _gated_sale(
    gate: InFlightGate | None,
    gateway: Gateway,
    limiter: RateLimiter,
    charge: PendingCharge,
    sleep: Callable[[float], None],
) -> ChargeAnswer:
    if gate is None:
        return _sale(gateway, limiter, charge, sleep)
    with gate.calls:
        return _sale(gateway, limiter, charge, sleep)


def _sale(
    gateway: Gateway, limiter: RateLimiter, charge: PendingCharge, sleep: Callable[[float], None]
) -> ChargeAnswer:
    request = _sale_request(charge)
    limiter.wait(sleep)
    try:
        with metrics.timed_gateway_call(metrics.gateway_label(gateway), "sale") as outcome:
            result = gateway.sale(request)
            outcome.append(result.outcome.value.lower())
    except DomainError as exc:
        return ChargeAnswer(pending=charge, error=exc)
    except Exception:  # a lost answer: the reconciler asks the gateway later
        log.exception("gateway sale %s: no answer", charge.attempt_key)
        return _lost(charge)
    return ChargeAnswer(pending=charge, result=result)


# -- phase 3 ---------------------------------------------------------------------------


def finish_charges(
    ctx: ServiceContext,
    answers: Sequence[ChargeAnswer],
    *,
    outcome_events: Container[EventType] = frozenset(
        {EventType.PAYMENT_PROCESSED, EventType.PAYMENT_FAILED}
    ),
) -> list[ChargeOutcome]:
    """Record each answer on its payment (in payment id order, the lock order every
    finisher uses; outcomes in ``answers``' order). Only a payment still Processing
    moves, so an answer recorded twice (here and by the reconciler) counts once.
    ``outcome_events``: the event kinds the set settled here writes (a payment run's:
    those a tenant's endpoint subscribes to); one by one, every kind is written."""
    outcomes: dict[int, ChargeOutcome] = {}
    order = sorted(range(len(answers)), key=lambda i: answers[i].pending.payment_id or 0)
    # The common case, a payment for one invoice (every payment run's), settles as a
    # staged set whatever its answer; approvals of other shapes as a set too; the rest
    # goes one by one below.
    settled_as_set = _settle_staged(ctx, answers)
    rest = [i for i in range(len(answers)) if i not in settled_as_set]
    approved = _settle_approved(ctx, [answers[i] for i in rest])
    settled_as_set.update({rest[j]: outcome for j, outcome in approved.items()})
    outcomes.update(settled_as_set)
    for i in order:
        if i in outcomes:
            continue
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
    # The one-by-one path settled through payments.settle_payment, which emitted its
    # payments' events already: only the set's are emitted here (each payment once).
    _emit_outcomes(ctx, list(settled_as_set.values()), outcome_events)
    return found


def _emit_outcomes(
    ctx: ServiceContext, outcomes: Sequence[ChargeOutcome], wanted: Container[EventType]
) -> None:
    """``payment.processed`` / ``payment.failed`` for the payments :func:`_settle_approved`
    settled as a set: one ``INSERT ... SELECT`` per kind, payloads built by the database
    from the rows just settled (what the one-by-one path emits for each)."""
    for event_type, succeeded in (
        (EventType.PAYMENT_PROCESSED, True),
        (EventType.PAYMENT_FAILED, False),
    ):
        if event_type not in wanted:
            continue
        settled = [
            o.payment_id
            for o in outcomes
            if o.settled_now and o.payment_id is not None and o.succeeded == succeeded
        ]
        if settled:
            events.emit_payment_outcomes(ctx, event_type, settled)


@dataclass(slots=True)
class _MethodSales:
    """One method's sales in a staged set, in payment id order."""

    approved: int = 0
    failed: int = 0
    failed_since_approval: int = 0
    last_approved: bool = False

    def add(self, approved: bool) -> None:
        if approved:
            self.approved += 1
            self.failed_since_approval = 0
        else:
            self.failed += 1
            self.failed_since_approval += 1
        self.last_approved = approved


_PENDING_OUTCOMES = (GatewayOutcome.PENDING, GatewayOutcome.UNKNOWN)


def _settle_staged(
    ctx: ServiceContext, answers: Sequence[ChargeAnswer]
) -> dict[int, ChargeOutcome]:
    """Record the answers of payments for ONE invoice each (no items; each invoice once
    in the set), whatever the answer, as a staged set: Python reads each answer into one
    row of a JSON array, and a fixed number of statements does what :func:`record_answer`
    does for each (``payments.repository.settle_staged``: Processed with its money
    received and applied as far as the invoice still owes, or Error, or still
    Processing with the gateway's words; intentions forgotten once settled), then the AR
    summaries, the methods' counters (one statement), and the caller the events and
    collections. Answers it does not take (other shapes, refused charges, payments no
    longer Processing) are left to the other paths; keyed by the answer's index."""
    staged: list[tuple[int, list[Any], bool | None]] = []  # (index, row, counts as)
    invoices_seen: set[int] = set()
    for i, answer in enumerate(answers):
        charge = answer.pending
        request = charge.request
        if (
            charge.error is not None
            or charge.payment_id is None
            or len(request.invoices) != 1
            or request.invoices[0].items
            or request.invoices[0].invoice_id in invoices_seen
        ):
            continue
        invoice_id = request.invoices[0].invoice_id
        invoices_seen.add(invoice_id)
        kind, message, code, transaction, category, state, counted = _staged_of(answer)
        row = [charge.payment_id, kind, message, code, transaction, category, state, invoice_id]
        row.append(request.source.value)
        staged.append((i, row, counted))
    if not staged:
        return {}
    payment_repo.hold_write_lock(ctx.session)
    live = payment_repo.lock_staged(
        ctx.session, ctx.tenant_id, [row[0] for _, row, _ in staged], PaymentStatus.PROCESSING
    )
    staged = sorted((item for item in staged if item[1][0] in live), key=lambda item: item[1][0])
    if not staged:
        return {}
    approved = sorted(row[7] for _, row, _ in staged if row[1] == "A")
    invoice_repo.lock_invoices(ctx.session, ctx.tenant_id, approved, with_accounts=False)
    now = ctx.clock.now()
    applied = payment_repo.settle_staged(
        ctx.session,
        ctx.tenant_id,
        [row for _, row, _ in staged],
        approved=bool(approved),
        now=now,
        today=ctx.clock.today(),
        statuses=(PaymentStatus.PROCESSED.value, PaymentStatus.ERROR.value),
        posted=InvoiceStatus.POSTED.value,
    )
    # The AR summary moves with the ledger (``ledger.open_balances_repository``).
    open_balances.entries_applied_many(ctx.session, ctx.tenant_id, applied, each_owed=True)
    sales: dict[int, _MethodSales] = {}
    settled: dict[int, ChargeOutcome] = {}
    for i, row, counted in staged:
        answer = answers[i]
        charge = answer.pending
        method_id = charge.payment_method_id
        if counted is not None and method_id is not None:
            sales.setdefault(method_id, _MethodSales()).add(counted)
        result = answer.result
        kind = row[1]
        settled[i] = ChargeOutcome(
            request=charge.request,
            payment_id=charge.payment_id,
            payment_number=charge.payment_number,
            status=(
                PaymentStatus.PROCESSED
                if kind == "A"
                else PaymentStatus.ERROR
                if kind == "F"
                else PaymentStatus.PROCESSING
            ),
            succeeded=kind == "A",
            pending=kind == "P",
            gateway_code=result.code if result is not None else None,
            gateway_message=result.message if result is not None else row[2],
            decline_category=result.category if result is not None else None,
            error=answer.error,
            transaction_id=row[4],
            settled_now=kind != "P",
        )
    if sales:
        method_outcomes.record_sales(
            ctx,
            {
                method_id: (s.approved, s.failed, s.failed_since_approval, s.last_approved)
                for method_id, s in sales.items()
            },
            at=now,
        )
    return settled


_SETTLED = GatewayState.SETTLED.value
_FAILED = GatewayState.FAILED_TO_SETTLE.value
_NOT_SUBMITTED = GatewayState.NOT_SUBMITTED.value


def _settle_approved(
    ctx: ServiceContext, answers: Sequence[ChargeAnswer]
) -> dict[int, ChargeOutcome]:
    """Settle the approved answers of a batch as a set: what :func:`record_answer` does
    for each (Processed, money on the account, intentions applied as far as each invoice
    still owes, the method's counters), in a fixed number of statements. Answers it does
    not take (not approved, not Processing any more, item-level intentions) are left for
    the one-by-one path; keyed by the answer's index."""
    ids = [a.pending.payment_id for a in answers if a.pending.payment_id is not None]
    if not ids:
        return {}
    locked = {p.id: p for p in payment_repo.lock_payment_rows(ctx.session, ctx.tenant_id, ids)}
    candidates = {
        i: a
        for i, a in enumerate(answers)
        if a.pending.error is None
        and a.error is None
        and a.result is not None
        and a.result.outcome is GatewayOutcome.APPROVED
        and a.pending.payment_id in locked
        and locked[a.pending.payment_id].status == PaymentStatus.PROCESSING
    }
    if not candidates:
        return {}
    wanted = [a.pending.payment_id for a in candidates.values() if a.pending.payment_id]
    rows = pending_repository.rows_of_payments(ctx.session, ctx.tenant_id, wanted)
    by_item = {row.payment_id for row in rows if row.invoice_item_id is not None}
    candidates = {i: a for i, a in candidates.items() if a.pending.payment_id not in by_item}
    intended: dict[int, list[tuple[int, int]]] = {}
    for row in rows:
        if row.payment_id not in by_item:
            intended.setdefault(row.payment_id, []).append((row.invoice_id, row.amount_minor))
    invoice_ids = sorted({inv for found in intended.values() for inv, _ in found})
    invoice_repo.lock_invoices(ctx.session, ctx.tenant_id, invoice_ids, with_accounts=False)
    # (account id, status, balance, invoice date) of each, read under the locks.
    invoices = activity_repository.invoice_facts(ctx.session, ctx.tenant_id, invoice_ids)
    owed = {invoice_id: facts[2] for invoice_id, facts in invoices.items()}
    now = ctx.clock.now()
    today = ctx.clock.today()
    entries: list[tuple[Any, ...]] = []
    to_invoices: list[tuple[int, int]] = []  # (invoice, amount) of each application
    updates: list[tuple[int, str | None, str | None, str | None]] = []
    plain = activity_repository.Stored(ctx.session).value
    stored = _memo(plain)
    created = stored(now)
    null = stored(None)
    approvals: dict[int, int] = {}
    settled: dict[int, ChargeOutcome] = {}
    for i in sorted(candidates, key=lambda i: candidates[i].pending.payment_id or 0):
        answer = candidates[i]
        result = answer.result
        assert result is not None
        payment = locked[answer.pending.payment_id or 0]
        source = stored(answer.pending.request.source.value)
        currency = stored(payment.currency)
        transaction_id = result.transaction_id or payment.gateway_transaction_id
        updates.append(
            (
                payment.id,
                _clip(result.message, 500),
                _clip(result.code, 100),
                transaction_id,
            )
        )
        reference = plain(payment.number)
        entries.append(
            (
                payment.account_id,
                null,
                payment.id,
                _RECEIVED,
                payment.amount_minor,
                currency,
                stored(payment.effective_date),
                reference,
                source,
            )
        )
        effective = max(today, payment.effective_date)
        applied = 0
        for invoice_id, amount_minor in intended.get(payment.id, []):
            facts = invoices.get(invoice_id)
            if facts is None or facts[1] != InvoiceStatus.POSTED:
                continue
            invoice_account, _, _, invoice_date = facts
            amount = min(amount_minor, owed.get(invoice_id, 0), payment.amount_minor - applied)
            if amount <= 0:
                continue
            owed[invoice_id] -= amount
            applied += amount
            to_invoices.append((invoice_id, amount))
            entries.append(
                (
                    invoice_account,
                    invoice_id,
                    payment.id,
                    _APPLIED,
                    amount,
                    currency,  # an invoice is in its account's currency
                    stored(max(effective, invoice_date)),
                    reference,
                    source,
                )
            )
        if payment.payment_method_id is not None:
            approvals[payment.payment_method_id] = approvals.get(payment.payment_method_id, 0) + 1
        settled[i] = ChargeOutcome(
            request=answer.pending.request,
            payment_id=payment.id,
            payment_number=payment.number,
            status=PaymentStatus.PROCESSED,
            succeeded=True,
            pending=False,
            gateway_code=result.code,
            gateway_message=result.message,
            decline_category=result.category,
            transaction_id=transaction_id,
            settled_now=True,
        )
    payment_repo.settle_rows(
        ctx.session,
        ctx.tenant_id,
        updates,
        status=PaymentStatus.PROCESSED.value,
        gateway_state=GatewayState.SETTLED.value,
        now=now,
    )
    # The ledger rows by the bulk path (COPY / the DB-API's executemany), stamped as
    # ``ledger.record_entries`` stamps them: no statement building per row.
    tenant = ctx.tenant_id
    activity_repository.bulk_insert(
        ctx.session,
        "ledger_entries",
        _ENTRY_COLUMNS,
        [(tenant, *entry, null, null, created) for entry in entries],
    )
    # The AR summary moves with the ledger (``ledger.open_balances_repository``), as every writer's.
    open_balances.entries_applied(ctx.session, tenant, to_invoices)
    pending_repository.drop_many(
        ctx.session, ctx.tenant_id, [a.pending.payment_id or 0 for a in candidates.values()]
    )
    if approvals:
        method_outcomes.record_approvals(ctx, approvals, at=now)
    return settled


def _memo(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` (a ``Stored.value``) remembered per value: a slice's payments share a
    few currencies, dates and sources, converted once each."""
    seen: dict[tuple[type, Any], Any] = {}

    def value(item: Any) -> Any:
        key = (type(item), item)
        found = seen.get(key, seen)
        if found is seen:
            found = seen[key] = convert(item)
        return found

    return value


_ENTRY_COLUMNS = (
    "tenant_id",
    "account_id",
    "invoice_id",
    "payment_id",
    "entry_type",
    "amount_minor",
    "currency",
    "effective_date",
    "reference",
    "source",
    "invoice_item_id",
    "comment",
    "created_at",
)
_RECEIVED = EntryType.PAYMENT_RECEIVED.value
_APPLIED = EntryType.PAYMENT.value


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
