"""The built-in test gateway: deterministic outcomes by card number or token.

Modelled on Stripe's test cards and tokens. A card number is only ever given to
:meth:`TestGateway.tokenize`, which answers a token that names the card's behaviour
(``tok_chargeDeclined_<random>``) and keeps nothing; Stripe's fixed test tokens
(``tok_visa``, ``tok_chargeDeclined``, ...) work as they are.

======================  ==========================================  ====================
card                    token                                       a sale ...
======================  ==========================================  ====================
4242424242424242 [1]_   ``tok_visa``                                is approved
4000000000000002        ``tok_chargeDeclined``                      ``generic_decline``
4000000000009995        ``tok_chargeDeclinedInsufficientFunds``     ``insufficient_funds``
4000000000000069        ``tok_chargeDeclinedExpiredCard``           ``expired_card``
4000000000000119        ``tok_chargeDeclinedProcessingError``       ``processing_error``
4000000000000341        ``tok_chargeCustomerFail``                  attaches, charges fail
4000000000009904        ``tok_timeoutThenApproved``                 times out [2]_
4000000000009912        ``tok_pendingThenSettled``                  is pending [3]_
======================  ==========================================  ====================

.. [1] Also 5555555555554444 (``tok_mastercard``), 378282246310005 (``tok_amex``) and
   6011111111111117 (``tok_discover``).
.. [2] Recorded as approved, answered ``Unknown``: ``status`` (or the same sale again)
   says approved.
.. [3] Until ``settle_after_seconds`` of machine time have passed (or ``settle``).

Settings: ``latency_ms`` (waited before every call: a sale through :meth:`TestGateway.sale`
waits it once, as one request to a one-charge-per-request gateway such as Stripe does),
``settle_after_seconds`` (how long a pending sale stays pending), ``max_calls_per_second``
(0: none), the per-process rate limit ``payments.charging`` honours, and optionally
``batch_sales`` (1 by default: the gateway models a batch API, a batch of sales, at most
the caller's in-flight count, being one call of ONE round trip and one write of the book;
0: no batch API, one call and one round trip per sale, as Stripe). Sales in flight
together have their book entries written together (``_GroupWriter``, a group commit):
the book lives on this machine, where a remote gateway's storage would cost billcycle
nothing, so concurrent calls do not each pay a transaction of their own.
:meth:`TestGateway.chargeback` charges back an approved sale, as a card network does
after a lost dispute (tests then report it through the gateway-settlement API).

The charge book is the ``test_gateway_charges`` table, written in the gateway's OWN
short transaction on its own connection, as a remote gateway records a charge whatever
becomes of billcycle's unit of work: a charge approved for a process killed before its
commit is still there for ``status``. On a SQLite file the table lives in a database
file of its own beside billcycle's (``billcycle.test-gateway.db`` for ``billcycle.db``:
:func:`book_engine`), with its own write lock, so the gateway's writes never wait for
billcycle's writer nor it for them; on PostgreSQL it is billcycle's table. A caller
still records the attempt, commits, calls the gateway, then records the outcome in a
new unit of work (a remote gateway's answer comes after any time at all).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billcycle.db.engine import at_dispose, make_engine
from billcycle.db.session import make_session_factory, unit_of_work
from billcycle.errors import InvalidValue, RuleViolation
from billcycle.gateways import test_gateway_repository as repo
from billcycle.gateways.interface import (
    CardDetails,
    CardToken,
    GatewayConfig,
    GatewayResult,
    PaymentMethodRef,
    RefundRequest,
    SaleColumns,
    SaleRequest,
    VoidRequest,
    check_idempotency_key,
)
from billcycle.gateways.models import TestGatewayCharge
from billcycle.gateways.statuses import (
    CardBrand,
    ChargeState,
    DeclineCategory,
    GatewayOutcome,
    TransactionKind,
)
from billcycle.ids import is_ascii_digits
from billcycle.money import from_minor, normalize_currency, to_minor

log = logging.getLogger(__name__)

TYPE_NAME = "Test"
TRANSACTION_PREFIX = "tgch_"


@dataclass(frozen=True, slots=True)
class Scenario:
    """How every sale on one test card or token ends."""

    name: str  # the token stem: tok_<name>
    brand: CardBrand
    state: ChargeState
    code: str | None = None
    message: str = "Approved"
    category: DeclineCategory | None = None
    # The sale is recorded as ``state`` but its answer is lost: the caller sees Unknown.
    times_out: bool = False


def _declined(name: str, code: str, message: str, category: DeclineCategory) -> Scenario:
    return Scenario(name, CardBrand.VISA, ChargeState.DECLINED, code, message, category)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("visa", CardBrand.VISA, ChargeState.APPROVED),
        Scenario("mastercard", CardBrand.MASTERCARD, ChargeState.APPROVED),
        Scenario("amex", CardBrand.AMERICAN_EXPRESS, ChargeState.APPROVED),
        Scenario("discover", CardBrand.DISCOVER, ChargeState.APPROVED),
        _declined(
            "chargeDeclined", "generic_decline", "Your card was declined.", DeclineCategory.SOFT
        ),
        _declined(
            "chargeDeclinedInsufficientFunds",
            "insufficient_funds",
            "Your card has insufficient funds.",
            DeclineCategory.SOFT,
        ),
        _declined(
            "chargeDeclinedExpiredCard",
            "expired_card",
            "Your card has expired.",
            DeclineCategory.HARD,
        ),
        _declined(
            "chargeDeclinedProcessingError",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
            DeclineCategory.SYSTEM,
        ),
        _declined(
            "chargeCustomerFail", "card_declined", "Your card was declined.", DeclineCategory.SOFT
        ),
        Scenario("timeoutThenApproved", CardBrand.VISA, ChargeState.APPROVED, times_out=True),
        Scenario(
            "pendingThenSettled",
            CardBrand.VISA,
            ChargeState.PENDING,
            message="Pending: the charge settles later.",
        ),
    )
}

CARDS: dict[str, Scenario] = {
    "4242424242424242": SCENARIOS["visa"],
    "5555555555554444": SCENARIOS["mastercard"],
    "378282246310005": SCENARIOS["amex"],
    "6011111111111117": SCENARIOS["discover"],
    "4000000000000002": SCENARIOS["chargeDeclined"],
    "4000000000009995": SCENARIOS["chargeDeclinedInsufficientFunds"],
    "4000000000000069": SCENARIOS["chargeDeclinedExpiredCard"],
    "4000000000000119": SCENARIOS["chargeDeclinedProcessingError"],
    "4000000000000341": SCENARIOS["chargeCustomerFail"],
    "4000000000009904": SCENARIOS["timeoutThenApproved"],
    "4000000000009912": SCENARIOS["pendingThenSettled"],
}

# A token naming no scenario (or another gateway's token) charges nothing.
_UNKNOWN_TOKEN = Scenario(
    "",
    CardBrand.VISA,
    ChargeState.DECLINED,
    "invalid_token",
    "No such token.",
    DeclineCategory.HARD,
)

DEFAULT_SETTINGS: dict[str, int] = {
    # Waited before every call: what a remote gateway's round trip costs.
    "latency_ms": 0,
    # How long a pending sale stays pending, in machine time.
    "settle_after_seconds": 3600,
    # At most this many calls per second from one process (0: no limit); honoured by
    # the caller (payments.charging), as a real gateway's published rate limit is.
    "max_calls_per_second": 0,
}


# Settings a tenant may give, not stored unless given: ``batch_sales`` 1 (the default)
# takes a payment run's sales in batches (``sale_many``, the book written once a batch);
# 0 is a gateway without a batch API (each sale its own call, ``in_flight`` at once).
OPTIONAL_SETTINGS: dict[str, int] = {"batch_sales": 1}


def scenario_of_token(token: str) -> Scenario:
    """``tok_<name>`` (Stripe's fixed tokens) or ``tok_<name>_<random>`` (tokenize's)."""
    if not token.startswith("tok_"):
        return _UNKNOWN_TOKEN
    stem = token[4:].split("_", 1)[0]
    return SCENARIOS.get(stem, _UNKNOWN_TOKEN)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def transaction_id(charge_id: int) -> str:
    return f"{TRANSACTION_PREFIX}{charge_id}"


def _charge_id(reference: str) -> int | None:
    if not reference.startswith(TRANSACTION_PREFIX):
        return None
    digits = reference[len(TRANSACTION_PREFIX) :]
    return int(digits) if is_ascii_digits(digits) and len(digits) < 19 else None


_OUTCOMES = {
    ChargeState.APPROVED: GatewayOutcome.APPROVED,
    ChargeState.DECLINED: GatewayOutcome.DECLINED,
    ChargeState.PENDING: GatewayOutcome.PENDING,
    ChargeState.VOIDED: GatewayOutcome.VOIDED,
}


_BOOK_LOCKS: dict[int, threading.Lock] = {}
_BOOK_LOCKS_GUARD = threading.Lock()


def _book_lock(engine: Engine) -> AbstractContextManager[object]:
    """SQLite has one writer: the calls of one process (a payment run keeps 64 in
    flight) take turns at the book here, instead of in SQLite's busy handler, which
    sleeps up to 100 ms a retry while the writer it waits for finished long ago.
    PostgreSQL writes in parallel: no lock."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _BOOK_LOCKS_GUARD:
        return _BOOK_LOCKS.setdefault(id(engine), threading.Lock())


