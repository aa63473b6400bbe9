"""A payment run's chunk, set-based: Python touches each payment only to decide it from
one row and to call its gateway; every write is a statement for the whole slice.

Phase 1 (:func:`begin`, one unit of work, committed before any gateway call):

1. ONE query reads the slice's open records with their invoice (account, status,
   balance), whether a Processing payment already intends to pay it, the account's
   default method and the account (``chunk_repository.open_rows``), under SQLite's
   write lock;
2. each record is decided from its row, with the words and amounts
   ``collect.begin_chunk`` gives (PaymentPending, NothingToCollect, NoPaymentMethod,
   PaymentMethodClosed), or charged;
3. the charges, gathered as parallel columns (``payments.charging.RunSlice``: no object
   a charge), are written by ``payments.charging.begin_run_slice`` (numbers in one
   block, payments and intentions by one ``INSERT ... SELECT`` each, ``payment.created``
   by another only when an endpoint of the tenant subscribes to it), the records
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

from collections import Counter
from collections.abc import Callable
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
) -> None:
    """Phase 1 of a slice (see the module's note), into ``begun`` (``collect.Begun``);
    the caller's unit of work commits it."""
    charging.hold_write_lock(ctx)
    rows = chunk_repo.open_rows(ctx.session, ctx.tenant_id, run.id, first_account, last_account)
    begun.resumed = [int(r.id) for r in rows if r.payment_id is not None]
    fresh = [r for r in rows if r.payment_id is None]
    if not fresh:
        return
    now = ctx.clock.now()
    per_invoice = Counter(int(r.invoice_id) for r in fresh)
    comment_limit = payments.LIMITS["comment"]
    closed_ok = run.process_payment_with_closed_pm
    found_gateways = _Gateways(ctx)
    active: dict[Any, Any] = {}  # the gateway asked for -> the active one's id, or None
    charges = charging.RunSlice(
        attempt_source=f"PaymentRun {run.payment_run_number}", allow_closed_method=closed_ok
    )
    created_events = webhooks.subscribed(ctx, EventType.PAYMENT_CREATED)
    decided: list[dict[str, Any]] = []
    rest: list[int] = []
    failed = processed = 0

    def fail(row: Any, code: str, message: str, to_collect: int | None) -> None:
        decided.append(
            {
                "b_id": int(row.id),
                "result": RecordResult.ERROR.value,
                "error_code": code,
                "error_message": message,
                "amount_to_collect_minor": to_collect,
                "processed_at": now,
            }
        )

    for row in fresh:
        if (
            row.payment_method_id is not None
            or row.amount_collected_minor
            or not row.fresh_tx
            or per_invoice[int(row.invoice_id)] > 1
        ):
            rest.append(int(row.id))
            continue
        if row.awaiting:
            fail(row, RecordError.PAYMENT_PENDING, PENDING_MESSAGE, None)
            failed += 1
            continue
        balance = int(row.balance) if row.balance is not None else 0
        asked = int(row.amount_minor) if row.amount_minor is not None else balance
        to_collect = min(asked, balance)
        if to_collect <= 0:
            fail(
                row,
                RecordError.NOTHING_TO_COLLECT,
                "The invoice has no balance to collect.",
                to_collect,
            )
            failed += 1
            continue
        if row.method_id is None:
            fail(
                row,
                RecordError.NO_PAYMENT_METHOD,
                "The account has no default payment method.",
                to_collect,
            )
            failed += 1
            continue
        status = row.method_status
        if status != PaymentMethodStatus.ACTIVE and not closed_ok:
            fail(
                row,
                RecordError.PAYMENT_METHOD_CLOSED,
                f"The payment method is {status}: it is not charged "
                "(processPaymentWithClosedPM is false).",
                to_collect,
            )
            failed += 1
            continue
        retry_unknown = not run.ignore_payment_run_retry_rule and (
            row.num_consecutive_failures or not row.never_failed
        )
        chargeable = status == PaymentMethodStatus.ACTIVE or (
            closed_ok and status == PaymentMethodStatus.CLOSED
        )
        gateway_id = None
        if chargeable and row.token:
            wanted = (
                row.payment_gateway_id
                or run.payment_gateway_id
                or row.method_gateway
                or row.account_gateway
            )
            gateway_id = active.get(wanted, active)
            if gateway_id is active:
                gateway_id = active[wanted] = found_gateways.active(wanted)
        if (
            retry_unknown
            or gateway_id is None
            or row.invoice_status != InvoiceStatus.POSTED
            or row.invoice_account != row.account_id
            or (row.comment is not None and len(row.comment) > comment_limit)
        ):
            # A retry rule to ask, or an error the row-by-row path words exactly.
            rest.append(int(row.id))
            continue
        charges.records.append(int(row.id))
        charges.accounts.append(int(row.account_id))
        charges.invoices.append(int(row.invoice_id))
        charges.amounts.append(to_collect)
        charges.currencies.append(str(row.account_currency))
        charges.methods.append(int(row.method_id))
        charges.tokens.append(str(row.token))
        charges.second_tokens.append(row.second_token)
        charges.gateways.append(gateway_id)
        charges.comments.append(row.comment)
    refused = charging.begin_run_slice(ctx, charges, created_events=created_events)
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
    claims = list(zip(charges.records, charges.payment_ids, charges.amounts, strict=True))
    if claims:
        begun.run_slice = charges
    chunk_repo.write_decided(ctx.session, decided)
    if not repo.claim_many(ctx.session, claims):
        from billcycle.paymentruns.collect import ChunkTakenOver

        raise ChunkTakenOver("Another worker collected these records meanwhile.")
    begun.counts.failed += failed
    begun.counts.processed += processed
    begun.counts.payments += len(claims)
    repo.add_progress(
        ctx.session,
        run.id,
        processed=processed,
        failed=failed,
        payments=len(claims),
        unapplied=0,
        now=now,
    )
    if rest:
        fallback(ctx, run, repo.records_by_id(ctx.session, ctx.tenant_id, rest), begun, now)
