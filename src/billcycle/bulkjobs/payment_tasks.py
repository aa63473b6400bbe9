"""The BulkPayment machinery that runs in workers: validating records and processing them
(recording payments), chunk by chunk on the job layer, as BulkWriteOff's (``tasks``).

A chunk reads its records, its customers and its invoices in a few queries, judges the
records in Python (``payment_records.judge``: a payment's rules need its currency and
allocations, which no single SQL statement judges well), and writes its outcome in a few
set-based statements: failures grouped by reason, passes in one UPDATE, and when
processing, every payment with its ledger entries and activity in three bulk inserts
(``payments.bulk.record_payments``). The job's lock, counters, cancel and give-up rules
are BulkWriteOff's exactly.
"""

from __future__ import annotations

from datetime import date
from json import loads
from typing import Any

from billcycle.bulkjobs import payment_charges as charges
from billcycle.bulkjobs import payment_records as rules
from billcycle.bulkjobs import payment_sets, payment_sql_repository, tasks
from billcycle.bulkjobs import repository as repo
from billcycle.bulkjobs.collector import no_cycle_collection
from billcycle.bulkjobs.statuses import BulkJobStatus, RecordStatus
from billcycle.context import ServiceContext
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.jobs.chunks import ClaimedChunk
from billcycle.jobs.registry import chunk_handler
from billcycle.jobs.runner import JobRunner
from billcycle.payments import bulk as payments
from billcycle.payments.activity_statuses import AllocationOrder, PaymentSource
from billcycle.payments.allocation import spread
from billcycle.webhooks import service as webhooks

Record = dict[str, Any]  # a stored record (``payment_records.encode``), parsed

# Jobs whose processing has refreshed the planner's statistics of ``invoices`` in this
# process (SQLite; ``payment_sql_repository.refresh_invoice_statistics``): once a job is
# enough, the invoices do not change in number while it runs.
_ANALYSED: set[int] = set()
_ANALYSED_AT_MOST = 1_000


def _refresh_statistics_once(ctx: ServiceContext, job_id: int) -> None:
    if job_id in _ANALYSED:
        return
    payment_sql_repository.refresh_invoice_statistics(ctx.session)
    if len(_ANALYSED) >= _ANALYSED_AT_MOST:
        _ANALYSED.clear()
    _ANALYSED.add(job_id)


def _parse(rows: list[tuple[int, str]]) -> list[Record]:
    """The records' stored JSON, parsed in ONE call (a chunk's thousands of small
    documents joined into one array: no decoder call per record; about half the CPU of
    a ``loads`` a record), with the cyclic garbage collector off meanwhile: the parse
    allocates tens of thousands of dicts and lists, which set off collections of the
    worker's whole heap (~10-15% of the parse with a million live objects), and what it
    builds holds no cycle."""
    if not rows:
        return []
    text = "[" + ",".join([data for _, data in rows]) + "]"
    with no_cycle_collection():
        parsed: list[Record] = loads(text)
    return parsed


def _customers(ctx: ServiceContext, records: list[Record]) -> dict[int, rules.Customer]:
    found = repo.customer_facts(ctx.session, ctx.tenant_id, [r["customerId"] for r in records])
    return {account_id: rules.Customer(*facts) for account_id, facts in found.items()}


def _named(records: list[Record]) -> list[int]:
    return [a["invoiceId"] for r in records for a in r.get("paymentAllocations", ())]


def _invoices(
    ctx: ServiceContext, records: list[Record]
) -> tuple[dict[int, rules.Invoice], dict[int, date]]:
    """The invoices the records name, and their dates."""
    invoices: dict[int, rules.Invoice] = {}
    dates: dict[int, date] = {}
    for invoice_id, (account_id, status, balance, invoice_date) in payments.invoice_facts(
        ctx, _named(records)
    ).items():
        invoices[invoice_id] = rules.Invoice(account_id, status, [invoice_id, balance])
        dates[invoice_id] = invoice_date
    return invoices, dates


def _fail(ctx: ServiceContext, failed: dict[str, list[int]], status: RecordStatus) -> int:
    for reason, record_ids in failed.items():
        repo.set_status(ctx.session, record_ids, status, reason)
    return sum(len(ids) for ids in failed.values())


