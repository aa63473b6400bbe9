"""One chunk of a payment run: collect its accounts' open records.

First the chunk's records, unless written already (``take_chunk_records``: a run that
selects its receivables selects them chunk by chunk, ``selection``). Then the chunk runs
the charging contract's three phases (``payments.charging``), each in a unit of work of
its own, so no database write lock is held while gateways answer:

1. ``begin_chunk``: apply unapplied payments first (when the run's flags say so),
   decide each record (nothing left to collect, no or closed payment method, retry rule,
   a payment still Processing on the invoice), then ``begin_charges`` (Processing
   payments with their intended applications) and name each record's payment with a
   conditional UPDATE. Committed before any gateway is called.
2. ``send_charges``: the gateway calls, ``in_flight`` at a time.
3. ``finish_chunk``: ``finish_charges`` (Processed and applied, or Error) and each
   record's result, in one unit of work.

A worker that dies after phase 1 leaves records that name a Processing payment: a
re-run of the chunk does not charge them again (only records without a payment are
charged), it records the outcome their payment has by then; a payment whose gateway
answer was lost stays Processing until the reconciler asks the gateway with the same
attempt key. Records whose payment is settled later show its outcome when read.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.attributes import flag_modified, set_committed_value

from billcycle.bulkjobs.collector import no_cycle_collection
from billcycle.collections.policy import policies_for, retry_allowed
from billcycle.context import ServiceContext
from billcycle.db.engine import arm_write_turn
from billcycle.errors import Conflict
from billcycle.events.statuses import EventType
from billcycle.ledger.models import EntrySource
from billcycle.money import from_minor
from billcycle.paymentmethods import repository as methods_repo
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.paymentmethods.statuses import PaymentMethodStatus
from billcycle.paymentruns import ahead as ahead_
from billcycle.paymentruns import chunk_repository as chunk_repo
from billcycle.paymentruns import repository as repo
from billcycle.paymentruns import selection, setbased
from billcycle.paymentruns.models import PaymentRun, PaymentRunData
from billcycle.paymentruns.statuses import (
    DECLINED_CODE,
    DECLINED_MESSAGE,
    PaymentRunStatus,
    RecordError,
    RecordResult,
    TransactionType,
)
from billcycle.payments import activity_repository, charging
from billcycle.payments import service as payments
from billcycle.payments.applications import apply_payment
from billcycle.payments.charging import ChargeAnswer, ChargeRequest, PendingCharge
from billcycle.payments.inputs import InvoiceApplication
from billcycle.payments.statuses import SETTLED_STATUSES, PaymentStatus
from billcycle.payments.views import amounts_of
from billcycle.runtime import Runtime
from billcycle.webhooks import service as webhooks

log = logging.getLogger(__name__)


class ChunkTakenOver(Conflict):
    """Another worker charged this chunk's records meanwhile (our lease ran out)."""


@dataclass
class Counts:
    processed: int = 0
    failed: int = 0
    payments: int = 0
    unapplied: int = 0

    def add(self, other: Counts) -> None:
        self.processed += other.processed
        self.failed += other.failed
        self.payments += other.payments
        self.unapplied += other.unapplied


@dataclass
class Begun:
    """What phase 1 left for phases 2 and 3."""

    run_id: int
    pending: list[PendingCharge] = field(default_factory=list)
    # The records each pending charge collects (same order as ``pending``).
    groups: list[list[int]] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    resumed: list[int] = field(default_factory=list)
    # The set-based slice's charges as columns (``setbased``), each collecting the
    # record at the same place in ``run_slice.records``; None when there are none.
    run_slice: charging.RunSlice | None = None
    # The records' account range (first, last) the begin read.
    accounts: tuple[int, int] | None = None
    # ``finishing()``, told once (the begin is done by then, and nothing it names
    # changes): the read ahead asked in this slice's finish and the begin after it
    # compare the same object (``ahead.DecisionsAhead.take``).
    told: ahead_.Finishing | None = field(default=None, repr=False, compare=False)

    def finishing(self) -> ahead_.Finishing | None:
        """What finishing this slice may change of another slice's decision read
        (``ahead``); None without its account range. Asked once the begin is done."""
        if self.told is None:
            self.told = self._finishing()
        return self.told

    def _finishing(self) -> ahead_.Finishing | None:
        if self.accounts is None:
            return None
        invoices: set[int] = set()
        methods: set[int] = set()
        if self.run_slice is not None:
            invoices.update(self.run_slice.invoices)
            methods.update(self.run_slice.methods)
        for charge in self.pending:
            invoices.update(i.invoice_id for i in charge.request.invoices)
            if charge.payment_method_id is not None:
                methods.add(charge.payment_method_id)
        return ahead_.Finishing(
            self.accounts[0], self.accounts[1], frozenset(invoices), frozenset(methods)
        )