# -- where the book lives ---------------------------------------------------------------

BOOK_SUFFIX = ".test-gateway"

_BOOKS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_BOOKS_WATCHED: weakref.WeakSet[Engine] = weakref.WeakSet()
_BOOKS_GUARD = threading.Lock()


def book_path(database: str) -> str:
    """The book file of the SQLite database file ``database``, beside it:
    ``billcycle.db`` -> ``billcycle.test-gateway.db``."""
    root, extension = os.path.splitext(os.path.abspath(database))
    return f"{root}{BOOK_SUFFIX}{extension or '.db'}"


def book_engine(engine: Engine) -> Engine:
    """The engine the test gateway keeps its charge book on, for billcycle's ``engine``.

    A SQLite file: a database file of its own beside billcycle's (:func:`book_path`),
    with its own engine and so its own write lock, as a remote gateway's storage is its
    own: a payment run's gateway calls book their sales while the worker writes the
    run's payments, instead of queueing for the one write lock of billcycle's file. Its
    one table is made when the book is first opened (``test_gateway_repository.
    create_book``). PostgreSQL (rows are locked where written), an in-memory or URI
    SQLite database: billcycle's own database, whose ``test_gateway_charges`` table
    Alembic makes."""
    database = engine.url.database
    if (
        engine.dialect.name != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        return engine
    with _BOOKS_GUARD:
        found = _BOOKS.get(engine)
        if found is None:
            found = _open_book(book_path(database), repo.database_mark(engine))
            _BOOKS[engine] = found
            if engine not in _BOOKS_WATCHED:
                _BOOKS_WATCHED.add(engine)
                at_dispose(engine, _close_book)
        return found


def _open_book(path: str, owner: int | None) -> Engine:
    """The book at ``path`` for the database marked ``owner``. A book left there by
    another database (billcycle's file deleted and made again, the book kept) would
    answer the new database's payment keys, which restart at P-00000001, with the old
    charges: it is moved aside (``.stale-<time>``, kept, not deleted) and a new one made."""
    book = make_engine(f"sqlite:///{path}")
    try:
        repo.create_book(book, owner)
    except repo.BookOfAnotherDatabase:
        book.dispose()
        root, extension = os.path.splitext(path)
        aside = f"{root}.stale-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}{extension}"
        for suffix in ("", "-wal", "-shm"):
            # No such side file, or another process moved the book first.
            with suppress(FileNotFoundError):
                os.replace(path + suffix, aside + suffix)
        log.warning(
            "the test gateway's book %s belonged to another database: moved to %s", path, aside
        )
        book = make_engine(f"sqlite:///{path}")
        repo.create_book(book, owner)
    return book


def _close_book(engine: Engine) -> None:
    """billcycle's engine was disposed: so is its book's (opened again when used)."""
    with _BOOKS_GUARD:
        found = _BOOKS.pop(engine, None)
    if found is not None:
        found.dispose()


def charge_book(engine: Engine) -> sessionmaker[Session]:
    """Sessions on the test gateway's charge book of billcycle's ``engine`` (what the
    gateway recorded, for tests and checks; the gateway itself writes it)."""
    return make_session_factory(book_engine(engine))


class TestGatewayType:
    """The ``Test`` gateway type (registered under ``billcycle.gateways``)."""

    __test__ = False  # not a pytest test class, whatever its name says

    @property
    def name(self) -> str:
        return TYPE_NAME

    def validate_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(settings) - set(DEFAULT_SETTINGS) - set(OPTIONAL_SETTINGS))
        if unknown:
            raise InvalidValue(
                f"The test gateway has no setting {unknown[0]!r} (it has "
                f"{', '.join(sorted(DEFAULT_SETTINGS))}).",
                field="settings",
            )
        checked = dict(DEFAULT_SETTINGS)
        for key, value in settings.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidValue(
                    f"The test gateway's {key} is a whole number >= 0, not {value!r}.",
                    field="settings",
                )
            if key in OPTIONAL_SETTINGS and value > 1:
                raise InvalidValue(f"The test gateway's {key} is 0 or 1.", field="settings")
            checked[key] = value
        return checked

    def create(self, config: GatewayConfig) -> TestGateway:
        if config.settings.get("batch_sales", 1):
            return BatchingTestGateway(config)
        return TestGateway(config)


