"""A BulkPayment chunk's CreditCard and ACH records: charged through the gateway, as one
Fusebill ``POST /v1/payments`` of such a payment is (``payments.card_collection``), in
charging's three phases (``payments.charging``), each in a unit of work of its own so no
write lock is held while the gateway answers:

1. begin: the records awaiting processing that no charge names yet are judged against
   the balances, customers and payment methods read now; those that pass become
   Processing payments (``begin_charges``, all in a few statements) and each record
   names its payment (``created_entity_id``) in the same commit; those that do not are
   FailedProcessing with their reason.
2. send: the gateway calls (a batching gateway takes them ``in_flight`` at a time).
3. finish: the answers are recorded (``finish_charges``: Processed and allocated, or
   Error), each record becomes Processed with its payment (a payment still pending at
   the gateway too: the reconciler settles it later) or FailedProcessing with the
   gateway's reason and no payment, and each attempt leaves its payment activity
   (Collect, or NSF for a decline for insufficient funds).

A worker that dies between 1 and 3 leaves records awaiting processing that name their
payments: the chunk's re-run charges none of them again (only records that name no
payment are begun), it records what their payments became by then. The job's counters
move in step 3 (and for refusals in step 1), so the chunk's own unit of work, which runs
after this for the recorded records, sees them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from billcycle.bulkjobs import payment_records as rules
from billcycle.bulkjobs import repository as repo
from billcycle.bulkjobs.statuses import BulkJobStatus, RecordStatus
from billcycle.context import ServiceContext
from billcycle.errors import Conflict
from billcycle.jobs.chunks import ClaimedChunk
from billcycle.ledger.models import EntrySource
from billcycle.money import from_minor
from billcycle.paymentmethods import repository as methods_repo
from billcycle.paymentmethods.models import PaymentMethod
from billcycle.payments import activity_repository, charging
from billcycle.payments import bulk as payments
from billcycle.payments import repository as payment_repo
from billcycle.payments.activity_statuses import AllocationOrder, MethodKind, PaymentSource
from billcycle.payments.allocation import spread
from billcycle.payments.card_collection import attempt_activity, method_text
from billcycle.payments.charging import ChargeOutcome, ChargeRequest
from billcycle.payments.inputs import InvoiceApplication
from billcycle.payments.statuses import SETTLED_STATUSES, PaymentStatus
from billcycle.runtime import Runtime

Record = dict[str, Any]


class ChargesTakenOver(Conflict):
    """Another worker charged some of this chunk's records meanwhile."""


def charge_records(
    runtime: Runtime,
    chunk: ClaimedChunk,
    rows: Sequence[tuple[int, Record]],
    *,
    in_flight: int,
) -> None:
    """Charge the chunk's CreditCard and ACH records ``rows`` (read awaiting processing;
    phases 1-3); record what became of charges a crashed attempt began."""
    tenant_id, job_id = chunk.tenant_id, chunk.parent_id
    with runtime.service_context(tenant_id) as ctx:
        job = repo.share_job(ctx.session, tenant_id, job_id)
        if job is None or job.status != BulkJobStatus.PROCESSING:
            return
        naming = repo.records_charging(ctx.session, [record_id for record_id, _ in rows])
        fresh = [(rid, body) for rid, body in rows if rid in naming and naming[rid] is None]
        resumed = [
            (rid, body, payment_id)
            for rid, body in rows
            if (payment_id := naming.get(rid)) is not None
        ]
        pending, begun = _begin(ctx, job_id, fresh)
    answers = charging.send_charges(runtime, tenant_id, pending, in_flight=in_flight)
    with runtime.service_context(tenant_id) as ctx:
        job = repo.share_job(ctx.session, tenant_id, job_id)
        outcomes = charging.finish_charges(ctx, answers) if answers else []
        results = [
            _Result(record_id, body, outcome, _minor(charge), charge.currency or "")
            for (record_id, body), charge, outcome in zip(begun, pending, outcomes, strict=True)
        ]
        # A job cancelled while the calls were out: the charges stand (payments and
        # activities are written), the records keep the cancel's outcome.
        running = job is not None and job.status == BulkJobStatus.PROCESSING
        _finish(ctx, chunk, results, resumed, records=running)