@dataclass
class Sent:
    """What phase 2 answered: the pending charges' answers (same order as
    ``Begun.pending``) and the run slice's, staged."""

    answers: list[ChargeAnswer] = field(default_factory=list)
    staged: charging.SliceAnswers | None = None


def _fail(record: PaymentRunData, code: str, message: str, now: datetime) -> None:
    flag_modified(record, "amount_to_collect_minor")  # decided, not yet written
    record.result = RecordResult.ERROR.value
    record.error_code = code[:100]
    record.error_message = message
    record.processed_at = now


def _done(record: PaymentRunData, now: datetime) -> None:
    flag_modified(record, "amount_to_collect_minor")  # decided, not yet written
    record.result = RecordResult.PROCESSED.value
    record.processed_at = now


def _attempt_source(run: PaymentRun) -> str:
    return f"PaymentRun {run.payment_run_number}"


def _apply_unapplied(
    ctx: ServiceContext, account_id: int, records: list[PaymentRunData], balances: dict[int, int]
) -> int:
    """Apply the account's settled payments' unapplied money to its records' invoices,
    oldest payment first, first record first; returns how many payments were used."""
    found = [
        p
        for p in payments.account_payments(ctx, account_id)
        if PaymentStatus(p.status) in SETTLED_STATUSES and p.deleted_at is None
    ]
    if not found:
        return 0
    amounts = amounts_of(ctx.session, found)
    used = 0
    for payment in sorted(found, key=lambda p: p.id):
        left = amounts[payment.id].unapplied_minor
        if left <= 0:
            continue
        applied_any = False
        for record in records:
            owed = min(balances.get(record.invoice_id, 0), _wanted(record, balances))
            take = min(owed, left)
            if take <= 0:
                continue
            apply_payment(
                ctx,
                payment.id,
                [InvoiceApplication(record.invoice_id, from_minor(take, payment.currency))],
                source=EntrySource.API,
            )
            balances[record.invoice_id] -= take
            left -= take
            applied_any = True
            record.amount_collected_minor += take
            record.transactions = [
                *(record.transactions or []),
                {
                    "id": payment.id,
                    "type": TransactionType.UNAPPLIED_PAYMENT.value,
                    "status": PaymentStatus(payment.status).value,
                    "amount": payment.amount_minor,
                    "applied": take,
                },
            ]
            if left <= 0:
                break
        used += int(applied_any)
    return used


def _wanted(record: PaymentRunData, balances: dict[int, int]) -> int:
    """What the record asks for in all: its amount, else the invoice's balance when the
    record was decided (``amount_to_collect_minor``), less what it already got."""
    target = record.amount_to_collect_minor
    if target is None:
        target = (
            record.amount_minor
            if record.amount_minor is not None
            else balances.get(record.invoice_id, 0)
        )
    return max(0, target - record.amount_collected_minor)


KeepLease = Callable[[ServiceContext], bool]


def begin_chunk(
    runtime: Runtime,
    tenant_id: int,
    run_id: int,
    first_account: int,
    last_account: int,
    keep_lease: KeepLease | None = None,
    ahead: setbased.ReadAhead | None = None,
    first: Callable[[ServiceContext], None] | None = None,
) -> Begun | None:
    """Phase 1, committed on return. None: the run is not Processing any more.
    ``keep_lease`` renews the chunk's lease in the same unit of work (False: the chunk
    is no longer ours, and nothing is charged). ``ahead``: the set-based decision read
    taken ahead, if it still holds (``paymentruns.ahead``); ``first``: called with the
    unit's context before anything is written (the next slice's read ahead)."""
    with runtime.service_context(tenant_id) as ctx:
        if first is not None:
            first(ctx)
        if keep_lease is not None and not keep_lease(ctx):
            raise ChunkTakenOver("The chunk's lease ran out before it was charged.")
        # A slice a dead worker left in flight here: its payments written Processing
        # first (whatever the run's status now), so its records resume them below.
        charging.recover_run_slices(ctx, run_id, first_account, last_account)
        run = repo.get_run(ctx.session, tenant_id, run_id)
        if run is None or run.status != PaymentRunStatus.PROCESSING:
            return None
        begun = Begun(run_id=run.id, accounts=(first_account, last_account))
        if runtime.settings.payment_run_set_based and setbased.eligible(run):
            setbased.begin(
                ctx, run, first_account, last_account, begun, _begin_records, ahead=ahead
            )
            return begun
        records = repo.open_records(ctx.session, tenant_id, run.id, first_account, last_account)
        fresh = [r for r in records if r.payment_id is None]
        begun.resumed = [r.id for r in records if r.payment_id is not None]
        if fresh:
            _begin_records(ctx, run, fresh, begun, ctx.clock.now())
        return begun


