"""A payment run's chunk, set-based: Python touches each payment only to decide it from
one row and to call its gateway; every write is a statement for the whole slice.

Phase 1 (:func:`begin`, one unit of work, committed before any gateway call):

1. ONE query reads the slice's open records with their invoice (account, status,
   balance), whether a Processing payment already intends to pay it, the account's
   default method and the account, and decides each (``chunk_repository.slice_rows``),
   under SQLite's write lock;
2. the decided records get the words and amounts ``collect.begin_chunk`` gives
   (PaymentPending, NothingToCollect, NoPaymentMethod, PaymentMethodClosed); the
   charged ones' columns are taken as the rows come (no Python a charge);
3. the charges, gathered as parallel columns (``payments.charging.RunSlice``: no object
   a charge), are written by ``payments.charging.begin_run_slice`` (numbers in one
   block, the payments by one ``INSERT ... SELECT``, each holding its intention on its
   row, ``payment.created`` by another only when an endpoint of the tenant subscribes
   to it), the records
   claimed by one statement, the decided ones' results by another.

A record of a rarer kind goes the row-by-row way (``collect._begin_records``) in the
same unit of work, after the set: an explicit payment method, money already collected
for it (a re-run after credit was applied), a method whose retry rule has to be asked, a
check the set does not make (a method without a token, an inactive or unknown gateway,
an invoice not Posted or of another account: the row-by-row path answers each its exact
error), or an invoice that two records of the slice collect. Runs that apply credit or
consolidate payments go that way whole (``eligible``).

Phase 2 sends the columns to a gateway with a column batch API in one call
(``charging.send_run_slice``; other gateways get them through the per-call path), and
phase 3 settles every answer as one staged set (``charging.finish_run_slice``) and
writes the records' results with one ``UPDATE ... FROM payments`` each for the settled
and the failed ones (``chunk_repository.settle_records`` / ``fail_records``); records
whose payment is still Processing keep the row-by-row finish.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billcycle.context import ServiceContext
from billcycle.errors import DomainError
from billcycle.events.statuses import EventType
from billcycle.gateways import service as gateways
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.paymentmethods.statuses import PaymentMethodStatus
from billcycle.paymentruns import chunk_repository as chunk_repo
from billcycle.paymentruns import repository as repo
from billcycle.paymentruns.models import PaymentRun, PaymentRunData
from billcycle.paymentruns.statuses import RecordError, RecordResult
from billcycle.payments import charging
from billcycle.payments import service as payments
from billcycle.webhooks import service as webhooks

# The row-by-row way for records the set does not decide (``collect._begin_records``):
# (ctx, run, records, begun, now), adding to ``begun`` and to the run's progress.
Fallback = Callable[[ServiceContext, PaymentRun, list[PaymentRunData], Any, datetime], None]

PENDING_MESSAGE = (
    "The invoice has a payment still processing: it is collected again only once that "
    "payment settles."
)


@dataclass(slots=True)
class Decisions:
    """A slice's decision rows (``chunk_repository.slice_rows``) sorted out for
    :func:`begin`: the resumed records' ids, the charged ones' thirteen columns (the
    rows' own, transposed; None: none charged) and the gateways they ask for, and the
    other rows. Pure Python on the rows: sorted out where they are read, in the read
    ahead's thread (``paymentruns.ahead``), not by the collecting thread, which holds
    SQLite's write lock meanwhile (and whose last reference to the rows would free
    them there too)."""

    count: int
    resumed: list[int]
    columns: list[list[Any]] | None
    gateways: set[int | None]
    others: list[Any]


def decisions_of(rows: list[Any]) -> Decisions:
    """:class:`Decisions` of the slice's decision ``rows``."""
    resumed = [int(r[0]) for r in rows if r[1] == "S"]
    charged = [r for r in rows if r[1] == "C"]
    others = [r for r in rows if r[1] not in _CHARGED_OR_RESUMED]
    columns = list(map(list, zip(*charged, strict=True))) if charged else None
    return Decisions(
        count=len(rows),
        resumed=resumed,
        columns=columns,
        gateways=set(columns[9]) if columns is not None else set(),
        others=others,
    )


# The decisions read ahead: (the unit's session, the read's arguments).
ReadAhead = Callable[[Any, dict[str, Any]], Decisions | None]


def decision_args(run: PaymentRun, first_account: int, last_account: int) -> dict[str, Any]:
    """The arguments of a slice's decision read (``chunk_repository.slice_rows``, after
    the session and tenant), the same whether it is read under the write lock or ahead
    (``paymentruns.ahead`` uses rows read ahead only for equal arguments)."""
    return {
        "run_id": run.id,
        "first_account": first_account,
        "last_account": last_account,
        "retry_rule": not run.ignore_payment_run_retry_rule,
        "closed_ok": run.process_payment_with_closed_pm,
        "run_gateway": run.payment_gateway_id,
        "comment_limit": payments.LIMITS["comment"],
        "statuses": (
            PaymentMethodStatus.ACTIVE.value,
            PaymentMethodStatus.CLOSED.value,
            InvoiceStatus.POSTED.value,
        ),
    }


def eligible(run: PaymentRun) -> bool:
    """Runs whose chunks go the set-based way: each record its own payment, no credit or
    unapplied payments applied first, money collected."""
    return (
        run.collect_payment
        and not run.consolidated_payment
        and not run.auto_apply_unapplied_payment
        and not run.apply_credit_balance
    )