class _Result(NamedTuple):
    record_id: int
    body: Record
    outcome: ChargeOutcome
    amount_minor: int
    currency: str


def _minor(charge: charging.PendingCharge) -> int:
    return charge.request.amount_minor


def method_facts(ctx: ServiceContext, bodies: Sequence[Record]) -> rules.Methods:
    """The payment methods the charged records among ``bodies`` name, and their
    customers' defaults (for those that use them), as ``payment_records.judge`` reads."""
    charged = [b for b in bodies if rules.is_charged(b)]
    if not charged:
        return rules.Methods({}, {})
    session, tenant_id = ctx.session, ctx.tenant_id
    named = [b["paymentMethodId"] for b in charged if b.get("paymentMethodId") is not None]
    found = methods_repo.methods_by_id(session, tenant_id, named) if named else {}
    defaults = methods_repo.defaults_for_accounts(
        session,
        tenant_id,
        sorted({b["customerId"] for b in charged if b.get("paymentMethodId") is None}),
    )
    every = {**found, **{m.id: m for m in defaults.values()}}
    return rules.Methods(
        by_id={m.id: rules.Method(m.account_id, m.status, bool(m.token)) for m in every.values()},
        defaults={account_id: m.id for account_id, m in defaults.items()},
    )


def _begin(
    ctx: ServiceContext, job_id: int, fresh: Sequence[tuple[int, Record]]
) -> tuple[list[charging.PendingCharge], list[tuple[int, Record]]]:
    """Phase 1: judge, begin the charges of those that pass, name them on their records;
    fail the others. Returns the pending charges and their records, in step."""
    if not fresh:
        return [], []
    session, tenant_id = ctx.session, ctx.tenant_id
    customers = {
        account_id: rules.Customer(*facts)
        for account_id, facts in repo.customer_facts(
            session, tenant_id, [body["customerId"] for _, body in fresh]
        ).items()
    }
    known = method_facts(ctx, [body for _, body in fresh])
    named = [a["invoiceId"] for _, b in fresh for a in b.get("paymentAllocations", ())]
    invoices = {
        invoice_id: rules.Invoice(account_id, status, [invoice_id, balance])
        for invoice_id, (account_id, status, balance, _) in payments.invoice_facts(
            ctx, named
        ).items()
    }
    # One balance per invoice however it is allocated, spent record by record (as the
    # recorded records' processing does), so two records never promise one balance twice.
    auto = sorted({b["customerId"] for _, b in fresh if b.get("autoAllocate")})
    opened, _ = payments.open_invoices(ctx, auto) if auto else ({}, {})
    for open_ in opened.values():
        for position, cell in enumerate(open_):
            if cell[0] in invoices:
                open_[position] = invoices[cell[0]].cell
    failed: dict[str, list[int]] = {}
    requests: list[ChargeRequest] = []
    records: list[tuple[int, Record]] = []
    for record_id, body in fresh:
        verdict = rules.judge(body, customers, invoices, spend=True, methods=known)
        if isinstance(verdict, str):
            failed.setdefault(verdict, []).append(record_id)
            continue
        pieces = verdict.allocations
        if body.get("autoAllocate"):
            order = AllocationOrder(body.get("autoAllocateOrder", AllocationOrder.OLDEST_TO_NEWEST))
            pieces = tuple(spread(verdict.amount_minor, opened.get(body["customerId"], []), order))
        requests.append(_request(job_id, body, verdict, pieces))
        records.append((record_id, body))
    pending = charging.begin_charges(ctx, requests)
    begun: list[tuple[int, Record]] = []
    charges: list[charging.PendingCharge] = []
    for charge, (record_id, body) in zip(pending, records, strict=True):
        if charge.error is not None or charge.payment_id is None:
            reason = charge.error.render() if charge.error is not None else "Not charged."
            failed.setdefault(reason, []).append(record_id)
            continue
        charges.append(charge)
        begun.append((record_id, body))
    if not repo.name_charges(
        session,
        [(rid, c.payment_id or 0) for (rid, _), c in zip(begun, charges, strict=True)],
    ):
        raise ChargesTakenOver("Another worker charged these records meanwhile.")
    for reason, record_ids in failed.items():
        repo.set_status(session, record_ids, RecordStatus.FAILED_PROCESSING, reason)
    if failed:
        repo.add_counts(
            session,
            job_id,
            now=ctx.clock.now(),
            failed_processing=sum(len(ids) for ids in failed.values()),
        )
    return charges, begun