def _begin_records(
    ctx: ServiceContext,
    run: PaymentRun,
    fresh: list[PaymentRunData],
    into: Begun,
    now: datetime,
) -> None:
    """Phase 1 for ``fresh`` records (open, no payment yet), row by row: what every run
    did before the set-based chunk (``setbased``), and what it still does for the records
    and runs the set does not decide. Adds to ``into`` and to the run's progress."""
    tenant_id = ctx.tenant_id
    begun = Begun(run_id=run.id)
    # What is read from here on is the state the charges are written against.
    charging.hold_write_lock(ctx)
    # (account id, status, balance, invoice date) of each record's invoice
    invoice_facts = activity_repository.invoice_facts(
        ctx.session, tenant_id, [r.invoice_id for r in fresh]
    )
    balances = {invoice_id: facts[2] for invoice_id, facts in invoice_facts.items()}
    awaiting = charging.invoices_awaiting_settlement(ctx, [r.invoice_id for r in fresh])
    defaults = methods_repo.defaults_for_accounts(
        ctx.session, tenant_id, sorted({r.account_id for r in fresh})
    )
    explicit = {r.payment_method_id for r in fresh if r.payment_method_id is not None} - {
        m.id for m in defaults.values()
    }
    chosen: dict[int, PaymentMethod] = {m.id: m for m in defaults.values()}
    for method_id in explicit:
        found = methods_repo.get_method(ctx.session, tenant_id, method_id)
        if found is not None:
            chosen[found.id] = found
    policies = (
        {}
        if run.ignore_payment_run_retry_rule
        else policies_for(ctx, sorted({r.account_id for r in fresh}))
    )
    apply_credit = run.auto_apply_unapplied_payment or run.apply_credit_balance
    requests: list[ChargeRequest] = []
    groups: list[list[PaymentRunData]] = []
    for account_id, grouped in groupby(fresh, key=lambda r: r.account_id):
        mine = list(grouped)
        for record in mine:
            if record.invoice_id in awaiting:
                _fail(
                    record,
                    RecordError.PAYMENT_PENDING,
                    "The invoice has a payment still processing: it is collected again "
                    "only once that payment settles.",
                    now,
                )
                begun.counts.failed += 1
                continue
            # Written with the record's claim (or its result): not flushed on its own.
            set_committed_value(
                record,
                "amount_to_collect_minor",
                min(
                    record.amount_minor
                    if record.amount_minor is not None
                    else balances.get(record.invoice_id, 0),
                    balances.get(record.invoice_id, 0),
                ),
            )
        open_ = [r for r in mine if r.result is None]
        if apply_credit and open_:
            begun.counts.unapplied += _apply_unapplied(ctx, account_id, open_, balances)
        to_charge: list[PaymentRunData] = []
        for record in open_:
            left = _wanted(record, balances)
            if left <= 0:
                if record.amount_collected_minor > 0:
                    _done(record, now)
                    begun.counts.processed += 1
                else:
                    _fail(
                        record,
                        RecordError.NOTHING_TO_COLLECT,
                        "The invoice has no balance to collect.",
                        now,
                    )
                    begun.counts.failed += 1
                continue
            if not run.collect_payment:
                # Only credit was to be applied: what is left stays open.
                _done(record, now)
                begun.counts.processed += 1
                continue
            method = chosen.get(record.payment_method_id or 0) or defaults.get(account_id)
            refusal = _refusal(run, method, policies.get(account_id), ctx, now)
            if refusal is not None:
                _fail(record, refusal[0], refusal[1], now)
                begun.counts.failed += 1
                continue
            to_charge.append(record)
        for batch in _batches(run, to_charge):
            requests.append(_request(run, batch, balances))
            groups.append(batch)
    ctx.session.flush()
    pending = (
        charging.begin_charges(
            ctx,
            requests,
            defaults=defaults,
            # Read above; unchanged unless credit was applied since.
            invoices=None if begun.counts.unapplied else invoice_facts,
            created_events=webhooks.subscribed(ctx, EventType.PAYMENT_CREATED),
        )
        if requests
        else []
    )
    claims: list[tuple[int, int, int | None]] = []
    for charge, batch in zip(pending, groups, strict=True):
        if charge.error is not None or charge.payment_id is None:
            message = charge.error.render() if charge.error is not None else "Not charged."
            for record in batch:
                _fail(record, RecordError.CHARGE_REFUSED, message, now)
            begun.counts.failed += len(batch)
            continue
        claims.extend(
            (record.id, charge.payment_id, record.amount_to_collect_minor) for record in batch
        )
        begun.pending.append(charge)
        begun.groups.append([record.id for record in batch])
    ctx.session.flush()
    # Every record claimed by its payment in one statement, all or none.
    if not repo.claim_many(ctx.session, claims):
        raise ChunkTakenOver("Another worker collected these records meanwhile.")
    by_record = {record_id: payment_id for record_id, payment_id, _ in claims}
    for batch in groups:
        for record in batch:
            if record.id in by_record:
                set_committed_value(record, "payment_id", by_record[record.id])
    begun.counts.payments = len(begun.pending)
    repo.add_progress(
        ctx.session,
        run.id,
        processed=begun.counts.processed,
        failed=begun.counts.failed,
        payments=begun.counts.payments,
        unapplied=begun.counts.unapplied,
        now=now,
    )
    into.pending.extend(begun.pending)
    into.groups.extend(begun.groups)
    into.counts.add(begun.counts)