TEST_GATEWAY_TYPE = TestGatewayType()


class TestGateway:
    """One tenant's configured test gateway (see the module's table of cards)."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, config: GatewayConfig) -> None:
        settings = TEST_GATEWAY_TYPE.validate_settings(config.settings)
        self._tenant_id = config.tenant_id
        self._gateway_id = config.gateway_id
        self._clock = config.machine_clock
        self._sleep: Callable[[float], None] = config.sleep
        self._latency_ms: int = settings["latency_ms"]
        self._settle_after = timedelta(seconds=settings["settle_after_seconds"])
        book = book_engine(config.engine)
        self._sessions: sessionmaker[Session] = make_session_factory(book)
        self._book_lock = _book_lock(book)
        self._writer = _writer(book, config.tenant_id, config.gateway_id)

    # -- tokenization: the number goes no further than this method ----------------------

    def tokenize(self, card: CardDetails) -> CardToken:
        """A token for a test card; the number is neither stored nor logged."""
        digits = "".join(c for c in card.number if c not in " -")
        if not (is_ascii_digits(digits) and 12 <= len(digits) <= 19 and _luhn_valid(digits)):
            raise InvalidValue("The card number is not a valid card number.", field="cardNumber")
        scenario = CARDS.get(digits)
        if scenario is None:
            raise InvalidValue(
                f"The test gateway takes only test cards, not a card ending in {digits[-4:]}.",
                field="cardNumber",
            )
        if not 1 <= card.expiration_month <= 12:
            raise InvalidValue("The expiration month is 1 to 12.", field="expirationMonth")
        if not 1000 <= card.expiration_year <= 9999:
            raise InvalidValue("The expiration year has four digits.", field="expirationYear")
        last4 = digits[-4:]
        return CardToken(
            token=f"tok_{scenario.name}_{secrets.token_hex(8)}",
            brand=scenario.brand,
            mask="*" * (len(digits) - 4) + last4,
            last4=last4,
            expiration_month=card.expiration_month,
            expiration_year=card.expiration_year,
        )

    def verify(self, payment_method: PaymentMethodRef, currency: str) -> GatewayResult:
        """A zero-amount check of a token, as a card network answers it: a card that
        declines charges declines this too, except ``tok_chargeCustomerFail``
        (4000000000000341), which attaches and verifies fine but whose charges fail.
        Nothing is recorded: no money moves."""
        token = payment_method.token
        scenario = scenario_of_token(token)
        self._wait()
        verified = (
            scenario.state is not ChargeState.DECLINED or scenario.name == "chargeCustomerFail"
        )
        return GatewayResult(
            kind=TransactionKind.VERIFY,
            outcome=GatewayOutcome.APPROVED if verified else GatewayOutcome.DECLINED,
            idempotency_key=f"verify-{token[:40]}",
            currency=normalize_currency(currency),
            code=None if verified else scenario.code,
            message="Approved" if verified else scenario.message,
            category=None if verified else scenario.category,
        )

    # -- transactions ------------------------------------------------------------------

    def sale(self, request: SaleRequest) -> GatewayResult:
        """One sale, one call: its own round trip (``latency_ms``), then its book entry.
        Calls in flight together (a payment run keeps 64 out) have their book entries
        written together by :class:`_GroupWriter`, one short transaction for the calls
        that arrive while the previous one commits, as a remote gateway's storage takes
        concurrent requests; each call is still answered on its own."""
        checked = _checked(request)
        self._wait()
        [(row, fresh)] = self._writer.write(self, [checked])
        return self._answer(checked, row, fresh)

    @staticmethod
    def _timed_out(key: str, amount: Decimal, currency: str) -> GatewayResult:
        """Recorded by the gateway, answer lost on the way back."""
        return GatewayResult(
            kind=TransactionKind.SALE,
            outcome=GatewayOutcome.UNKNOWN,
            idempotency_key=key,
            amount=amount,
            currency=currency,
            code="timeout",
            message="The gateway did not answer in time.",
            category=DeclineCategory.SYSTEM,
        )

    def refund(self, request: RefundRequest) -> GatewayResult:
        key = check_idempotency_key(request.idempotency_key)
        currency = normalize_currency(request.currency)
        amount_minor = _positive_minor(request.amount, currency)
        sale_id = _charge_id(request.transaction_id)
        self._wait()

        def record(session: Session) -> TestGatewayCharge:
            sale = self._locked_sale(session, sale_id)
            refusal: tuple[str, str] | None = None
            if sale is None:
                refusal = ("resource_missing", "No such charge.")
            elif sale.state == ChargeState.PENDING:
                refusal = ("charge_pending", "The charge has not settled: void it instead.")
            elif sale.state != ChargeState.APPROVED:
                refusal = ("charge_not_refundable", f"The charge is {sale.state}.")
            elif sale.currency != currency:
                refusal = ("currency_mismatch", f"The charge is in {sale.currency}.")
            else:
                left = sale.amount_minor - repo.refunded_minor(session, self._tenant_id, sale.id)
                if amount_minor > left:
                    refusal = (
                        "amount_too_large",
                        f"The refund exceeds what is left to refund of the charge "
                        f"({from_minor(left, currency)} {currency}).",
                    )
            return repo.insert_charge(
                session,
                self._row(
                    key,
                    TransactionKind.REFUND,
                    sale,
                    amount_minor,
                    currency,
                    refusal,
                ),
            )

        row, _ = self._once(key, record)
        _same_request(row, TransactionKind.REFUND, amount_minor, currency, sale_id, None)
        return self._result(row)

    def void(self, request: VoidRequest) -> GatewayResult:
        key = check_idempotency_key(request.idempotency_key)
        sale_id = _charge_id(request.transaction_id)
        self._wait()

        def record(session: Session) -> TestGatewayCharge:
            now = self._clock.now()
            sale = self._locked_sale(session, sale_id)
            refusal: tuple[str, str] | None = None
            if sale is None:
                refusal = ("resource_missing", "No such charge.")
            elif repo.refunded_minor(session, self._tenant_id, sale.id) > 0:
                refusal = ("charge_not_voidable", "The charge has refunds: refund the rest.")
            elif not repo.mark_voided(session, self._tenant_id, sale.id, now):
                refusal = ("charge_not_voidable", f"The charge is {sale.state}.")
            amount = sale.amount_minor if sale is not None else 0
            currency = sale.currency if sale is not None else "USD"
            return repo.insert_charge(
                session, self._row(key, TransactionKind.VOID, sale, amount, currency, refusal)
            )

        row, _ = self._once(key, record)
        _same_request(row, TransactionKind.VOID, None, None, sale_id, None)
        return self._result(row)

    def chargeback(self, transaction_id: str, amount: Decimal | None = None) -> GatewayResult:
        """The test stand-in for a card network's chargeback (or a bank's ACH return) of
        an approved sale, ``amount`` of it (all by default): recorded in the charge book
        like any transaction. A test then reports it to billcycle through the
        gateway-settlement API, as a merchant does from the gateway's settlement report.
        Not part of the Gateway interface: gateways report these, nobody asks for them.
        One chargeback per sale (its key is derived from the sale)."""
        sale_id = _charge_id(transaction_id)
        key = check_idempotency_key(f"chargeback/{transaction_id}")

        def record(session: Session) -> TestGatewayCharge:
            sale = self._locked_sale(session, sale_id)
            if sale is None or sale.state != ChargeState.APPROVED:
                raise InvalidValue("No approved sale to charge back.", field="transaction_id")
            minor = sale.amount_minor if amount is None else _positive_minor(amount, sale.currency)
            if minor > sale.amount_minor:
                raise InvalidValue("A chargeback is at most the sale.", field="amount")
            row = self._row(key, TransactionKind.CHARGEBACK, sale, minor, sale.currency, None)
            row.code = "chargeback"
            row.message = "The cardholder disputed the charge."
            return repo.insert_charge(session, row)

        row, _ = self._once(key, record)
        return self._result(row)

    def status(self, idempotency_key: str) -> GatewayResult:
        key = check_idempotency_key(idempotency_key)
        self._wait()
        with unit_of_work(self._sessions) as session:
            row = repo.find_by_key(session, self._tenant_id, key)
            if row is None:
                return GatewayResult(
                    kind=None,
                    outcome=GatewayOutcome.NOT_FOUND,
                    idempotency_key=key,
                    message="No transaction was received with this idempotency key.",
                )
            row = self._settled(session, row)
            return self._result(row)

    def settle(self, idempotency_key: str) -> GatewayResult:
        """The settle step: a pending sale settles now, whatever the time (a test's
        shortcut for "the bank confirmed it")."""
        key = check_idempotency_key(idempotency_key)
        with unit_of_work(self._sessions) as session:
            row = repo.find_by_key(session, self._tenant_id, key)
            if row is None:
                raise InvalidValue("No transaction was received with this idempotency key.")
            if repo.settle_pending(session, self._tenant_id, row.id, self._clock.now(), force=True):
                session.refresh(row)
            return self._result(row)

    # -- the book ----------------------------------------------------------------------

    def _book_many(self, sales: Sequence[_Sale]) -> list[tuple[Any, bool]]:
        """Book ``sales`` in one short transaction: the new ones written by one
        ``INSERT ... SELECT`` from a JSON array that skips keys already booked
        (``repo.insert_sales``), those read in one SELECT; (entry, fresh) for each, in
        order. A key given twice is booked once."""
        with self._book_lock, unit_of_work(self._sessions) as session:
            now = self._clock.now()
            fresh: dict[str, _Sale] = {}
            for sale in sales:
                fresh.setdefault(sale.key, sale)
            ids = repo.insert_sales(
                session,
                self._tenant_id,
                self._gateway_id,
                [
                    [
                        sale.key,
                        sale.scenario.state.value,
                        sale.amount_minor,
                        sale.currency,
                        sale.token,
                        sale.scenario.code,
                        sale.scenario.message,
                    ]
                    for sale in fresh.values()
                ],
                kind=TransactionKind.SALE.value,
                pending=ChargeState.PENDING.value,
                now=now,
                settles_at=now + self._settle_after,
            )
            # Keys booked before (a sale sent again, another process): their entries.
            rows: dict[str, Any] = dict(
                repo.find_by_keys(session, self._tenant_id, [k for k in fresh if k not in ids])
                if len(ids) < len(fresh)
                else {}
            )
            for key, row in list(rows.items()):
                rows[key] = self._settled(session, row)
                del fresh[key]
            for key, sale in fresh.items():
                rows[key] = _Booked(
                    id=ids[key],
                    idempotency_key=key,
                    kind=TransactionKind.SALE.value,
                    parent_id=None,
                    state=sale.scenario.state.value,
                    amount_minor=sale.amount_minor,
                    currency=sale.currency,
                    token=sale.token,
                    code=sale.scenario.code,
                    message=sale.scenario.message,
                )
        if fresh:
            log.info("test gateway: %d sales booked together", len(fresh))
        found: list[tuple[Any, bool]] = []
        for sale in sales:
            first = sale.key in fresh
            found.append((rows[sale.key], first))
            fresh.pop(sale.key, None)  # a second sale with the key reads the first's
        return found

    def _book_one(self, sale: _Sale) -> tuple[Any, bool]:
        def record(session: Session) -> TestGatewayCharge:
            now = self._clock.now()
            return repo.insert_charge(
                session,
                TestGatewayCharge(
                    tenant_id=self._tenant_id,
                    gateway_id=self._gateway_id,
                    idempotency_key=sale.key,
                    kind=TransactionKind.SALE,
                    state=sale.scenario.state,
                    amount_minor=sale.amount_minor,
                    currency=sale.currency,
                    token=sale.token,
                    code=sale.scenario.code,
                    message=sale.scenario.message,
                    settles_at=(
                        now + self._settle_after
                        if sale.scenario.state is ChargeState.PENDING
                        else None
                    ),
                    created_at=now,
                    updated_at=now,
                ),
            )

        return self._once(sale.key, record)

    def _answer(
        self,
        sale: _Sale,
        row: Any,
        fresh: bool,
        amounts: dict[tuple[int, str], Decimal] | None = None,
    ) -> GatewayResult:
        _same_request(row, TransactionKind.SALE, sale.amount_minor, sale.currency, None, sale.token)
        if fresh and log.isEnabledFor(logging.DEBUG):
            log.debug("test gateway sale %s: %s", transaction_id(row.id), row.state)
        if fresh and sale.scenario.times_out:
            return self._timed_out(
                sale.key, from_minor(sale.amount_minor, sale.currency), sale.currency
            )
        return self._result(row, amounts)

    # -- helpers -----------------------------------------------------------------------

    def _wait(self) -> None:
        if self._latency_ms:
            self._sleep(self._latency_ms / 1000)

    def _once(
        self, key: str, record: Callable[[Session], TestGatewayCharge]
    ) -> tuple[TestGatewayCharge, bool]:
        """The transaction recorded under ``key``: the one already there, or the one
        ``record`` writes now (fresh = True). Of two concurrent calls with one key, the
        unique index lets one write; the other reads what it wrote."""
        try:
            with self._book_lock, unit_of_work(self._sessions) as session:
                existing = repo.find_by_key(session, self._tenant_id, key)
                if existing is not None:
                    return self._settled(session, existing), False
                return record(session), True
        except IntegrityError:
            with unit_of_work(self._sessions) as session:
                existing = repo.find_by_key(session, self._tenant_id, key)
                if existing is None:
                    raise
                return self._settled(session, existing), False

    def _settled(self, session: Session, row: TestGatewayCharge) -> TestGatewayCharge:
        """A pending sale past its settling time is approved from now on."""
        if row.state == ChargeState.PENDING and repo.settle_pending(
            session, self._tenant_id, row.id, self._clock.now()
        ):
            session.refresh(row)
        return row

    def _locked_sale(self, session: Session, sale_id: int | None) -> TestGatewayCharge | None:
        if sale_id is None or not repo.lock_charge(
            session, self._tenant_id, sale_id, self._clock.now()
        ):
            return None
        sale = repo.find_by_id(session, self._tenant_id, sale_id)
        if sale is None or sale.kind != TransactionKind.SALE:
            return None
        return self._settled(session, sale)

    def _row(
        self,
        key: str,
        kind: TransactionKind,
        sale: TestGatewayCharge | None,
        amount_minor: int,
        currency: str,
        refusal: tuple[str, str] | None,
    ) -> TestGatewayCharge:
        now = self._clock.now()
        return TestGatewayCharge(
            tenant_id=self._tenant_id,
            gateway_id=self._gateway_id,
            idempotency_key=key,
            kind=kind,
            parent_id=sale.id if sale is not None else None,
            state=ChargeState.DECLINED if refusal else ChargeState.APPROVED,
            amount_minor=amount_minor,
            currency=currency,
            code=refusal[0] if refusal else None,
            message=refusal[1] if refusal else "Approved",
            created_at=now,
            updated_at=now,
        )

    def _result(
        self, row: TestGatewayCharge, amounts: dict[tuple[int, str], Decimal] | None = None
    ) -> GatewayResult:
        """What the book's entry answers. ``amounts``: the Decimal of each (minor,
        currency) already built for the batch being answered."""
        state = ChargeState(row.state)
        if amounts is None:
            amount = from_minor(row.amount_minor, row.currency)
        else:
            key = (row.amount_minor, row.currency)
            found = amounts.get(key)
            amount = amounts[key] = found if found is not None else from_minor(*key)
        category = None
        if state is ChargeState.DECLINED:
            scenario = scenario_of_token(row.token) if row.token else None
            category = (
                scenario.category
                if scenario is not None and scenario.code == row.code
                else DeclineCategory.HARD
            )
        return GatewayResult(
            kind=TransactionKind(row.kind),
            outcome=_OUTCOMES[state],
            idempotency_key=row.idempotency_key,
            transaction_id=transaction_id(row.id),
            amount=amount,
            currency=row.currency,
            code=row.code,
            message=row.message,
            category=category,
        )


class BatchingTestGateway(TestGateway):
    """The test gateway with a batch API (``gateways.interface.BatchingGateway``): what
    ``create`` builds unless the settings say ``batch_sales: 0``."""

    __test__ = False

    def sale_many(self, requests: Sequence[SaleRequest]) -> list[GatewayResult]:
        """Many sales sent together (``BatchingGateway``): one round trip's latency, as
        for a gateway with a real batch API, and the book written in ONE short
        transaction (keys already known answer their transaction, as :meth:`sale` does).
        A request :meth:`sale` would refuse outright (a bad key or amount, a key reused
        for another transaction) raises here; the caller then sends them one by one."""
        checked = _checked_many(requests)
        keys = [c.key for c in checked]
        if len(set(keys)) != len(keys):
            return [self.sale(request) for request in requests]
        if not checked:
            return []
        self._wait()
        written = self._writer.write(self, checked)
        amounts: dict[tuple[int, str], Decimal] = {}  # a batch shares a few amounts
        return [
            self._answer(c, row, fresh, amounts)
            for c, (row, fresh) in zip(checked, written, strict=True)
        ]

    def sale_columns(
        self,
        keys: Sequence[str],
        amounts_minor: Sequence[int],
        currencies: Sequence[str],
        tokens: Sequence[str],
        *,
        per_call: int,
    ) -> SaleColumns:
        """Many sales as parallel lists (``ColumnBatchingGateway``): the round trips of
        ``len(keys) / per_call`` batches one after another, then the book written in ONE
        short transaction for all of them (the test gateway answers at once: a bigger
        write is cheaper than one a batch of ``per_call``). Each sale is answered as
        :meth:`sale` answers it; what :meth:`sale` would refuse outright raises."""
        count = len(keys)
        found = SaleColumns()
        if not count:
            return found
        if len(set(keys)) != count:
            for key, minor, currency, token in zip(
                keys, amounts_minor, currencies, tokens, strict=True
            ):
                found.append(self.sale(_request(key, minor, currency, token)))
            return found
        for key in keys:
            check_idempotency_key(key)
        for currency in set(currencies):
            if normalize_currency(currency) != currency:
                raise InvalidValue(f"Unknown currency {currency!r}.", field="currency")
        if min(amounts_minor) <= 0:
            raise InvalidValue("A gateway amount is greater than zero.", field="amount")
        scenarios = {token: scenario_of_token(token) for token in set(tokens)}
        # What each scenario books (state, code, message), once per scenario.
        booked = {token: (s.state.value, s.code, s.message) for token, s in scenarios.items()}
        for _ in range(-(-count // max(1, per_call))):
            self._wait()
        answered: dict[str, GatewayResult] = {}
        with self._book_lock, unit_of_work(self._sessions) as session:
            now = self._clock.now()
            ids = repo.insert_sales(
                session,
                self._tenant_id,
                self._gateway_id,
                [
                    [key, state, minor, currency, token, code, message]
                    for key, minor, currency, token, (state, code, message) in zip(
                        keys,
                        amounts_minor,
                        currencies,
                        tokens,
                        [booked[t] for t in tokens],
                        strict=True,
                    )
                ],
                kind=TransactionKind.SALE.value,
                pending=ChargeState.PENDING.value,
                now=now,
                settles_at=now + self._settle_after,
            )
            if len(ids) < count:
                # Keys booked before (a sale sent again, another process): their entries.
                for index, key in enumerate(keys):
                    if key in ids:
                        continue
                    row = repo.find_by_key(session, self._tenant_id, key)
                    if row is None:
                        raise InvalidValue(f"The sale {key!r} was not booked.")
                    sale = _Sale(
                        key,
                        currencies[index],
                        amounts_minor[index],
                        tokens[index],
                        scenarios[tokens[index]],
                    )
                    answered[key] = self._answer(sale, self._settled(session, row), False)
        # What each fresh scenario answers, once per scenario.
        said = {token: _fresh_answer(s) for token, s in scenarios.items()}
        outcomes, codes, messages = found.outcomes, found.codes, found.messages
        transactions, categories = found.transaction_ids, found.categories
        for key, token in zip(keys, tokens, strict=True):
            charge_id = ids.get(key)
            if charge_id is None:
                found.append(answered[key])
                continue
            outcome, code, message, category, lost = said[token]
            outcomes.append(outcome)
            codes.append(code)
            messages.append(message)
            transactions.append(None if lost else f"{TRANSACTION_PREFIX}{charge_id}")
            categories.append(category)
        return found


@dataclass(frozen=True, slots=True)
class _Booked:
    """A sale just written to the book, as :meth:`TestGateway._result` reads an entry."""

    id: int
    idempotency_key: str
    kind: str
    parent_id: int | None
    state: str
    amount_minor: int
    currency: str
    token: str | None
    code: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class _Sale:
    """A sale request as checked before it goes to the book."""

    key: str
    currency: str
    amount_minor: int
    token: str
    scenario: Scenario


def _checked(request: SaleRequest) -> _Sale:
    key = check_idempotency_key(request.idempotency_key)
    currency = normalize_currency(request.currency)
    amount_minor = _positive_minor(request.amount, currency)
    token = request.payment_method.token
    return _Sale(key, currency, amount_minor, token, scenario_of_token(token))


def _checked_many(requests: Sequence[SaleRequest]) -> list[_Sale]:
    """:func:`_checked` for a batch: each distinct (amount, currency) and token checked
    once (a payment run's batch shares a few)."""
    minors: dict[tuple[Decimal, str], tuple[str, int]] = {}
    scenarios: dict[str, Scenario] = {}
    found: list[_Sale] = []
    for request in requests:
        key = check_idempotency_key(request.idempotency_key)
        money = (request.amount, request.currency)
        known = minors.get(money)
        if known is None:
            currency = normalize_currency(request.currency)
            known = minors[money] = (currency, _positive_minor(request.amount, currency))
        token = request.payment_method.token
        scenario = scenarios.get(token)
        if scenario is None:
            scenario = scenarios[token] = scenario_of_token(token)
        found.append(_Sale(key, known[0], known[1], token, scenario))
    return found


class _GroupWriter:
    """Writes the book entries of the calls in flight together in one short transaction
    (a group commit): a call queues its sales, then takes the writer's turn; the first
    to get it writes everything queued by then, and the calls whose sales it wrote find
    them written when their turn comes. What each call is answered is its own entry,
    exactly as if written alone (a key already booked answers its transaction; of two
    sales with one key, the first books it and the second reads it)."""

    def __init__(self) -> None:
        self._queue: list[_Slot] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()

    def write(self, gateway: TestGateway, sales: Sequence[_Sale]) -> list[tuple[Any, bool]]:
        slots = [_Slot(gateway, sale) for sale in sales]
        with self._queue_lock:
            self._queue.extend(slots)
        with self._turn:
            if not all(slot.done for slot in slots):
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._write(batch)
        for slot in slots:
            if slot.error is not None:
                raise slot.error
        return [(slot.row, slot.fresh) for slot in slots]

    def _write(self, batch: list[_Slot]) -> None:
        # Slots carry their gateway (its clock and settings): grouped by it, in order.
        groups: dict[int, list[_Slot]] = {}
        for slot in batch:
            groups.setdefault(id(slot.gateway), []).append(slot)
        for slots in groups.values():
            gateway = slots[0].gateway
            try:
                try:
                    written = gateway._book_many([slot.sale for slot in slots])
                except IntegrityError:
                    # Another process booked one of these keys meanwhile: one by one.
                    written = [gateway._book_one(slot.sale) for slot in slots]
                for slot, (row, fresh) in zip(slots, written, strict=True):
                    slot.row, slot.fresh = row, fresh
            except BaseException as exc:  # every waiting call hears of it
                for slot in slots:
                    slot.error = exc
            finally:
                for slot in slots:
                    slot.done = True


@dataclass(slots=True)
class _Slot:
    gateway: TestGateway
    sale: _Sale
    row: Any = None
    fresh: bool = False
    error: BaseException | None = None
    done: bool = False


# One group writer per (engine, tenant, gateway) in the process: the calls of every
# payment-run chunk of the process share it, as they share the connection pool.
_WRITERS: dict[tuple[int, int, int], _GroupWriter] = {}
_WRITERS_GUARD = threading.Lock()


def _writer(engine: Engine, tenant_id: int, gateway_id: int) -> _GroupWriter:
    with _WRITERS_GUARD:
        return _WRITERS.setdefault((id(engine), tenant_id, gateway_id), _GroupWriter())


def _positive_minor(amount: Decimal, currency: str) -> int:
    minor = to_minor(amount, currency)
    if minor <= 0:
        raise InvalidValue(f"A gateway amount is greater than zero, not {amount}.", field="amount")
    return minor


def _same_request(
    row: TestGatewayCharge,
    kind: TransactionKind,
    amount_minor: int | None,
    currency: str | None,
    parent_id: int | None,
    token: str | None,
) -> None:
    """One idempotency key is one request: reused for a different one, it is refused
    (as Stripe refuses it) rather than answered with another transaction's outcome."""
    differs = (
        row.kind != kind
        or (amount_minor is not None and row.amount_minor != amount_minor)
        or (currency is not None and row.currency != currency)
        or (row.parent_id is not None and row.parent_id != parent_id)
        or (token is not None and row.token != token)
    )
    if differs:
        raise RuleViolation(
            f"The idempotency key {row.idempotency_key!r} was already used for another "
            "transaction.",
            field="idempotency_key",
        )


def _request(key: str, minor: int, currency: str, token: str) -> SaleRequest:
    return SaleRequest(key, from_minor(minor, currency), currency, PaymentMethodRef(token))


def _fresh_answer(
    scenario: Scenario,
) -> tuple[GatewayOutcome, str | None, str | None, DeclineCategory | None, bool]:
    """(outcome, code, message, category, answer lost) of a sale just booked on
    ``scenario``'s card: what :meth:`TestGateway._answer` says of a fresh entry."""
    if scenario.times_out:
        return (
            GatewayOutcome.UNKNOWN,
            "timeout",
            "The gateway did not answer in time.",
            DeclineCategory.SYSTEM,
            True,
        )
    outcome = _OUTCOMES[scenario.state]
    category = scenario.category if scenario.state is ChargeState.DECLINED else None
    return outcome, scenario.code, scenario.message, category, False