def _request(
    job_id: int, body: Record, verdict: rules.Judged, pieces: tuple[tuple[int, int], ...]
) -> ChargeRequest:
    assert verdict.method_id is not None
    return ChargeRequest(
        account_id=body["customerId"],
        amount_minor=verdict.amount_minor,
        invoices=tuple(
            InvoiceApplication(invoice_id, from_minor(minor, verdict.currency))
            for invoice_id, minor in pieces
        ),
        payment_method_id=verdict.method_id,
        source=EntrySource.FUSEBILL,
        attempt_source=f"Fusebill BulkPayment {job_id}",
    )


def _finish(
    ctx: ServiceContext,
    chunk: ClaimedChunk,
    results: list[_Result],
    resumed: Sequence[tuple[int, Record, int]],
    *,
    records: bool = True,
) -> None:
    """Phase 3: each attempt's activity, and (with ``records``) each record's result and
    the job's counters."""
    session, tenant_id = ctx.session, ctx.tenant_id
    if resumed:
        # A crashed attempt's charges: what their payments became by now.
        by_id = {
            p.id: p
            for p in payment_repo.payments_by_id(session, tenant_id, [p for *_, p in resumed])
        }
        for record_id, body, payment_id in resumed:
            payment = by_id.get(payment_id)
            if payment is None:
                continue  # cannot happen (payments are never removed): left awaiting
            status = PaymentStatus(payment.status)
            results.append(
                _Result(
                    record_id,
                    body,
                    ChargeOutcome(
                        request=ChargeRequest(
                            account_id=payment.account_id,
                            amount_minor=payment.amount_minor,
                            invoices=(),
                            payment_method_id=payment.payment_method_id,
                        ),
                        payment_id=payment_id,
                        payment_number=payment.number,
                        status=status,
                        succeeded=status in SETTLED_STATUSES,
                        pending=status == PaymentStatus.PROCESSING,
                        gateway_code=payment.gateway_response_code,
                        gateway_message=payment.gateway_response,
                    ),
                    payment.amount_minor,
                    payment.currency,
                )
            )
    methods = methods_repo.methods_by_id(
        session, tenant_id, [r.outcome.request.payment_method_id or 0 for r in results]
    )
    processed: list[tuple[int, int]] = []
    failed: dict[str, list[int]] = {}
    for result in results:
        outcome, body = result.outcome, result.body
        if outcome.payment_id is not None and (outcome.succeeded or outcome.pending):
            processed.append((result.record_id, outcome.payment_id))
        else:
            reason = outcome.gateway_message or outcome.gateway_code or "declined"
            failed.setdefault(f"The payment failed: {reason}", []).append(result.record_id)
        kind = MethodKind(body["paymentMethod"])
        method: PaymentMethod | None = methods.get(outcome.request.payment_method_id or 0)
        activity_repository.insert(
            session,
            attempt_activity(
                ctx,
                body["customerId"],
                outcome,
                source=body.get("source", PaymentSource.MANUAL),
                method_kind=kind.value,
                method=method_text(kind, method),
                amount_minor=result.amount_minor,
                currency=result.currency,
                reference=body.get("reference"),
            ),
        )
    if not records:
        return
    count = repo.set_processed(session, chunk.parent_id, chunk.first_id, chunk.last_id, processed)
    for reason, record_ids in failed.items():
        repo.fail_charged(session, record_ids, RecordStatus.FAILED_PROCESSING, reason)
    repo.add_counts(
        session,
        chunk.parent_id,
        now=ctx.clock.now(),
        processed=count,
        failed_processing=sum(len(ids) for ids in failed.values()),
    )
