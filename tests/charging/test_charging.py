"""Charging through the test gateway in three phases, on both databases: approvals pay
invoices once settled, declines leave them open and count on the payment method,
pending and unknown answers stay Processing and count for nothing, refused requests
write nothing, and the gateway calls are overlapped and rate limited."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from billcycle.errors import Conflict, NotFound, RuleViolation
from billcycle.gateways.statuses import DeclineCategory, GatewayOutcome
from billcycle.ledger import service as ledger
from billcycle.paymentmethods import repository as methods
from billcycle.paymentmethods.statuses import PaymentMethodStatus
from billcycle.payments import charging, pending_repository
from billcycle.payments.models import Payment
from billcycle.payments.statuses import PaymentStatus
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.charging.helpers import (
    Sleeps,
    add_method,
    balance,
    charge_rows,
    method,
    payment,
    request,
    setup,
)
from tests.payments.helpers import check_invariants, posted_invoices


def payments_count(runtime: Runtime, tenant_id: int) -> int:
    with runtime.service_context(tenant_id) as ctx:
        return int(
            ctx.session.execute(
                select(func.count()).where(Payment.tenant_id == tenant_id)
            ).scalar_one()
        )


def invariants(runtime: Runtime, tenant_id: int) -> None:
    with runtime.service_context(tenant_id) as ctx:
        check_invariants(ctx)


def test_an_approved_charge_pays_its_invoices_once_settled(
    runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["100", "50"])
    first, second = s.invoice_ids
    outcome = charging.charge_now(
        runtime, t, request(s, 12000, (first, None), (second, "20")), sleep=Sleeps()
    )
    assert outcome.error is None
    assert outcome.succeeded
    assert not outcome.pending
    assert outcome.status == PaymentStatus.PROCESSED
    assert outcome.payment_id is not None
    paid = payment(runtime, t, outcome.payment_id)
    assert paid.attempt_key == paid.gateway_order_id == paid.number == outcome.payment_number
    assert paid.payment_method_id == s.method_id
    assert paid.gateway_id == s.gateway_id
    assert paid.gateway_transaction_id
    assert paid.gateway_transaction_id == outcome.transaction_id
    assert balance(runtime, t, first) == 0
    assert balance(runtime, t, second) == 3000
    (charge,) = charge_rows(runtime, t)
    assert charge.idempotency_key == paid.number
    assert charge.amount_minor == 12000
    used = method(runtime, t, s.method_id)
    assert used.num_consecutive_failures == 0
    assert used.last_transaction == "Approved"
    assert used.total_processed_payments == 1
    assert used.last_transaction_at == runtime.clock.now()
    invariants(runtime, t)


def test_declines_leave_invoices_open_and_count_on_the_method(
    runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["100"], token="tok_chargeDeclinedInsufficientFunds")
    (invoice,) = s.invoice_ids
    for attempt in (1, 2):
        outcome = charging.charge_now(runtime, t, request(s, 10000, (invoice, None)))
        assert outcome.status == PaymentStatus.ERROR
        assert not outcome.succeeded
        assert not outcome.pending
        assert outcome.gateway_code == "insufficient_funds"
        assert outcome.gateway_message == "Your card has insufficient funds."
        assert outcome.decline_category is DeclineCategory.SOFT
        assert outcome.payment_id is not None
        failed = payment(runtime, t, outcome.payment_id)
        assert failed.gateway_response_code == "insufficient_funds"
        assert failed.decline_category == DeclineCategory.SOFT.value
        used = method(runtime, t, s.method_id)
        assert used.num_consecutive_failures == attempt
        assert used.total_error_payments == attempt
        assert used.last_failed_sale_at == runtime.clock.now()
        assert used.last_transaction == "Declined"
    assert balance(runtime, t, invoice) == 10000
    # A later success through another card resets the count of the method it used.
    good = add_method(runtime, t, s.account_id, "tok_visa", default=False)
    ok = charging.charge_now(runtime, t, request(s, 10000, (invoice, None), payment_method_id=good))
    assert ok.succeeded
    assert balance(runtime, t, invoice) == 0
    assert method(runtime, t, good).num_consecutive_failures == 0
    # The declined invoice is paid by the later charge only: two declines, one approval.
    assert [row.state for row in charge_rows(runtime, t)] == ["Declined", "Declined", "Approved"]
    invariants(runtime, t)


@pytest.mark.parametrize(
    ("token", "code"), [("tok_pendingThenSettled", None), ("tok_timeoutThenApproved", "timeout")]
)
def test_pending_and_unknown_answers_count_for_nothing(
    runtime: Runtime, tenant: NewTenant, token: str, code: str | None
) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["100"], token=token)
    (invoice,) = s.invoice_ids
    outcome = charging.charge_now(runtime, t, request(s, 10000, (invoice, None)))
    assert outcome.pending
    assert not outcome.succeeded
    assert outcome.status == PaymentStatus.PROCESSING
    assert outcome.gateway_code == code
    assert balance(runtime, t, invoice) == 10000
    with runtime.service_context(t) as ctx:
        assert ledger.account_credit_minor(ctx.session, t, s.account_id) == 0
        assert charging.invoices_awaiting_settlement(ctx, [invoice, invoice + 999]) == {invoice}
        check_invariants(ctx)
    # Nothing is known yet: the method's counters wait for the outcome.
    assert method(runtime, t, s.method_id).last_transaction is None


def test_refused_requests_write_nothing_and_do_not_fail_the_batch(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["100", "100"])
    stranger = posted_invoices(runtime, t, ["10"])
    closed = add_method(runtime, t, s.account_id, default=False, status=PaymentMethodStatus.CLOSED)
    scrubbed = add_method(
        runtime, t, s.account_id, default=False, status=PaymentMethodStatus.SCRUBBED
    )
    tokenless = add_method(runtime, t, s.account_id, None, default=False)
    theirs = add_method(runtime, t, stranger.account_id)
    elsewhere = posted_invoices(runtime, other_tenant.tenant_id, ["10"])
    foreign = add_method(runtime, other_tenant.tenant_id, elsewhere.account_id)
    first, second = s.invoice_ids
    bad = [
        (request(s, 1000, payment_method_id=closed), RuleViolation, "Closed"),
        (request(s, 1000, payment_method_id=scrubbed), RuleViolation, "Scrubbed"),
        (request(s, 1000, payment_method_id=tokenless), RuleViolation, "token"),
        (request(s, 1000, payment_method_id=theirs), RuleViolation, "belong"),
        (request(s, 1000, payment_method_id=foreign), NotFound, "not found"),
        (request(s, 0), Exception, "greater than zero"),
        # More than the invoice owes; the other tenant's invoice is not found.
        (request(s, 20000, (first, "150")), RuleViolation, "owes"),
        (request(s, 1000, (elsewhere.invoice_ids[0], None)), NotFound, "not found"),
    ]
    no_default = charging.ChargeRequest(account_id=stranger.account_id, amount_minor=1, invoices=())
    with runtime.service_context(t) as ctx:
        # The stranger's account loses its only (default) method for this check.
        row = methods.get_method(ctx.session, t, theirs)
        assert row is not None
        row.is_default = False
    good = request(s, 10000, (second, None))
    with runtime.service_context(t) as ctx:
        pending = charging.begin_charges(ctx, [r for r, _, _ in bad] + [no_default, good])
    for charge, (_, error, words) in zip(pending, bad, strict=False):
        assert isinstance(charge.error, error), charge
        assert words in str(charge.error)
        assert charge.payment_id is None
    assert isinstance(pending[-2].error, RuleViolation)
    assert "default payment method" in str(pending[-2].error)
    assert pending[-1].error is None
    assert pending[-1].payment_id is not None
    assert payments_count(runtime, t) == 1
    answers = charging.send_charges(runtime, t, pending, sleep=Sleeps())
    assert len(answers) == len(pending)
    with runtime.service_context(t) as ctx:
        outcomes = charging.finish_charges(ctx, answers)
    assert [o.succeeded for o in outcomes] == [False] * (len(pending) - 1) + [True]
    assert outcomes[0].error is pending[0].error
    assert len(charge_rows(runtime, t)) == 1
    assert balance(runtime, t, first) == 10000
    assert balance(runtime, t, second) == 0
    invariants(runtime, t)


def test_a_retried_order_gets_a_new_attempt_key_never_while_one_is_processing(
    runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["100"], token="tok_chargeDeclined")
    (invoice,) = s.invoice_ids
    first = charging.charge_now(
        runtime, t, request(s, 10000, (invoice, None), gateway_order_id="ORDER-1")
    )
    assert first.status == PaymentStatus.ERROR
    card = add_method(runtime, t, s.account_id, "tok_pendingThenSettled", default=False)
    second = charging.charge_now(
        runtime,
        t,
        request(s, 10000, (invoice, None), gateway_order_id="ORDER-1", payment_method_id=card),
    )
    assert second.pending
    assert second.payment_id is not None
    assert payment(runtime, t, second.payment_id).attempt_key == "ORDER-1/2"
    # While attempt 2 is Processing, the order is not sent again.
    third = charging.charge_now(
        runtime, t, request(s, 10000, gateway_order_id="ORDER-1", payment_method_id=card)
    )
    assert isinstance(third.error, Conflict)
    assert third.payment_id is None
    assert [row.idempotency_key for row in charge_rows(runtime, t)] == ["ORDER-1", "ORDER-1/2"]


def test_an_order_id_that_is_an_earlier_payments_number_is_its_next_attempt(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """A payment sent under its own number (no gatewayOrderId given) is an attempt of
    that order as one sent under an explicit gatewayOrderId is: a later request naming
    the number is its second attempt, found through the number (the gateway-order
    index holds only payments sent under another id than their number)."""
    t = tenant.tenant_id
    s = setup(runtime, t, ["100"], token="tok_chargeDeclined")
    (invoice,) = s.invoice_ids
    first = charging.charge_now(runtime, t, request(s, 10000, (invoice, None)))
    assert first.status == PaymentStatus.ERROR
    assert first.payment_id is not None
    number = payment(runtime, t, first.payment_id).number
    card = add_method(runtime, t, s.account_id, "tok_pendingThenSettled", default=False)
    second = charging.charge_now(
        runtime,
        t,
        request(s, 10000, (invoice, None), gateway_order_id=number, payment_method_id=card),
    )
    assert second.pending
    assert second.payment_id is not None
    assert payment(runtime, t, second.payment_id).attempt_key == f"{number}/2"
    # While attempt 2 is Processing (found by its gatewayOrderId), the order waits.
    third = charging.charge_now(
        runtime, t, request(s, 10000, gateway_order_id=number, payment_method_id=card)
    )
    assert isinstance(third.error, Conflict)
    assert [row.idempotency_key for row in charge_rows(runtime, t)] == [number, f"{number}/2"]


def test_orders_taken_finds_both_kinds_of_earlier_orders_once(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """``orders_taken`` (a payment run's check of its block of fresh numbers) names the
    ids an earlier electronic payment was sent under, under its own number (the unique
    key's range read once: PostgreSQL) or another order id (the gateway-order index),
    and no other: ids around, between and past them are free."""
    t = tenant.tenant_id
    s = setup(runtime, t, ["100", "100"], token="tok_chargeDeclined")
    own = charging.charge_now(runtime, t, request(s, 10000, (s.invoice_ids[0], None)))
    other = charging.charge_now(
        runtime, t, request(s, 10000, (s.invoice_ids[1], None), gateway_order_id="P-ORDER-7")
    )
    assert own.payment_id is not None
    assert other.payment_id is not None
    number = payment(runtime, t, own.payment_id).number
    other_number = payment(runtime, t, other.payment_id).number
    asked = [number, "P-ORDER-7", other_number, "P-0", "P-ORDER-8", "Z-1", number + "0"]
    with runtime.service_context(t) as ctx:
        taken = pending_repository.orders_taken(ctx.session, t, asked)
        assert sorted(taken) == sorted([number, "P-ORDER-7"])
        assert pending_repository.orders_taken(ctx.session, t, ["P-0", "Z-1"]) == []


def test_calls_overlap_up_to_in_flight(runtime: Runtime, tenant: NewTenant) -> None:
    """A gateway without a batch API (the test gateway with ``batch_sales: 0``): one
    call per sale, at most ``in_flight`` at once."""
    t = tenant.tenant_id
    s = setup(runtime, t, ["1"], settings={"latency_ms": 50, "batch_sales": 0})
    lock = threading.Lock()
    now = [0]
    peak = [0]

    def sleep(seconds: float) -> None:
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(seconds)
        with lock:
            now[0] -= 1

    with runtime.service_context(t) as ctx:
        pending = charging.begin_charges(ctx, [request(s, 100) for _ in range(9)])
    answers = charging.send_charges(runtime, t, pending, in_flight=3, sleep=sleep)
    assert all(
        a.result is not None and a.result.outcome is GatewayOutcome.APPROVED for a in answers
    )
    assert 2 <= peak[0] <= 3
    with runtime.service_context(t) as ctx:
        assert all(o.succeeded for o in charging.finish_charges(ctx, answers))
    assert len(charge_rows(runtime, t)) == 9


def test_a_batching_gateway_takes_in_flight_sales_a_round_trip(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """The test gateway's batch API: 9 sales with 3 in flight are 3 calls of one round
    trip each (one book write each); each answered as its own sale would be, a key
    already known answers its transaction, a declining card declines."""
    t = tenant.tenant_id
    s = setup(runtime, t, ["1"], settings={"latency_ms": 50})
    waits = Sleeps()
    with runtime.service_context(t) as ctx:
        pending = charging.begin_charges(ctx, [request(s, 100) for _ in range(9)])
    answers = charging.send_charges(runtime, t, pending, in_flight=3, sleep=waits)
    assert waits.calls == [0.05, 0.05, 0.05]
    assert [a.result.outcome if a.result else None for a in answers] == [
        GatewayOutcome.APPROVED
    ] * 9
    rows = charge_rows(runtime, t)
    assert sorted(row.idempotency_key for row in rows) == sorted(
        p.attempt_key for p in pending if p.attempt_key
    )
    # Sent again (a lost answer asked twice): the same transactions, nothing new.
    again = charging.send_charges(runtime, t, pending, in_flight=5, sleep=waits)
    assert [a.result.transaction_id for a in again if a.result] == [
        a.result.transaction_id for a in answers if a.result
    ]
    assert len(charge_rows(runtime, t)) == 9
    with runtime.service_context(t) as ctx:
        assert all(o.succeeded for o in charging.finish_charges(ctx, answers))
    declined = add_method(runtime, t, s.account_id, "tok_chargeDeclined", default=False)
    with runtime.service_context(t) as ctx:
        mixed = charging.begin_charges(
            ctx,
            [request(s, 100), request(s, 100, payment_method_id=declined), request(s, 100)],
        )
    outcomes = [
        a.result.outcome if a.result else None
        for a in charging.send_charges(runtime, t, mixed, in_flight=64, sleep=waits)
    ]
    assert outcomes == [GatewayOutcome.APPROVED, GatewayOutcome.DECLINED, GatewayOutcome.APPROVED]


def test_the_gateway_rate_limit_spaces_calls(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    s = setup(runtime, t, ["1"], settings={"max_calls_per_second": 20})
    with runtime.service_context(t) as ctx:
        pending = charging.begin_charges(ctx, [request(s, 100) for _ in range(10)])
    started = time.monotonic()
    answers = charging.send_charges(runtime, t, pending, in_flight=10)
    # Ten calls at 20 a second: the last starts at least 9 / 20 s after the first.
    assert time.monotonic() - started >= 0.45 - 0.01
    assert len(answers) == 10
    recorded = Sleeps()
    with runtime.service_context(t) as ctx:
        more = charging.begin_charges(ctx, [request(s, 100) for _ in range(4)])
    charging.send_charges(runtime, t, more, in_flight=4, sleep=recorded)
    # A recorded sleep does not pass time: each call waits one slot more than the last.
    assert len(recorded.calls) >= 3
    assert max(recorded.calls) >= 0.1


def test_orders_taken_finds_each_order_id_sent_whatever_the_ids_range_holds(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """``pending_repository.orders_taken`` (a payment run's check of its fresh numbers):
    an id some electronic payment was sent under, by its own number or as an explicit
    gatewayOrderId, is found; an id between them that no payment was sent under is not
    (SQLite reads each index over the ids' range, then checks each found row is asked
    for)."""
    from billcycle.payments import pending_repository

    t = tenant.tenant_id
    s = setup(runtime, t, ["100", "200", "300"])
    own = charging.charge_now(runtime, t, request(s, 10000, (s.invoice_ids[0], None)))
    explicit = charging.charge_now(
        runtime, t, request(s, 20000, (s.invoice_ids[1], None), gateway_order_id="ORDER-5")
    )
    between = charging.charge_now(
        runtime, t, request(s, 30000, (s.invoice_ids[2], None), gateway_order_id="ORDER-3")
    )
    assert own.payment_id is not None
    assert explicit.payment_id is not None
    assert between.payment_id is not None
    number = payment(runtime, t, own.payment_id).number
    explicit_number = payment(runtime, t, explicit.payment_id).number
    with runtime.service_context(t) as ctx:
        asked = [number, "ORDER-1", "ORDER-5", "ORDER-9", explicit_number, "zz-unknown"]
        found = pending_repository.orders_taken(ctx.session, t, asked)
        # ORDER-3 is in the range ORDER-1..ORDER-9 but not asked for; the explicit
        # payment's own number was never an order id (it went out as ORDER-5).
        assert sorted(found) == sorted([number, "ORDER-5"])
        assert pending_repository.orders_taken(ctx.session, t, ["ORDER-3"]) == ["ORDER-3"]
        assert pending_repository.orders_taken(ctx.session, t, ["ORDER-4", "ORDER-2"]) == []


def test_run_payment_columns_write_each_value_given_shared_or_not(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """``payments.repository.insert_run_payment_columns`` (a payment run's slice) carries
    in its JSON rows only the columns that differ a payment and binds a slice's shared
    value once: each payment is written with exactly the values given either way (a
    shared comment and currency; comments, gateways and attempt keys that differ)."""
    from datetime import UTC, date, datetime

    from billcycle.payments import repository as payment_repo
    from tests.gateways.helpers import configure_test_gateway

    t = tenant.tenant_id
    s = setup(runtime, t, ["1", "2", "3"])
    other = configure_test_gateway(runtime, t, "second")
    a, b, c = s.invoice_ids
    day, now = date(2026, 1, 5), datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    shared = (
        [s.account_id] * 3,
        ["RUN-1", "RUN-2", "RUN-3"],
        [100, 200, 300],
        ["USD"] * 3,
        [s.method_id] * 3,
        [s.gateway_id] * 3,
        ["the same words"] * 3,
        ["RUN-1", "RUN-2", "RUN-3"],
        [a, b, c],
    )
    varied = (
        [s.account_id] * 3,
        ["RUN-4", "RUN-5", "RUN-6"],
        [400, 500, 600],
        ["USD"] * 3,
        [s.method_id] * 3,
        [s.gateway_id, other, s.gateway_id],
        [None, "a comment", None],
        ["RUN-4", "RUN-2/2", "RUN-6"],
        [a, b, c],
    )
    written: list[int] = []
    with runtime.service_context(t) as ctx:
        payment_repo.hold_write_lock(ctx.session)
        for columns in (shared, varied):
            written += payment_repo.insert_run_payment_columns(
                ctx.session,
                t,
                columns,
                attempt_source="PaymentRun PR-9",
                day=day,
                now=now,
                payment_type="Electronic",
                status=PaymentStatus.PROCESSING.value,
                gateway_state="Submitted",
            )
    with runtime.service_context(t) as ctx:
        rows = {
            p.id: p for p in ctx.session.scalars(select(Payment).where(Payment.id.in_(written)))
        }
    got = [
        (
            rows[i].account_id,
            rows[i].number,
            rows[i].amount_minor,
            rows[i].currency,
            rows[i].payment_method_id,
            rows[i].gateway_id,
            rows[i].comment,
            rows[i].attempt_key,
            rows[i].pending_invoice_id,
            rows[i].gateway_order_id,
            rows[i].effective_date,
            rows[i].attempt_source,
        )
        for i in written
    ]
    expected = [
        (*row, row[1], day, "PaymentRun PR-9")
        for columns in (shared, varied)
        for row in zip(*columns, strict=True)
    ]
    assert got == expected
    assert len(set(written)) == 6