def _refusal(
    run: PaymentRun,
    method: PaymentMethod | None,
    policy: Any,
    ctx: ServiceContext,
    now: datetime,
) -> tuple[str, str] | None:
    if method is None:
        return RecordError.NO_PAYMENT_METHOD, "The account has no default payment method."
    if method.status != PaymentMethodStatus.ACTIVE and not run.process_payment_with_closed_pm:
        return (
            RecordError.PAYMENT_METHOD_CLOSED,
            f"The payment method is {method.status}: it is not charged "
            "(processPaymentWithClosedPM is false).",
        )
    if policy is not None and not retry_allowed(ctx, method, policy, now):
        return (
            RecordError.RETRY_RULE,
            "The payment method's retry rule does not allow another attempt yet "
            f"({method.num_consecutive_failures} consecutive failures).",
        )
    return None


def _batches(run: PaymentRun, records: list[PaymentRunData]) -> list[list[PaymentRunData]]:
    """One charge per record, or per (method, gateway) of an account when consolidated."""
    if not run.consolidated_payment:
        return [[record] for record in records]
    by_key: dict[tuple[int | None, int | None], list[PaymentRunData]] = {}
    for record in records:
        by_key.setdefault((record.payment_method_id, record.payment_gateway_id), []).append(record)
    return list(by_key.values())


def _request(
    run: PaymentRun, batch: list[PaymentRunData], balances: dict[int, int]
) -> ChargeRequest:
    first = batch[0]
    wanted = [(record, _wanted(record, balances)) for record in batch]
    return ChargeRequest(
        account_id=first.account_id,
        amount_minor=sum(amount for _, amount in wanted),
        invoices=tuple(
            InvoiceApplication(record.invoice_id, from_minor(amount, record.currency))
            for record, amount in wanted
        ),
        payment_method_id=first.payment_method_id,
        gateway_id=first.payment_gateway_id or run.payment_gateway_id,
        comment=first.comment if len(batch) == 1 else None,
        attempt_source=_attempt_source(run),
        allow_closed_method=run.process_payment_with_closed_pm,
    )


# Slices whose gateway calls may be out at once: the next slice's calls start while the
# last ones of the previous slice are still out, so ``in_flight`` stays full.
SLICES_OUT = 2
# Records a slice takes at least: each slice costs a fixed ~20 statements and two
# commits, so small slices (``2 * in_flight`` = 128) spent most of a payment run's time
# there (session 4's profile: 16 -> 10 s of CPU for 20,000 payments with slices of
# ~1,000). Session 9: 2,000, with chunks of 4,000 accounts (two slices a chunk, so the
# next slice is begun while one's calls are out): begin, send and finish each pay their
# statements and commit once a slice (20,000 payments: the worker's phases ~1.75 s at
# 1,000, ~1.55 s at 2,000, ~1.45 s at 4,000). Not 4,000: a slice's calls go out between
# two renewals of the chunk's lease (60 s); 2,000 calls at 64 in flight take ~31 s at 1 s
# a call, 4,000 would take longer than the lease. At 100 ms a call 2,000 take >= 3 s.
SLICE_RECORDS = 2000


def collect_pipelined(
    runtime: Runtime,
    tenant_id: int,
    run_id: int,
    first_account: int,
    last_account: int,
    keep_lease: KeepLease | None,
    *,
    in_flight: int,
    slice_records: int = SLICE_RECORDS,
    ahead: ahead_.DecisionsAhead | None = None,
) -> None:
    """Collect a chunk in slices of about ``max(2 * in_flight, slice_records)`` records,
    overlapped: while
    the calls of up to ``SLICES_OUT`` slices are out (phase 2, in threads of their own,
    together at most ``in_flight`` calls: ``charging.InFlightGate``), the oldest slice
    is finished and the next one begun (phases 3 and 1, each its own unit of work, as
    for a whole chunk). Each slice is committed before its calls go out, so a crash
    anywhere leaves what a crashed chunk leaves (see the module's note). The cyclic
    garbage collector is paused meanwhile, as over bulk jobs' chunks. SQLite: each
    slice's decision read is taken ahead while the slice before it is finished
    (``paymentruns.ahead``; ``ahead``: the reader to use, else one of the chunk's own)."""
    # A slice's tens of thousands of rows, tuples and lists hold no cycle, but set off
    # young collections that promote them and, every few slices, a full collection of the
    # worker's heap (~0.75 s of a 20,000-payment run's ~4 s of CPU).
    with no_cycle_collection():
        _collect_pipelined(
            runtime,
            tenant_id,
            run_id,
            first_account,
            last_account,
            keep_lease,
            in_flight,
            slice_records,
            ahead,
        )