class ValidatePaymentChunk:
    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None:
        tasks._let_writers_in(ctx)
        session = ctx.session
        repo.plan_chunk_as_lookups(session)
        payment_sql_repository.defer_checkpoints(session)
        job = repo.share_job(session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != BulkJobStatus.VALIDATING:
            return  # cancelled meanwhile: the chunk was cancelled too and rolls back
        job_id, first, last = chunk.parent_id, chunk.first_id, chunk.last_id
        # What SQL proves good passes set-based; the rest (failures, cards, amounts SQL
        # does not read) is judged by the Python rules, whose messages the records show.
        passed = payment_sql_repository.pass_good(session, chunk.tenant_id, job_id, first, last)
        failures = 0
        rows = repo.records_with_data(session, job_id, first, last, RecordStatus.PENDING)
        if rows:
            records = _parse(rows)
            customers = _customers(ctx, records)
            invoices, _ = _invoices(ctx, records)
            methods = charges.method_facts(ctx, records)
            failed: dict[str, list[int]] = {}
            for (record_id, _), record in zip(rows, records, strict=True):
                verdict = rules.judge(record, customers, invoices, spend=False, methods=methods)
                if isinstance(verdict, str):
                    failed.setdefault(verdict, []).append(record_id)
            failures = _fail(ctx, failed, RecordStatus.FAILED_VALIDATION)
            passed += repo.pass_pending(session, job_id, first, last)
        counts = repo.add_counts(
            session, job_id, now=ctx.clock.now(), passed=passed, failed=failures
        )
        tasks._after_validation(ctx, job_id, counts)

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        tasks.ValidateChunk().give_up(runner, ctx, chunk, error)


class ProcessPaymentChunk:
    def process(self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk) -> None:
        session = ctx.session
        repo.plan_chunk_as_lookups(session)
        payment_sql_repository.defer_checkpoints(session)
        job_id, first, last = chunk.parent_id, chunk.first_id, chunk.last_id
        _refresh_statistics_once(ctx, job_id)
        if payment_sets.in_sql(ctx):
            # A chunk that charges goes the Python way holding no lock (its charges
            # commit in units of work of their own); any other takes the write lock and
            # is recorded by SQL when it still fits (else the Python rules judge it).
            if not payment_sets.charges_any(ctx, job_id, first, last) and self._record_in_sql(
                ctx, chunk
            ):
                return
        else:
            with no_cycle_collection():
                simple = payment_sets.shape(ctx, job_id, first, last)
            if simple is not None and self._record_set_based(ctx, chunk, simple):
                return
        rows = repo.records_with_data(session, job_id, first, last, RecordStatus.PASSED_VALIDATION)
        records = _parse(rows)
        charged: list[tuple[int, Record]] = []
        recorded: list[tuple[int, Record]] = []
        for (record_id, _), record in zip(rows, records, strict=True):
            (charged if rules.is_charged(record) else recorded).append((record_id, record))
        if charged:
            # CreditCard and ACH records first, in units of work of their own (this one
            # has only read, and holds no lock), so no write lock is held while gateways
            # answer; below they are skipped.
            charges.charge_records(
                runner.runtime,
                chunk,
                charged,
                in_flight=runner.runtime.settings.payment_run_in_flight,
            )
        tasks._let_writers_in(ctx)
        job = repo.share_job(session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != BulkJobStatus.PROCESSING:
            return  # cancelled meanwhile: the chunk was cancelled too and rolls back
        customers = _customers(ctx, records)
        # Lock every invoice the chunk may pay (named ones, and the open invoices of the
        # customers that auto-allocate), then read their balances under the locks.
        auto = sorted({r["customerId"] for r in records if r.get("autoAllocate")})
        opened, _ = payments.open_invoices(ctx, auto) if auto else ({}, {})
        named = set(_named(records))
        payments.lock_invoices(
            ctx, sorted(named | {i[0] for open_ in opened.values() for i in open_})
        )
        invoices, dates = _invoices(ctx, records)
        if auto:
            opened, open_dates = payments.open_invoices(ctx, auto)
            dates.update(open_dates)
        for open_ in opened.values():  # one balance per invoice, however it is allocated
            for position, cell in enumerate(open_):
                if cell[0] in invoices:
                    open_[position] = invoices[cell[0]].cell
        planned: list[payments.PlannedPayment] = []
        record_ids: list[int] = []
        failed: dict[str, list[int]] = {}
        # Charged records were handled above (one whose charge is out stays for the
        # re-run); the recorded ones are judged against the balances spent so far.
        judge, manual = rules.judge, PaymentSource.MANUAL
        for record_id, record in recorded:
            verdict = judge(record, customers, invoices, spend=True)
            if isinstance(verdict, str):
                failed.setdefault(verdict, []).append(record_id)
                continue
            pieces = verdict.allocations
            if record.get("autoAllocate"):
                pieces = tuple(
                    spread(
                        verdict.amount_minor,
                        opened.get(record["customerId"], []),
                        AllocationOrder(
                            record.get("autoAllocateOrder", AllocationOrder.OLDEST_TO_NEWEST)
                        ),
                    )
                )
            planned.append(
                payments.PlannedPayment(
                    record["customerId"],
                    verdict.amount_minor,
                    verdict.currency,
                    record["paymentMethod"],
                    record.get("source", manual),
                    record.get("reference"),
                    tuple([(invoice_id, minor, dates[invoice_id]) for invoice_id, minor in pieces]),
                )
            )
            record_ids.append(record_id)
        created = payments.record_payments(ctx, planned)
        if created and webhooks.subscribed(ctx, EventType.PAYMENT_CREATED):
            # Per-payment events only for a subscribing tenant, set-based with the chunk.
            events.emit_payments_created(ctx, created, bulk_job_id=job_id)
        processed = repo.set_processed(
            session, job_id, first, last, list(zip(record_ids, created, strict=True))
        )
        failures = _fail(ctx, failed, RecordStatus.FAILED_PROCESSING)
        counts = repo.add_counts(
            session,
            job_id,
            now=ctx.clock.now(),
            processed=processed,
            failed_processing=failures,
        )
        tasks._after_processing(ctx, job_id, counts)

    @staticmethod
    def _record_in_sql(ctx: ServiceContext, chunk: ClaimedChunk) -> bool:
        """SQLite: the chunk recorded by SQL alone (``payment_sets.record_in_sql``) when
        every record is of the shape it records and still fits its invoices; False
        (nothing written) otherwise, and the Python path judges record by record."""
        tasks._let_writers_in(ctx)
        job = repo.share_job(ctx.session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != BulkJobStatus.PROCESSING:
            return True  # cancelled meanwhile: the chunk was cancelled too and rolls back
        job_id, first, last = chunk.parent_id, chunk.first_id, chunk.last_id
        recorded = payment_sets.record_in_sql(ctx, job_id, first, last)
        if recorded is None:
            return False
        record_ids, created = recorded
        if created and webhooks.subscribed(ctx, EventType.PAYMENT_CREATED):
            events.emit_payments_created(ctx, created, bulk_job_id=job_id)
        processed = repo.set_processed(
            ctx.session, job_id, first, last, list(zip(record_ids, created, strict=True))
        )
        counts = repo.add_counts(ctx.session, job_id, now=ctx.clock.now(), processed=processed)
        tasks._after_processing(ctx, job_id, counts)
        return True

    @staticmethod
    def _record_set_based(
        ctx: ServiceContext, chunk: ClaimedChunk, simple: payment_sets.Shape
    ) -> bool:
        """A chunk of recorded payments with named allocations (or none), all of which
        still fit their invoices: recorded set-based in SQL (``payment_sets.record``).
        False (nothing written) when an allocation no longer fits: the Python path then
        judges record by record which fail."""
        tasks._let_writers_in(ctx)
        job = repo.share_job(ctx.session, chunk.tenant_id, chunk.parent_id)
        if job is None or job.status != BulkJobStatus.PROCESSING:
            return True  # cancelled meanwhile: the chunk was cancelled too and rolls back
        with no_cycle_collection():
            created = payment_sets.record(ctx, simple)
            if created is None:
                return False
            job_id, first, last = chunk.parent_id, chunk.first_id, chunk.last_id
            if created and webhooks.subscribed(ctx, EventType.PAYMENT_CREATED):
                events.emit_payments_created(ctx, created, bulk_job_id=job_id)
            processed = repo.set_processed(
                ctx.session,
                job_id,
                first,
                last,
                list(zip(simple.record_ids, created, strict=True)),
            )
        counts = repo.add_counts(ctx.session, job_id, now=ctx.clock.now(), processed=processed)
        tasks._after_processing(ctx, job_id, counts)
        return True

    def give_up(
        self, runner: JobRunner, ctx: ServiceContext, chunk: ClaimedChunk, error: str
    ) -> None:
        tasks.ProcessChunk().give_up(runner, ctx, chunk, error)


chunk_handler(tasks.PAYMENT_VALIDATE, ValidatePaymentChunk())
chunk_handler(tasks.PAYMENT_PROCESS, ProcessPaymentChunk())
