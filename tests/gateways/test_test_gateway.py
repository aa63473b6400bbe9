"""The built-in test gateway: every test card's outcome, idempotency, timeouts that
turn out approved, pending sales that settle, refunds and voids, on both databases."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from billcycle.clock import FrozenClock
from billcycle.errors import InvalidValue, RuleViolation
from billcycle.gateways import service as gateways
from billcycle.gateways.interface import (
    CardDetails,
    ColumnBatchingGateway,
    GatewayResult,
    RefundRequest,
    SaleColumns,
    VoidRequest,
    attempt_key,
)
from billcycle.gateways.statuses import (
    CardBrand,
    DeclineCategory,
    GatewayOutcome,
    TransactionKind,
)
from billcycle.gateways.test_gateway import TestGateway
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.gateways.helpers import (
    SETTLE_AFTER,
    Sleeps,
    charge_rows,
    configure_test_gateway,
    open_test_gateway,
    sale,
)

# number -> (outcome, code, category, brand)
CARDS = {
    "4242424242424242": (GatewayOutcome.APPROVED, None, None, CardBrand.VISA),
    "5555555555554444": (GatewayOutcome.APPROVED, None, None, CardBrand.MASTERCARD),
    "378282246310005": (GatewayOutcome.APPROVED, None, None, CardBrand.AMERICAN_EXPRESS),
    "6011111111111117": (GatewayOutcome.APPROVED, None, None, CardBrand.DISCOVER),
    "4000000000000002": (
        GatewayOutcome.DECLINED,
        "generic_decline",
        DeclineCategory.SOFT,
        CardBrand.VISA,
    ),
    "4000000000009995": (
        GatewayOutcome.DECLINED,
        "insufficient_funds",
        DeclineCategory.SOFT,
        CardBrand.VISA,
    ),
    "4000000000000069": (
        GatewayOutcome.DECLINED,
        "expired_card",
        DeclineCategory.HARD,
        CardBrand.VISA,
    ),
    "4000000000000119": (
        GatewayOutcome.DECLINED,
        "processing_error",
        DeclineCategory.SYSTEM,
        CardBrand.VISA,
    ),
    "4000000000000341": (
        GatewayOutcome.DECLINED,
        "card_declined",
        DeclineCategory.SOFT,
        CardBrand.VISA,
    ),
    "4000000000009904": (GatewayOutcome.UNKNOWN, "timeout", DeclineCategory.SYSTEM, CardBrand.VISA),
    "4000000000009912": (GatewayOutcome.PENDING, None, None, CardBrand.VISA),
}

STRIPE_TOKENS = {
    "tok_visa": GatewayOutcome.APPROVED,
    "tok_chargeDeclined": GatewayOutcome.DECLINED,
    "tok_chargeDeclinedInsufficientFunds": GatewayOutcome.DECLINED,
    "tok_chargeDeclinedExpiredCard": GatewayOutcome.DECLINED,
    "tok_chargeDeclinedProcessingError": GatewayOutcome.DECLINED,
    "tok_chargeCustomerFail": GatewayOutcome.DECLINED,
    "tok_timeoutThenApproved": GatewayOutcome.UNKNOWN,
    "tok_pendingThenSettled": GatewayOutcome.PENDING,
    "tok_nothingKnown": GatewayOutcome.DECLINED,
    "not-a-token": GatewayOutcome.DECLINED,
}


@pytest.fixture
def gateway(runtime: Runtime, tenant: NewTenant, sleeps: Sleeps) -> TestGateway:
    configure_test_gateway(runtime, tenant.tenant_id)
    return open_test_gateway(runtime, tenant.tenant_id, sleeps)


def _card(number: str) -> CardDetails:
    return CardDetails(number=number, expiration_month=12, expiration_year=2030)


def _approved(gateway: TestGateway, key: str, amount: str = "10.00") -> GatewayResult:
    result = gateway.sale(sale(key, "tok_visa", amount))
    assert result.outcome is GatewayOutcome.APPROVED
    return result


@pytest.mark.parametrize("number", sorted(CARDS))
def test_each_test_card_has_its_outcome(
    runtime: Runtime, tenant: NewTenant, gateway: TestGateway, number: str
) -> None:
    outcome, code, category, brand = CARDS[number]
    token = gateway.tokenize(_card(number))
    assert token.brand is brand
    assert token.last4 == number[-4:]
    assert token.mask == "*" * (len(number) - 4) + number[-4:]
    assert number not in token.token

    result = gateway.sale(sale("P-00000001", token.token, "25.50"))

    assert (result.kind, result.outcome, result.code, result.category) == (
        TransactionKind.SALE,
        outcome,
        code,
        category,
    )
    assert (result.amount, result.currency) == (Decimal("25.50"), "USD")
    assert result.idempotency_key == "P-00000001"
    assert result.approved is (outcome is GatewayOutcome.APPROVED)
    if outcome is GatewayOutcome.DECLINED:
        assert result.message
        assert result.transaction_id is not None
    (row,) = charge_rows(runtime, tenant.tenant_id)
    assert (row.amount_minor, row.currency, row.token) == (2550, "USD", token.token)


@pytest.mark.parametrize("token", sorted(STRIPE_TOKENS))
def test_stripe_fixed_tokens_work_as_they_are(gateway: TestGateway, token: str) -> None:
    result = gateway.sale(sale("P-1", token))
    assert result.outcome is STRIPE_TOKENS[token]


def test_an_unknown_token_is_a_hard_decline(gateway: TestGateway) -> None:
    result = gateway.sale(sale("P-1", "tok_someOtherGateway_123"))
    assert (result.outcome, result.code, result.category) == (
        GatewayOutcome.DECLINED,
        "invalid_token",
        DeclineCategory.HARD,
    )


def test_the_same_key_twice_is_one_charge(
    runtime: Runtime, tenant: NewTenant, gateway: TestGateway
) -> None:
    first = _approved(gateway, "P-00000007")
    again = gateway.sale(sale("P-00000007", "tok_visa"))
    assert again == first
    declined = gateway.sale(sale("P-00000008", "tok_chargeDeclined"))
    assert gateway.sale(sale("P-00000008", "tok_chargeDeclined")) == declined
    assert len(charge_rows(runtime, tenant.tenant_id)) == 2
    # A later attempt at the same payment is a new key, so a new charge.
    assert attempt_key("P-00000008", 2) == "P-00000008/2"
    assert gateway.sale(sale(attempt_key("P-00000008", 2), "tok_visa")).approved
    assert len(charge_rows(runtime, tenant.tenant_id)) == 3


@pytest.mark.parametrize(
    "changed",
    [
        sale("P-9", "tok_visa", "10.01"),
        sale("P-9", "tok_visa", "10.00", "EUR"),
        sale("P-9", "tok_mastercard", "10.00"),
    ],
    ids=["amount", "currency", "token"],
)
def test_a_key_reused_for_another_request_is_refused(
    runtime: Runtime, tenant: NewTenant, gateway: TestGateway, changed: object
) -> None:
    _approved(gateway, "P-9")
    with pytest.raises(RuleViolation, match="already used"):
        gateway.sale(changed)  # type: ignore[arg-type]
    assert len(charge_rows(runtime, tenant.tenant_id)) == 1


def test_concurrent_calls_with_one_key_charge_once(
    runtime: Runtime, tenant: NewTenant, gateway: TestGateway
) -> None:
    results: list[GatewayResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def charge() -> None:
        try:
            start.wait()
            results.append(gateway.sale(sale("P-race", "tok_visa")))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=charge) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({r.transaction_id for r in results}) == 1
    assert all(r.approved for r in results)
    assert len(charge_rows(runtime, tenant.tenant_id)) == 1


def test_a_timeout_turns_out_approved(
    runtime: Runtime, tenant: NewTenant, gateway: TestGateway
) -> None:
    token = gateway.tokenize(_card("4000000000009904")).token
    lost = gateway.sale(sale("P-lost", token, "40.00"))
    assert (lost.outcome, lost.transaction_id, lost.is_final) == (
        GatewayOutcome.UNKNOWN,
        None,
        False,
    )

    found = gateway.status("P-lost")
    assert (found.outcome, found.kind, found.amount) == (
        GatewayOutcome.APPROVED,
        TransactionKind.SALE,
        Decimal("40.00"),
    )
    assert found.is_final
    # Asking again with the same key answers the charge made, never a second one.
    assert gateway.sale(sale("P-lost", token, "40.00")) == found
    assert len(charge_rows(runtime, tenant.tenant_id)) == 1


def test_status_of_a_key_never_sent_is_not_found(gateway: TestGateway) -> None:
    result = gateway.status("P-never")
    assert (result.outcome, result.kind, result.transaction_id) == (
        GatewayOutcome.NOT_FOUND,
        None,
        None,
    )


def test_a_pending_sale_settles_on_the_machine_clock(
    gateway: TestGateway, machine_clock: FrozenClock, clock: FrozenClock
) -> None:
    pending = gateway.sale(sale("P-ach", "tok_pendingThenSettled"))
    assert (pending.outcome, pending.is_final) == (GatewayOutcome.PENDING, False)

    clock.advance(timedelta(days=30))  # business time does not settle it
    assert gateway.status("P-ach").outcome is GatewayOutcome.PENDING
    machine_clock.advance(timedelta(seconds=SETTLE_AFTER - 1))
    assert gateway.status("P-ach").outcome is GatewayOutcome.PENDING
    machine_clock.advance(timedelta(seconds=1))
    settled = gateway.status("P-ach")
    assert (settled.outcome, settled.transaction_id) == (
        GatewayOutcome.APPROVED,
        pending.transaction_id,
    )
    assert gateway.sale(sale("P-ach", "tok_pendingThenSettled")) == settled


def test_the_settle_step_settles_a_pending_sale_at_once(gateway: TestGateway) -> None:
    gateway.sale(sale("P-ach", "tok_pendingThenSettled"))
    assert gateway.settle("P-ach").outcome is GatewayOutcome.APPROVED
    assert gateway.status("P-ach").outcome is GatewayOutcome.APPROVED
    with pytest.raises(InvalidValue):
        gateway.settle("P-none")


def _refund(gateway: TestGateway, key: str, sale_id: str | None, amount: str) -> GatewayResult:
    assert sale_id is not None
    return gateway.refund(
        RefundRequest(
            idempotency_key=key, transaction_id=sale_id, amount=Decimal(amount), currency="USD"
        )
    )


def test_refunds_never_exceed_the_charge(
    runtime: Runtime, tenant: NewTenant, gateway: TestGateway
) -> None:
    charge = _approved(gateway, "P-1", "100.00")
    first = _refund(gateway, "R-1", charge.transaction_id, "60.00")
    assert (first.kind, first.outcome, first.amount) == (
        TransactionKind.REFUND,
        GatewayOutcome.APPROVED,
        Decimal("60.00"),
    )
    assert _refund(gateway, "R-1", charge.transaction_id, "60.00") == first  # replayed

    too_much = _refund(gateway, "R-2", charge.transaction_id, "40.01")
    assert (too_much.outcome, too_much.code) == (GatewayOutcome.DECLINED, "amount_too_large")
    assert "40.00 USD" in (too_much.message or "")

    rest = _refund(gateway, "R-3", charge.transaction_id, "40.00")
    assert rest.approved
    assert _refund(gateway, "R-4", charge.transaction_id, "0.01").code == "amount_too_large"
    assert gateway.status("R-3") == rest
    refunds = [r for r in charge_rows(runtime, tenant.tenant_id) if r.kind == "Refund"]
    assert len(refunds) == 4


def test_what_cannot_be_refunded(gateway: TestGateway) -> None:
    declined = gateway.sale(sale("P-d", "tok_chargeDeclined"))
    assert _refund(gateway, "R-d", declined.transaction_id, "1.00").code == "charge_not_refundable"
    pending = gateway.sale(sale("P-p", "tok_pendingThenSettled"))
    assert _refund(gateway, "R-p", pending.transaction_id, "1.00").code == "charge_pending"
    assert _refund(gateway, "R-x", "tgch_999999999", "1.00").code == "resource_missing"
    assert _refund(gateway, "R-y", "ch_stripe", "1.00").code == "resource_missing"
    euro = _approved(gateway, "P-e")
    refund = gateway.refund(
        RefundRequest(
            idempotency_key="R-e",
            transaction_id=euro.transaction_id or "",
            amount=Decimal(1),
            currency="EUR",
        )
    )
    assert refund.code == "currency_mismatch"
    with pytest.raises(InvalidValue):
        _refund(gateway, "R-z", euro.transaction_id, "0")
    with pytest.raises(InvalidValue):
        _refund(gateway, "R-z", euro.transaction_id, "1.001")


def test_a_void_cancels_a_sale_before_it_settles(gateway: TestGateway) -> None:
    pending = gateway.sale(sale("P-p", "tok_pendingThenSettled"))
    void = gateway.void(
        VoidRequest(idempotency_key="V-1", transaction_id=pending.transaction_id or "")
    )
    assert (void.kind, void.outcome, void.amount) == (
        TransactionKind.VOID,
        GatewayOutcome.APPROVED,
        Decimal("10.00"),
    )
    assert gateway.void(VoidRequest("V-1", pending.transaction_id or "")) == void
    assert gateway.status("P-p").outcome is GatewayOutcome.VOIDED
    assert gateway.settle("P-p").outcome is GatewayOutcome.VOIDED  # never settles now
    again = gateway.void(VoidRequest("V-2", pending.transaction_id or ""))
    assert (again.outcome, again.code) == (GatewayOutcome.DECLINED, "charge_not_voidable")
    assert _refund(gateway, "R-1", pending.transaction_id, "1.00").code == "charge_not_refundable"

    approved = _approved(gateway, "P-a")
    assert gateway.void(VoidRequest("V-3", approved.transaction_id or "")).approved
    refunded = _approved(gateway, "P-r")
    assert _refund(gateway, "R-2", refunded.transaction_id, "1.00").approved
    late = gateway.void(VoidRequest("V-4", refunded.transaction_id or ""))
    assert late.code == "charge_not_voidable"
    assert gateway.status("P-r").outcome is GatewayOutcome.APPROVED


def test_latency_is_waited_through_the_injected_sleep(
    runtime: Runtime, tenant: NewTenant, sleeps: Sleeps
) -> None:
    gateway_id = configure_test_gateway(runtime, tenant.tenant_id, "slow", {"latency_ms": 250})
    gateway = open_test_gateway(runtime, tenant.tenant_id, sleeps, gateway_id)
    charge = _approved(gateway, "P-1")
    gateway.status("P-1")
    _refund(gateway, "R-1", charge.transaction_id, "1.00")
    assert sleeps.calls == [0.25, 0.25, 0.25]


def test_no_wait_at_zero_latency(gateway: TestGateway, sleeps: Sleeps) -> None:
    _approved(gateway, "P-1")
    gateway.status("P-1")
    assert sleeps.calls == []


class _Crash(Exception):
    pass


def _pay_then_crash(runtime: Runtime, tenant_id: int, sleeps: Sleeps) -> None:
    with runtime.service_context(tenant_id) as ctx:
        gateway = gateways.open_gateway(ctx, sleep=sleeps)
        assert gateway.sale(sale("P-crash", "tok_visa")).approved
        raise _Crash


def test_the_charge_outlives_the_callers_rolled_back_unit_of_work(
    runtime: Runtime, tenant: NewTenant, sleeps: Sleeps
) -> None:
    """The gateway records in its own transaction, as a remote gateway would: a caller
    that dies after the approval and before its commit leaves the charge in the book."""
    configure_test_gateway(runtime, tenant.tenant_id)

    with pytest.raises(_Crash):
        _pay_then_crash(runtime, tenant.tenant_id, sleeps)
    reopened = open_test_gateway(runtime, tenant.tenant_id, sleeps)
    assert reopened.status("P-crash").outcome is GatewayOutcome.APPROVED


def test_another_tenant_sees_nothing_of_the_charges(
    runtime: Runtime,
    tenant: NewTenant,
    other_tenant: NewTenant,
    gateway: TestGateway,
    sleeps: Sleeps,
) -> None:
    charge = _approved(gateway, "P-1", "50.00")
    configure_test_gateway(runtime, other_tenant.tenant_id)
    theirs = open_test_gateway(runtime, other_tenant.tenant_id, sleeps)
    assert theirs.status("P-1").outcome is GatewayOutcome.NOT_FOUND
    assert _refund(theirs, "R-1", charge.transaction_id, "1.00").code == "resource_missing"
    assert theirs.void(VoidRequest("V-1", charge.transaction_id or "")).code == "resource_missing"
    # The same key is theirs to use: another tenant's charge.
    own = theirs.sale(sale("P-1", "tok_chargeDeclined"))
    assert own.outcome is GatewayOutcome.DECLINED
    assert gateway.status("P-1") == charge


@pytest.mark.parametrize(
    "request_",
    [
        sale("", "tok_visa"),
        sale("x" * 65, "tok_visa"),
        sale(" P-1", "tok_visa"),
        sale("P-\n1", "tok_visa"),
        sale("P-1", "tok_visa", "0"),
        sale("P-1", "tok_visa", "-1.00"),
        sale("P-1", "tok_visa", "1.001"),
        sale("P-1", "tok_visa", "1", "JPX"),
    ],
    ids=[
        "empty-key",
        "long-key",
        "spaced-key",
        "newline-key",
        "zero",
        "negative",
        "precise",
        "xyz",
    ],
)
def test_bad_requests_are_refused_and_charge_nothing(
    runtime: Runtime, tenant: NewTenant, gateway: TestGateway, request_: object
) -> None:
    with pytest.raises(InvalidValue):
        gateway.sale(request_)  # type: ignore[arg-type]
    assert charge_rows(runtime, tenant.tenant_id) == []


def test_attempt_keys() -> None:
    assert attempt_key("P-00000001") == "P-00000001"
    assert attempt_key("P-00000001", 3) == "P-00000001/3"
    with pytest.raises(InvalidValue):
        attempt_key("P-00000001", 0)
    assert len(attempt_key("x" * 50, 99)) <= 64


def test_a_batch_answers_every_test_card_as_one_call_each_does(
    runtime: Runtime, tenant: NewTenant, sleeps: Sleeps
) -> None:
    """The batch path (``sale_many``, the book written as a set) and the per-call path
    (``sale``) answer the same for every test card and token, and book the same charges;
    asking again with the same keys (a retried batch) charges nothing twice."""
    batching = open_test_gateway(
        runtime, tenant.tenant_id, sleeps, configure_test_gateway(runtime, tenant.tenant_id)
    )
    single = open_test_gateway(
        runtime,
        tenant.tenant_id,
        sleeps,
        configure_test_gateway(runtime, tenant.tenant_id, "single", {"batch_sales": 0}),
    )
    assert hasattr(batching, "sale_many")
    assert not hasattr(single, "sale_many")
    tokens = [batching.tokenize(_card(number)).token for number in sorted(CARDS)]
    tokens += sorted(STRIPE_TOKENS)
    requests = [sale(f"B-{i:08d}", token, "12.34") for i, token in enumerate(tokens)]
    alone = [sale(f"S-{i:08d}", token, "12.34") for i, token in enumerate(tokens)]

    batched = batching.sale_many(requests)  # type: ignore[attr-defined]
    one_by_one = [single.sale(request) for request in alone]

    def shape(result: GatewayResult) -> tuple[object, ...]:
        return (
            result.kind,
            result.outcome,
            result.code,
            result.message,
            result.category,
            result.amount,
            result.currency,
            result.transaction_id is not None,
        )

    assert [shape(r) for r in batched] == [shape(r) for r in one_by_one]
    assert [r.idempotency_key for r in batched] == [q.idempotency_key for q in requests]
    booked = {row.idempotency_key: row for row in charge_rows(runtime, tenant.tenant_id)}
    assert len(booked) == 2 * len(tokens)
    for b, s in zip(requests, alone, strict=True):
        mine, theirs = booked[b.idempotency_key], booked[s.idempotency_key]
        assert (mine.state, mine.code, mine.amount_minor, mine.token) == (
            theirs.state,
            theirs.code,
            theirs.amount_minor,
            theirs.token,
        )
    again = batching.sale_many(requests)  # type: ignore[attr-defined]
    for first, second in zip(batched, again, strict=True):
        if first.outcome is GatewayOutcome.UNKNOWN:  # the lost answer, found approved
            assert second.outcome is GatewayOutcome.APPROVED
            assert second.transaction_id
        else:
            assert (second.outcome, second.transaction_id) == (
                first.outcome,
                first.transaction_id,
            )
    assert len(charge_rows(runtime, tenant.tenant_id)) == 2 * len(tokens)


def test_the_column_batch_answers_every_test_card_as_sale_many_does(
    runtime: Runtime, tenant: NewTenant, sleeps: Sleeps
) -> None:
    """The column batch API (``sale_columns``: parallel lists in, ``SaleColumns`` out,
    the book in one transaction) answers each test card and token as ``sale_many``
    does and books the same charges; sent again with the same keys it charges nothing
    twice and answers what the book says (the lost answer found approved); a bad
    amount refuses the whole batch, booking nothing."""
    gateway = open_test_gateway(
        runtime, tenant.tenant_id, sleeps, configure_test_gateway(runtime, tenant.tenant_id)
    )
    assert isinstance(gateway, ColumnBatchingGateway)
    tokens = [gateway.tokenize(_card(number)).token for number in sorted(CARDS)]
    tokens += sorted(STRIPE_TOKENS)
    requests = [sale(f"M-{i:08d}", token, "12.34") for i, token in enumerate(tokens)]
    keys = [f"C-{i:08d}" for i in range(len(tokens))]
    count = len(tokens)

    expected = gateway.sale_many(requests)
    found = gateway.sale_columns(keys, [1234] * count, ["USD"] * count, tokens, per_call=4)

    def rows(columns: SaleColumns) -> list[tuple[object, ...]]:
        return list(
            zip(
                columns.outcomes,
                columns.codes,
                columns.messages,
                columns.categories,
                [t is not None for t in columns.transaction_ids],
                strict=True,
            )
        )

    assert rows(found) == [
        (r.outcome, r.code, r.message, r.category, r.transaction_id is not None) for r in expected
    ]
    booked = {row.idempotency_key: row for row in charge_rows(runtime, tenant.tenant_id)}
    assert len(booked) == 2 * count
    for request, key in zip(requests, keys, strict=True):
        mine, theirs = booked[key], booked[request.idempotency_key]
        assert (mine.state, mine.code, mine.amount_minor, mine.token) == (
            theirs.state,
            theirs.code,
            theirs.amount_minor,
            theirs.token,
        )
    slow = open_test_gateway(
        runtime,
        tenant.tenant_id,
        sleeps,
        configure_test_gateway(runtime, tenant.tenant_id, "slow", {"latency_ms": 10}),
    )
    assert isinstance(slow, ColumnBatchingGateway)
    waited = len(sleeps.calls)
    slow.sale_columns(
        [f"W-{i}" for i in range(9)], [100] * 9, ["USD"] * 9, ["tok_visa"] * 9, per_call=4
    )
    assert sleeps.calls[waited:] == [0.01] * 3  # 9 sales, 4 a round trip: three trips

    again = gateway.sale_columns(keys, [1234] * count, ["USD"] * count, tokens, per_call=4)
    for i, outcome in enumerate(found.outcomes):
        if outcome is GatewayOutcome.UNKNOWN:  # the lost answer, found approved
            assert again.outcomes[i] is GatewayOutcome.APPROVED
            assert again.transaction_ids[i]
        else:
            assert (again.outcomes[i], again.transaction_ids[i]) == (
                outcome,
                found.transaction_ids[i],
            )
    assert len(charge_rows(runtime, tenant.tenant_id)) == 2 * count + 9

    with pytest.raises(InvalidValue):
        gateway.sale_columns(["Z-1", "Z-2"], [100, 0], ["USD", "USD"], tokens[:2], per_call=4)
    assert len(charge_rows(runtime, tenant.tenant_id)) == 2 * count + 9


def test_a_column_batch_with_some_keys_booked_before_books_only_the_new_ones(
    runtime: Runtime, tenant: NewTenant, sleeps: Sleeps
) -> None:
    """A batch mixing keys booked before (a retried slice's) with new ones (on
    PostgreSQL the book's plain INSERT is refused by the unique key and the batch is
    booked again skipping the booked keys): each booked key answers its first charge,
    each new key is charged once, and nothing is booked twice."""
    gateway = open_test_gateway(
        runtime, tenant.tenant_id, sleeps, configure_test_gateway(runtime, tenant.tenant_id)
    )
    assert isinstance(gateway, ColumnBatchingGateway)
    first = gateway.sale_columns(
        ["K-1", "K-3"], [100, 300], ["USD", "USD"], ["tok_visa", "tok_visa"], per_call=4
    )
    assert first.outcomes == [GatewayOutcome.APPROVED, GatewayOutcome.APPROVED]
    keys = ["K-1", "K-2", "K-3", "K-4"]
    mixed = gateway.sale_columns(
        keys, [100, 200, 300, 400], ["USD"] * 4, ["tok_visa"] * 4, per_call=4
    )
    assert mixed.outcomes == [GatewayOutcome.APPROVED] * 4
    assert mixed.transaction_ids[0] == first.transaction_ids[0]
    assert mixed.transaction_ids[2] == first.transaction_ids[1]
    assert len(set(mixed.transaction_ids)) == 4
    booked = sorted(
        (row.idempotency_key, row.amount_minor) for row in charge_rows(runtime, tenant.tenant_id)
    )
    assert booked == [("K-1", 100), ("K-2", 200), ("K-3", 300), ("K-4", 400)]