def take_chunk_records(
    runtime: Runtime,
    tenant_id: int,
    run_id: int,
    first_account: int,
    last_account: int,
    keep_lease: KeepLease | None = None,
) -> int:
    """A chunk's first step, committed on return: its records selected and written
    (``selection.take_records``) and counted in the run's ``receivables_total``, in a
    unit of work that renews the chunk's lease before it writes (``keep_lease``; False:
    the chunk is no longer ours, nothing is written). Nothing is written, and the lease
    not renewed, when the run names its records or the chunk's were written already (a
    chunk re-run). Returns how many records it wrote."""
    with runtime.service_context(tenant_id) as ctx:
        run = repo.get_run(ctx.session, tenant_id, run_id)
        if run is None or not selection.to_take(ctx, run, first_account, last_account):
            return 0
        if keep_lease is not None and not keep_lease(ctx):
            raise ChunkTakenOver("The chunk's lease ran out before its records were taken.")
        taken = selection.take_records(ctx, run, first_account, last_account)
        if taken:
            # Last: it locks the run's row until this unit commits.
            repo.add_receivables(ctx.session, run_id, taken)
        return taken


def _collect_pipelined(
    runtime: Runtime,
    tenant_id: int,
    run_id: int,
    first_account: int,
    last_account: int,
    keep_lease: KeepLease | None,
    in_flight: int,
    slice_records: int,
    ahead: ahead_.DecisionsAhead | None = None,
) -> None:
    take_chunk_records(runtime, tenant_id, run_id, first_account, last_account, keep_lease)
    with runtime.service_context(tenant_id) as ctx:
        repo.refresh_planner_statistics(ctx.session)
        slices = repo.open_slices(
            ctx.session,
            tenant_id,
            run_id,
            first_account,
            last_account,
            max(2 * in_flight, slice_records),
        )
        run = repo.get_run(ctx.session, tenant_id, run_id)
        # The decision read's arguments of each slice, for the read ahead (the begin
        # compares them with its own, from the run it reads under the lock).
        decisions = (
            setbased.decision_args(run, 0, 0)
            if run is not None and runtime.settings.payment_run_set_based and setbased.eligible(run)
            else None
        )
    if not slices:
        # Nothing open: still renew and finish (records a crashed attempt left).
        slices = [(first_account, last_account)]
    sqlite = runtime.engine.dialect.name == "sqlite"
    if (
        not sqlite
        or decisions is None
        or len(slices) < 3
        or not runtime.settings.payment_run_read_ahead
    ):
        _pipeline(runtime, runtime, tenant_id, run_id, slices, keep_lease, in_flight, None, None)
        return
    # SQLite: the collecting thread's units of work on ONE connection for the chunk (the
    # read ahead's check, ``ahead``, compares its data_version between two of them).
    with runtime.engine.connect() as pinned:
        writer = copy.copy(runtime)
        writer.session_factory = sessionmaker(bind=pinned, expire_on_commit=False, autoflush=True)
        own = ahead is None
        reader = ahead if ahead is not None else ahead_.DecisionsAhead(runtime, tenant_id)
        try:
            _pipeline(
                writer, runtime, tenant_id, run_id, slices, keep_lease, in_flight, reader, decisions
            )
        finally:
            log.debug(
                "payment run %s: %d slices decided ahead, %d read again",
                run_id,
                reader.used,
                reader.read_again,
            )
            if own:
                reader.close()


# A finish renews the chunk's lease only when the last renewal is older than this: a
# begin renews it (and checks it is still ours) every slice, a finish only ignores the
# answer, and at 0 ms the slices come every ~0.1 s (the renewal's UPDATE was ~1% of
# the collecting thread). Far below any lease (``worker_lease_seconds``, 60 s): a
# finish after a long wait for its slice's calls still renews.
FINISH_RENEWS_AFTER_SECONDS = 1.0


class _Renewals:
    """The chunk's lease renewals in its pipeline: :meth:`check` is the begin's (always
    renews, and says whether the chunk is still ours), :meth:`renew` the finish's
    (renews only when the last renewal is ``FINISH_RENEWS_AFTER_SECONDS`` old)."""

    def __init__(self, keep_lease: KeepLease) -> None:
        self._keep_lease = keep_lease
        self._renewed: float | None = None

    def check(self, ctx: ServiceContext) -> bool:
        started = time.monotonic()
        ours = self._keep_lease(ctx)
        if ours:
            self._renewed = started
        return ours

    def renew(self, ctx: ServiceContext) -> bool:
        if (
            self._renewed is not None
            and time.monotonic() - self._renewed < FINISH_RENEWS_AFTER_SECONDS
        ):
            return True
        return self.check(ctx)