class _Gateways:
    """The slice's gateways by id (None: the tenant's default), read once each."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.found: dict[int, Any] = {}

    def active(self, gateway_id: int | None) -> int | None:
        key = gateway_id or 0
        if key not in self.found:
            try:
                self.found[key] = (
                    gateways.get_gateway(self.ctx, gateway_id)
                    if gateway_id is not None
                    else gateways.get_default_gateway(self.ctx)
                )
            except DomainError:
                self.found[key] = None
        gateway = self.found[key]
        return int(gateway.id) if gateway is not None and gateway.is_active else None


def begin(
    ctx: ServiceContext,
    run: PaymentRun,
    first_account: int,
    last_account: int,
    begun: Any,
    fallback: Fallback,
    ahead: ReadAhead | None = None,
) -> None:
    """Phase 1 of a slice (see the module's note), into ``begun`` (``collect.Begun``);
    the caller's unit of work commits it. The database decides each record
    (``chunk_repository.slice_rows``); Python takes the charged ones' columns as they
    come (no object and no decision a charge) and words the others. ``ahead``: the
    decisions read ahead on another connection (``paymentruns.ahead``), given the
    arguments of the read and this unit's session under the write lock; None when they
    are not what this read would answer now (then it is read here)."""
    charging.hold_write_lock(ctx)
    closed_ok = run.process_payment_with_closed_pm
    args = decision_args(run, first_account, last_account)
    found = ahead(ctx.session, args) if ahead is not None else None
    if found is None:
        found = decisions_of(chunk_repo.slice_rows(ctx.session, ctx.tenant_id, **args))
    begun.resumed = found.resumed
    if len(begun.resumed) == found.count:
        return
    now = ctx.clock.now()
    charges = charging.RunSlice(
        attempt_source=f"PaymentRun {run.payment_run_number}", allow_closed_method=closed_ok
    )
    created_events = EventType.PAYMENT_CREATED in webhooks.subscribed_among(
        ctx, (EventType.PAYMENT_CREATED,)
    )
    decided: list[dict[str, Any]] = []
    rest: list[int] = []
    failed = processed = 0

    def fail(row: Any, code: str, message: str, to_collect: int | None) -> None:
        decided.append(
            {
                "b_id": int(row[0]),
                "result": RecordResult.ERROR.value,
                "error_code": code,
                "error_message": message,
                "amount_to_collect_minor": to_collect,
                "processed_at": now,
            }
        )

    for row in found.others:
        kind = row[1]
        if kind == "R":
            rest.append(int(row[0]))
            continue
        failed += 1
        if kind == "W":
            fail(row, RecordError.PAYMENT_PENDING, PENDING_MESSAGE, None)
        elif kind == "N":
            fail(
                row,
                RecordError.NOTHING_TO_COLLECT,
                "The invoice has no balance to collect.",
                int(row[2]),
            )
        elif kind == "M":
            fail(
                row,
                RecordError.NO_PAYMENT_METHOD,
                "The account has no default payment method.",
                int(row[2]),
            )
        else:  # X
            fail(
                row,
                RecordError.PAYMENT_METHOD_CLOSED,
                f"The payment method is {row[11]}: it is not charged "
                "(processPaymentWithClosedPM is false).",
                int(row[2]),
            )
    columns = found.columns
    if columns is not None:
        # The active gateway of each gateway asked for, once each; a charge whose
        # gateway is not active goes the row-by-row way (which words its error).
        found_gateways = _Gateways(ctx)
        active = {wanted: found_gateways.active(wanted) for wanted in found.gateways}
        if None in active.values():
            asked = columns[9]
            rest.extend(int(r) for r, w in zip(columns[0], asked, strict=True) if active[w] is None)
            kept = [i for i, w in enumerate(asked) if active[w] is not None]
            columns = [[column[i] for i in kept] for column in columns] if kept else None
    if columns is not None:
        (
            charges.records,
            _kinds,
            charges.amounts,
            charges.accounts,
            charges.invoices,
            charges.currencies,
            charges.methods,
            charges.tokens,
            charges.second_tokens,
            wanted,
            charges.comments,
            _statuses,
            charges.due_dates,
        ) = columns
        if len(active) == 1:
            charges.gateways = [next(iter(active.values()))] * len(wanted)  # type: ignore[list-item]
        else:
            charges.gateways = [active[w] for w in wanted]  # type: ignore[misc]
    refused = charging.begin_run_slice(
        ctx,
        charges,
        created_events=created_events,
        in_flight=(run.id, first_account, last_account),
    )
    for record_id, to_collect, error in refused:
        decided.append(
            {
                "b_id": record_id,
                "result": RecordResult.ERROR.value,
                "error_code": RecordError.CHARGE_REFUSED.value,
                "error_message": error.render(),
                "amount_to_collect_minor": to_collect,
                "processed_at": now,
            }
        )
    failed += len(refused)
    claimed = len(charges)
    if claimed:
        begun.run_slice = charges
    chunk_repo.write_decided(ctx.session, decided)
    if claimed and not repo.claim_columns(
        ctx.session, charges.records, charges.payment_ids, charges.amounts
    ):
        from billcycle.paymentruns.collect import ChunkTakenOver

        raise ChunkTakenOver("Another worker collected these records meanwhile.")
    begun.counts.failed += failed
    begun.counts.processed += processed
    begun.counts.payments += claimed
    repo.add_progress(
        ctx.session,
        run.id,
        processed=processed,
        failed=failed,
        payments=claimed,
        unapplied=0,
        now=now,
    )
    if rest:
        fallback(ctx, run, repo.records_by_id(ctx.session, ctx.tenant_id, rest), begun, now)


_CHARGED_OR_RESUMED = frozenset({"C", "S"})