def _pipeline(
    writer: Runtime,
    runtime: Runtime,
    tenant_id: int,
    run_id: int,
    slices: list[tuple[int, int]],
    keep_lease: KeepLease | None,
    in_flight: int,
    ahead: ahead_.DecisionsAhead | None,
    decisions: dict[str, Any] | None,
) -> None:
    """The slices' phases: begin and finish by ``writer`` (this thread), the sends by
    ``runtime`` in threads of their own. With ``ahead`` (and ``decisions``, the slices'
    decision read arguments), each finish that a begin follows first asks for that
    begin's decision read ahead."""
    gate = charging.InFlightGate(in_flight)
    turn = _WriterTurn(runtime.engine.dialect.name == "sqlite")
    renewals = _Renewals(keep_lease) if keep_lease is not None else None
    checking, renewing = (renewals.check, renewals.renew) if renewals is not None else (None, None)
    out: deque[tuple[Begun, Future[Sent]]] = deque()
    # The unit of work that ran (or runs) since the read ahead was asked for: the next
    # begin takes the rows only if that unit could not have changed them.
    between: Begun | None = None

    def asking(
        then: tuple[int, int] | None, during: Begun | None = None
    ) -> Callable[[ServiceContext], None] | None:
        """The hook that asks for the read ahead of slice ``then`` (None: no read), in
        the finish of ``during`` (None: in a begin, whose charges are not known yet)."""
        if ahead is None or decisions is None or then is None:
            return None
        reader = ahead
        args = {**decisions, "first_account": then[0], "last_account": then[1]}
        between = during.finishing() if during is not None else None

        def ask(ctx: ServiceContext) -> None:
            reader.start(ctx.session, args, between)

        return ask

    def taking(by: Begun | None) -> setbased.ReadAhead | None:
        if ahead is None or by is None:
            return None
        reader, finishing = ahead, by.finishing()

        def take(session: Any, args: dict[str, Any]) -> setbased.Decisions | None:
            return reader.take(session, args, finishing)

        return take

    with nullcontext(_senders()) as sender:
        try:
            for index, (lo, hi) in enumerate(slices):
                then = slices[index + 1] if index + 1 < len(slices) else None
                with turn.held():
                    begun = begin_chunk(
                        writer,
                        tenant_id,
                        run_id,
                        lo,
                        hi,
                        checking,
                        taking(between),
                        first=asking(then) if index == 0 else None,
                    )
                if begun is None:
                    break  # cancelled or deleted meanwhile
                # The chunk's first begin runs while the second slice is read ahead.
                between = begun if index == 0 else None
                out.append(
                    (
                        begun,
                        sender.submit(
                            turn.armed, send_chunk, runtime, tenant_id, begun, in_flight, gate
                        ),
                    )
                )
                while len(out) >= SLICES_OUT:
                    oldest, sent = out[0]
                    answered = sent.result()
                    with turn.held():
                        finish_chunk(
                            writer,
                            tenant_id,
                            oldest,
                            answered,
                            renewing,
                            # One finish runs before the next begin: it asks for its read.
                            first=asking(then, oldest) if between is None else None,
                        )
                    # A second finish before the begin: no read ahead holds.
                    between = oldest if between is None else None
                    if between is None and ahead is not None:
                        ahead.discard()
                    out.popleft()
            while out:
                oldest, sent = out[0]
                answered = sent.result()
                with turn.held():
                    finish_chunk(writer, tenant_id, oldest, answered, renewing)
                out.popleft()
        except BaseException:
            # The calls already out are recorded, not left Processing for the reconciler
            # (a re-run of the chunk finds them settled); then the failure goes on.
            while out:
                oldest, sent = out.popleft()
                try:
                    answered = sent.result()
                    with turn.held():
                        finish_chunk(writer, tenant_id, oldest, answered, renewing)
                except Exception:
                    log.exception("payment run %s: finishing a slice after a failure", run_id)
            raise


# The process's send threads, shared by its pipelines (each has at most SLICES_OUT sends
# out, and waits for every one before it returns): started once rather than two a chunk
# (a thread's start waits until the new thread runs, which a busy machine delays:
# ~2-3% of the collecting thread's samples at 100,000 payments). More pipelines at
# once than it has room for only queue their sends behind the others'.
_SENDERS: ThreadPoolExecutor | None = None
_SENDERS_LOCK = threading.Lock()


def _senders() -> ThreadPoolExecutor:
    global _SENDERS
    with _SENDERS_LOCK:
        if _SENDERS is None:
            _SENDERS = ThreadPoolExecutor(
                max_workers=8 * SLICES_OUT, thread_name_prefix="payment-run-send"
            )
        return _SENDERS


# A send thread that waits longer than this for the chunk's turn writes without it
# (SQLite's own lock still keeps the writes apart; the turn only queues the chunk's).
TURN_WAIT_SECONDS = 1.0


class _WriterTurn:
    """SQLite: the chunk's threads queue here, in this process, for the database's one
    write lock, rather than in SQLite's busy handler, which polls it, sleeping up to
    100 ms between tries. The collecting thread begins and finishes slices back to
    back, each holding the lock from its start; a send thread's gateway book (its own
    short transaction) found the lock free only between them, by chance: in the
    profile (20,000 payments, chunks of ten slices) the send threads waited 2.6 s of a
    3.8 s run in the busy handler, and the collecting thread then waited on their
    answers. Now the collecting thread holds the turn over each begin and finish, and
    lets a send thread that waits for it go first (a lock is not fair: giving it back
    and taking it again, the collecting thread would win); a send thread takes it at
    its first write (``db.engine.arm_write_turn``: the statement listeners the web app
    registers on the engine, and every ``BEGIN IMMEDIATE``) and gives it back when its
    send returns, so the send's calls before that write run while the collecting
    thread writes. A send thread whose first write passes no listener, or that waits
    ``TURN_WAIT_SECONDS``, writes without the turn: SQLite's lock is what keeps the
    writes apart either way. PostgreSQL: no turn (rows are locked where written).
    The test gateway books its sales in a SQLite file of its own
    (``gateways.test_gateway.book_engine``): its send threads write nothing of
    billcycle's and never take the turn (in the 100,000-payment profile they had waited
    for it ~25% of their time, and the collecting thread for them ~10% of its)."""

    def __init__(self, sqlite: bool) -> None:
        self._sqlite = sqlite
        self._changed = threading.Condition()
        self._busy = False
        self._senders_waiting = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        if not self._sqlite:
            yield
            return
        with self._changed:
            self._changed.wait_for(lambda: not self._busy and not self._senders_waiting)
            self._busy = True
        try:
            yield
        finally:
            self._give_back()

    def armed(self, work: Callable[..., Sent], *args: Any) -> Sent:
        """``work(*args)`` in a send thread, taking the turn at its first write."""
        if not self._sqlite:
            return work(*args)
        taken: list[bool] = []

        def take() -> None:
            if taken:
                return
            with self._changed:
                self._senders_waiting += 1
                try:
                    got = self._changed.wait_for(lambda: not self._busy, TURN_WAIT_SECONDS)
                finally:
                    self._senders_waiting -= 1
                if got:
                    self._busy = True
                else:
                    self._changed.notify_all()
            taken.append(got)

        arm_write_turn(take)
        try:
            return work(*args)
        finally:
            arm_write_turn(None)
            if taken and taken[0]:
                self._give_back()

    def _give_back(self) -> None:
        with self._changed:
            self._busy = False
            self._changed.notify_all()


def send_chunk(
    runtime: Runtime,
    tenant_id: int,
    begun: Begun,
    in_flight: int,
    gate: charging.InFlightGate | None = None,
) -> Sent:
    """Phase 2: no unit of work of ours is open. ``gate``: shared with the chunk's other
    slices whose calls are out, so that together they keep ``in_flight`` calls out."""
    sent = Sent()
    if begun.run_slice is not None:
        sent.staged = charging.send_run_slice(
            runtime, tenant_id, begun.run_slice, in_flight=in_flight, gate=gate
        )
        # The finish's rows and their JSON built here, off the collecting thread.
        charging.prepare_run_slice_finish(begun.run_slice, sent.staged)
    if begun.pending:
        sent.answers = charging.send_charges(
            runtime, tenant_id, begun.pending, in_flight=in_flight, gate=gate
        )
    return sent


def finish_chunk(
    runtime: Runtime,
    tenant_id: int,
    begun: Begun,
    answers: Sent | Sequence[ChargeAnswer],
    keep_lease: KeepLease | None = None,
    first: Callable[[ServiceContext], None] | None = None,
) -> Counts:
    """Phase 3, committed on return (whoever holds the chunk by then: the outcomes are
    the gateway's and are recorded once): record the answers on their payments, then
    each record's result, and the results of records a crashed attempt left
    (``begun.resumed``) as far as their payments are settled. ``first``: called with
    the unit's context before anything is written (the next slice's read ahead)."""
    with runtime.service_context(tenant_id) as ctx:
        if first is not None:
            first(ctx)
        if keep_lease is not None:
            keep_lease(ctx)
        counts = _finish(ctx, begun, answers)
        repo.add_progress(
            ctx.session,
            begun.run_id,
            processed=counts.processed,
            failed=counts.failed,
            payments=0,
            unapplied=0,
            now=ctx.clock.now(),
        )
        return counts


def _finish(ctx: ServiceContext, begun: Begun, sent: Sent | Sequence[ChargeAnswer]) -> Counts:
    """Each record's result from its payment's status, read and written as plain rows:
    one SELECT of the records, one of their payments' statuses, one executemany of the
    results (no ORM object per record). The payments' outcome events only of the kinds
    an endpoint of the tenant subscribes to (a run writes one event per status change
    otherwise: docs/events.md)."""
    counts = Counts()
    if not isinstance(sent, Sent):
        sent = Sent(answers=list(sent))
    wanted = webhooks.subscribed_among(ctx, (EventType.PAYMENT_PROCESSED, EventType.PAYMENT_FAILED))
    recorded: dict[int, str] = {}
    if begun.run_slice is not None and sent.staged is not None:
        recorded = charging.finish_run_slice(
            ctx, begun.run_slice, sent.staged, outcome_events=wanted
        )
    answers = sent.answers
    outcomes = charging.finish_charges(ctx, answers, outcome_events=wanted) if answers else []
    by_payment = {o.payment_id: o for o in outcomes if o.payment_id is not None}
    ids = [i for group in begun.groups for i in group] + begun.resumed
    if begun.run_slice is not None:
        ids += _slice_results(begun.run_slice, recorded or {}, counts)
    if not ids:
        return counts
    now = ctx.clock.now()
    # The records whose payment settled and which had nothing collected before: their
    # results by one UPDATE from the payments (what the loop below writes for them).
    settled = chunk_repo.settle_records(ctx.session, ctx.tenant_id, ids, now)
    counts.processed += len(settled)
    ids = [i for i in ids if i not in settled]
    if not ids:
        return counts
    # Those whose payment failed (declines, errors), likewise from the payments.
    failed = chunk_repo.fail_records(
        ctx.session,
        ctx.tenant_id,
        ids,
        now,
        error=PaymentStatus.ERROR.value,
        declined=(DECLINED_CODE, DECLINED_MESSAGE),
    )
    counts.failed += len(failed)
    ids = [i for i in ids if i not in failed]
    if not ids:
        return counts
    records = repo.finishing_rows(ctx.session, ctx.tenant_id, ids)
    statuses = repo.payment_statuses(
        ctx.session, ctx.tenant_id, [r.payment_id for r in records if r.payment_id is not None]
    )
    results: list[dict[str, Any]] = []
    for record in records:
        if record.result is not None or record.payment_id is None:
            continue
        outcome = by_payment.get(record.payment_id)
        status, code, message = statuses.get(record.payment_id, (None, None, None))
        transactions = list(record.transactions or [])
        collected = record.amount_collected_minor
        if outcome is not None and outcome.error is not None and status is None:
            result = RecordResult.ERROR.value
            error: tuple[str | None, str | None] = (
                RecordError.CHARGE_REFUSED,
                outcome.error.render(),
            )
            counts.failed += 1
        elif status in SETTLED_STATUSES:
            to_collect = record.amount_to_collect_minor or 0
            collected += max(0, to_collect - record.amount_collected_minor)
            transactions.append(_payment_tx(record, status))
            result, error = RecordResult.PROCESSED.value, (None, None)
            counts.processed += 1
        elif status == PaymentStatus.ERROR:
            transactions.append(_payment_tx(record, status))
            result = RecordResult.ERROR.value
            error = (
                (outcome.gateway_code if outcome is not None else None) or code or DECLINED_CODE,
                (outcome.gateway_message if outcome is not None else None)
                or message
                or DECLINED_MESSAGE,
            )
            counts.failed += 1
        else:
            # Processing: the reconciler settles it; the record shows the payment's status.
            continue
        results.append(
            {
                "b_id": record.id,
                "result": result,
                "error_code": error[0][:100] if error[0] is not None else None,
                "error_message": error[1],
                "amount_collected_minor": collected,
                "transactions": transactions or None,
                "processed_at": now,
            }
        )
    repo.write_results(ctx.session, results)
    return counts


def _slice_results(
    run_slice: charging.RunSlice, recorded: dict[int, str], counts: Counts
) -> list[int]:
    """The set-based slice's records: those whose payment this finish recorded
    (``recorded``: its staged kind by payment id) are counted, and nothing is written
    for them: each names its payment (the claim), had nothing collected before and
    something to collect, so its result is its payment's, derived when read
    (``service.records``, ``repository.summary_totals``: Processed with the amount it
    was to collect, or Error with the gateway's words, exactly what
    ``chunk_repository.settle_records`` / ``fail_records`` would write; one still
    Processing shows that, as it always did). Returns the others (payments the
    reconciler settled meanwhile), for the finish below."""
    rest: list[int] = []
    for record_id, payment_id in zip(run_slice.records, run_slice.payment_ids, strict=True):
        kind = recorded.get(payment_id)
        if kind == "A":
            counts.processed += 1
        elif kind == "F":
            counts.failed += 1
        elif kind is None:
            rest.append(record_id)
    return rest


def _payment_tx(record: Any, status: str) -> dict[str, Any]:
    amount = max(0, (record.amount_to_collect_minor or 0) - _applied_before(record))
    return {
        "id": record.payment_id,
        "type": TransactionType.PAYMENT.value,
        "status": status,
        "amount": amount,
        "applied": amount if status in SETTLED_STATUSES else 0,
    }


def _applied_before(record: Any) -> int:
    return sum(
        int(t.get("applied", 0))
        for t in record.transactions or []
        if t.get("type") == TransactionType.UNAPPLIED_PAYMENT
    )
