"""Payment runs as clients see them: create (run now or at ``runDate``), read, list,
update (Pending only), cancel (Pending only; the CLI), delete (Canceled or Error only),
and the summary and per-record results.

Transitions are decided under the run's row lock and applied with a conditional UPDATE,
so two concurrent calls cannot both win; the work is enqueued only after the creating
transaction commits. A run's explicit ``data[]`` records are checked and stored when it
is created, so bad input is refused at once and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from billcycle.access import labels as org_labels
from billcycle.accounts import repository as accounts_repo
from billcycle.billruns import repository as billruns_repo
from billcycle.context import ServiceContext
from billcycle.errors import InvalidValue, NotFound, OverLimit, RuleViolation
from billcycle.events import service as events
from billcycle.events.statuses import EventType
from billcycle.gateways import repository as gateways_repo
from billcycle.invoicing.statuses import InvoiceStatus
from billcycle.ledger import service as ledger
from billcycle.money import from_minor, normalize_currency, to_minor
from billcycle.paymentruns import data_repository as data_repo
from billcycle.paymentruns import repository as repo
from billcycle.paymentruns.models import PaymentRun, PaymentRunData
from billcycle.paymentruns.spec import (
    MAX_DATA_RECORDS,
    DataRecord,
    Filters,
    Flags,
    PaymentRunPatch,
    PaymentRunSpec,
)
from billcycle.paymentruns.statuses import (
    DECLINED_CODE,
    DECLINED_MESSAGE,
    PaymentRunStatus,
    RecordResult,
)
from billcycle.paymentruns.transitions import transition
from billcycle.payments.statuses import SETTLED_STATUSES, PaymentStatus
from billcycle.tenancy.numbers import next_number

RESOURCE = "payment_run"


def _rule(message: str, field: str | None = None) -> RuleViolation:
    return RuleViolation(message, resource=RESOURCE, field=field)


def _invalid(message: str, field: str | None = None) -> InvalidValue:
    return InvalidValue(message, resource=RESOURCE, field=field)


# -- reads -----------------------------------------------------------------------------------


def find_payment_run(ctx: ServiceContext, key: int | str) -> PaymentRun:
    """By id (an int) or number (PR-00000001); another tenant's run is not found."""
    run = (
        repo.get_run(ctx.session, ctx.tenant_id, key)
        if isinstance(key, int)
        else repo.find_run_by_number(ctx.session, ctx.tenant_id, key)
    )
    if run is None:
        if isinstance(key, int):
            raise NotFound(
                "Payment run {payment_run} not found.", resource=RESOURCE, ids={"payment_run": key}
            )
        raise NotFound(f"Payment run {key} not found.", resource=RESOURCE)
    return run


def list_payment_runs(
    ctx: ServiceContext, filters: repo.RunFilters, offset: int, limit: int
) -> tuple[list[PaymentRun], bool]:
    return repo.list_runs(ctx.session, ctx.tenant_id, filters, offset, limit)


def spec_of(run: PaymentRun) -> PaymentRunSpec:
    """A stored run's request (without its data[] records, which stay in their table)."""
    return PaymentRunSpec(
        target_date=run.target_date,
        run_date=run.run_date,
        filters=Filters(
            account_id=run.account_id,
            batch=run.batch,
            bill_cycle_day=run.bill_cycle_day,
            billing_run_id=run.billing_run_id,
            currency=run.currency,
            payment_gateway_id=run.payment_gateway_id,
        ),
        flags=Flags(
            auto_apply_credit_memo=run.auto_apply_credit_memo,
            auto_apply_unapplied_payment=run.auto_apply_unapplied_payment,
            apply_credit_balance=run.apply_credit_balance,
            collect_payment=run.collect_payment,
            consolidated_payment=run.consolidated_payment,
            process_payment_with_closed_pm=run.process_payment_with_closed_pm,
            ignore_payment_run_retry_rule=run.ignore_payment_run_retry_rule,
        ),
        organization_labels=tuple(run.organization_labels or ()),
    )


# -- checking a spec ------------------------------------------------------------------------


def _hour(moment: datetime) -> datetime:
    """Zuora ignores a runDate's minutes and seconds."""
    return moment.replace(minute=0, second=0, microsecond=0)


def _check(
    ctx: ServiceContext, spec: PaymentRunSpec, *, updating: bool, stored_data: bool = False
) -> PaymentRunSpec:
    filters = spec.filters
    has_data = bool(spec.data) or stored_data
    if filters.account_id is not None and filters.others:
        names = ", ".join(sorted(filters.others))
        raise _invalid(
            f"accountId cannot be combined with {names}: a run for one account takes no "
            "other filter.",
            "accountId",
        )
    if has_data and (filters.account_id is not None or filters.others):
        raise _invalid(
            "A run with data records takes no filters: the records name what to collect.",
            "data",
        )
    if len(spec.data) > MAX_DATA_RECORDS:
        raise OverLimit(
            f"A payment run takes at most {MAX_DATA_RECORDS} data records "
            f"({len(spec.data)} given).",
            resource=RESOURCE,
            field="data",
        )
    if filters.bill_cycle_day is not None and not 1 <= filters.bill_cycle_day <= 31:
        raise _invalid("billCycleDay must be 1 to 31.", "billCycleDay")
    if filters.batch is not None and not 1 <= filters.batch <= 50:
        raise _invalid("batch must be Batch1 to Batch50.", "batch")
    if filters.currency is not None:
        try:
            filters = _replace_filters(filters, currency=normalize_currency(filters.currency))
        except InvalidValue as exc:
            raise _invalid(exc.message, "currency") from exc
    if spec.target_date is None and spec.run_date is None and not has_data:
        raise InvalidValue(
            "Specify targetDate (run now) or runDate (schedule the run).",
            resource=RESOURCE,
            field="targetDate",
        )
    run_date = spec.run_date
    if run_date is not None:
        if run_date.tzinfo is None:
            raise _invalid("runDate must carry a time zone.", "runDate")
        if run_date < ctx.clock.now() and not updating:
            raise _invalid(
                f"runDate {run_date:%Y-%m-%d %H:%M:%S} is in the past: a scheduled run "
                "must run later than now (use targetDate to run now).",
                "runDate",
            )
        run_date = _hour(run_date)
    if filters.account_id is not None and (
        accounts_repo.get_account(ctx.session, ctx.tenant_id, filters.account_id) is None
    ):
        raise NotFound(
            "Account {account} not found.",
            resource="account",
            ids={"account": filters.account_id},
        )
    if filters.billing_run_id is not None and (
        billruns_repo.get_run(ctx.session, ctx.tenant_id, filters.billing_run_id) is None
    ):
        raise NotFound(
            "Bill run {bill_run} not found.",
            resource="bill_run",
            ids={"bill_run": filters.billing_run_id},
        )
    if filters.payment_gateway_id is not None and (
        gateways_repo.get_gateway(ctx.session, ctx.tenant_id, filters.payment_gateway_id) is None
    ):
        raise NotFound(
            "Payment gateway {gateway} not found.",
            resource="payment_gateway",
            ids={"gateway": filters.payment_gateway_id},
        )
    return PaymentRunSpec(
        target_date=spec.target_date,
        run_date=run_date,
        filters=filters,
        flags=spec.flags,
        data=spec.data,
        organization_labels=spec.organization_labels,
    )


def _replace_filters(filters: Filters, **values: Any) -> Filters:
    return replace(filters, **values)


def _account_of(
    record: DataRecord,
    index: int,
    by_id: dict[int, data_repo.AccountFacts],
    by_number: dict[str, data_repo.AccountFacts],
) -> data_repo.AccountFacts | None:
    """The record's account: by id first, then by number (Zuora's account key)."""
    if record.account_id is None and record.account_number is None:
        return None
    account = by_id.get(record.account_id) if record.account_id is not None else None
    if account is None:
        account = by_number.get(record.account_number or "")
    if account is None:
        shown = record.account_number or "{account}"
        raise NotFound(
            f"data[{index}]: account {shown} not found.",
            resource="account",
            field="accountId",
            ids={"account": record.account_id} if record.account_id is not None else None,
        )
    return account


Checked = tuple[int, int | None, int | None, int | None, str | None]


def _data_rows(ctx: ServiceContext, records: tuple[DataRecord, ...]) -> list[Checked]:
    """The data[] records, each checked: its invoice posted with a balance, of the
    account it names, the amount within that balance, the method the account's; as
    (invoice id, amount, method, gateway, comment) for ``data_repository.insert_records``.

    What the checks read is read a thousand records per statement (a dunning day's run
    names thousands), then the records are checked one by one in order, so the first
    bad record is the one refused, as when each was read on its own."""
    session, tenant_id = ctx.session, ctx.tenant_id
    by_id = data_repo.invoices_by_id(
        session, tenant_id, [r.invoice_id for r in records if r.invoice_id is not None]
    )
    by_number = data_repo.invoices_by_number(
        session,
        tenant_id,
        [
            r.invoice_number
            for r in records
            if r.invoice_id is None and r.invoice_number is not None
        ],
    )
    invoices: list[data_repo.InvoiceFacts] = []
    for index, record in enumerate(records):
        if record.invoice_id is not None:
            invoice = by_id.get(record.invoice_id)
        elif record.invoice_number is not None:
            invoice = by_number.get(record.invoice_number)
        else:
            raise InvalidValue(
                f"data[{index}]: name the invoice to collect (documentId or documentNumber).",
                resource=RESOURCE,
                field="documentId",
            )
        if invoice is None:
            raise NotFound(
                f"data[{index}]: invoice {record.invoice_number or '{invoice}'} not found.",
                resource="invoice",
                field="documentId",
                ids={"invoice": record.invoice_id} if record.invoice_id is not None else None,
            )
        invoices.append(invoice)
    balances = ledger.invoice_balances(session, tenant_id, [i.id for i in invoices])
    accounts_by_id = data_repo.accounts_by_id(
        session, tenant_id, [r.account_id for r in records if r.account_id is not None]
    )
    accounts_by_number = data_repo.accounts_by_number(
        session,
        tenant_id,
        [
            r.account_number or ""
            for r in records
            if (r.account_id is not None or r.account_number is not None)
            and (r.account_id is None or r.account_id not in accounts_by_id)
        ],
    )
    method_accounts = data_repo.method_accounts(
        session,
        tenant_id,
        [r.payment_method_id for r in records if r.payment_method_id is not None],
    )
    gateway_ids = data_repo.gateway_ids(
        session,
        tenant_id,
        [r.payment_gateway_id for r in records if r.payment_gateway_id is not None],
    )
    rows: list[Checked] = []
    seen: set[int] = set()
    for index, (record, invoice) in enumerate(zip(records, invoices, strict=True)):
        account = _account_of(record, index, accounts_by_id, accounts_by_number)
        if account is not None and account.id != invoice.account_id:
            raise _rule(
                f"data[{index}]: invoice {invoice.invoice_number} does not belong to account "
                f"{account.account_number}.",
                "documentId",
            )
        if invoice.status != InvoiceStatus.POSTED:
            raise _rule(
                f"data[{index}]: invoice {invoice.invoice_number} is {invoice.status}: only "
                "posted invoices are collected.",
                "documentId",
            )
        if invoice.id in seen:
            raise _rule(
                f"data[{index}]: invoice {invoice.invoice_number} is named twice.", "documentId"
            )
        seen.add(invoice.id)
        balance = balances.get(invoice.id, 0)
        amount_minor: int | None = None
        if record.amount is not None:
            try:
                amount_minor = to_minor(record.amount, invoice.currency)
            except InvalidValue as exc:
                raise _invalid(f"data[{index}]: {exc.message}", "amount") from exc
            if amount_minor <= 0:
                raise _invalid(f"data[{index}]: the amount must be positive.", "amount")
            if amount_minor > balance:
                raise _rule(
                    f"data[{index}]: the amount {record.amount} is more than invoice "
                    f"{invoice.invoice_number}'s balance "
                    f"({from_minor(balance, invoice.currency)}).",
                    "amount",
                )
        elif balance <= 0:
            raise _rule(
                f"data[{index}]: invoice {invoice.invoice_number} has no balance to collect.",
                "documentId",
            )
        if (
            record.payment_method_id is not None
            and method_accounts.get(record.payment_method_id) != invoice.account_id
        ):
            raise NotFound(
                f"data[{index}]: payment method {{method}} not found on the invoice's account.",
                resource="payment_method",
                field="paymentMethodId",
                ids={"method": record.payment_method_id},
            )
        if record.payment_gateway_id is not None and record.payment_gateway_id not in gateway_ids:
            raise NotFound(
                f"data[{index}]: payment gateway {{gateway}} not found.",
                resource="payment_gateway",
                field="paymentGatewayId",
                ids={"gateway": record.payment_gateway_id},
            )
        if record.comment is not None and len(record.comment) > 255:
            raise _invalid(f"data[{index}]: the comment is longer than 255 characters.", "comment")
        rows.append(
            (
                invoice.id,
                amount_minor,
                record.payment_method_id,
                record.payment_gateway_id,
                record.comment,
            )
        )
    return rows


def _insert_data(
    ctx: ServiceContext,
    run_id: int,
    records: tuple[DataRecord, ...],
    checked: Sequence[Checked] | None = None,
) -> None:
    rows = list(checked) if checked is not None else _data_rows(ctx, records)
    written = data_repo.insert_records(ctx.session, ctx.tenant_id, run_id, rows)
    assert written == len(rows), "every checked record's invoice is the tenant's"


def _columns(spec: PaymentRunSpec) -> dict[str, Any]:
    f, g = spec.filters, spec.flags
    return {
        "target_date": spec.target_date,
        "run_date": spec.run_date,
        "account_id": f.account_id,
        "batch": f.batch,
        "bill_cycle_day": f.bill_cycle_day,
        "billing_run_id": f.billing_run_id,
        "currency": f.currency,
        "payment_gateway_id": f.payment_gateway_id,
        "auto_apply_credit_memo": g.auto_apply_credit_memo,
        "auto_apply_unapplied_payment": g.auto_apply_unapplied_payment,
        "apply_credit_balance": g.apply_credit_balance,
        "collect_payment": g.collect_payment,
        "consolidated_payment": g.consolidated_payment,
        "process_payment_with_closed_pm": g.process_payment_with_closed_pm,
        "ignore_payment_run_retry_rule": g.ignore_payment_run_retry_rule,
        "organization_labels": list(spec.organization_labels) or None,
    }


# -- writes ----------------------------------------------------------------------------------


def create_payment_run(
    ctx: ServiceContext,
    spec: PaymentRunSpec,
    *,
    created_by: str | None = None,
    checked: Sequence[Checked] | None = None,
) -> PaymentRun:
    """A new Pending run: without ``run_date`` it starts once this unit of work commits;
    with one, the scheduler starts it when that hour comes.

    ``checked``: ``spec.data`` as the rows ``_data_rows`` would build from it (invoice
    id, amount, method, gateway, comment), given by a caller that read those invoices in
    this unit of work and knows them posted, owing and of the accounts the records name
    (collections' day, from its overdue read): the records are not read again."""
    spec = _check(ctx, spec, updating=False)
    kept = org_labels.within_orgs(
        ctx.session,
        ctx.tenant_id,
        ctx.org_ids,
        org_labels.labels_from_dicts(spec.organization_labels),
    )
    if kept is not None:
        added = tuple(
            {"organizationId": org_id, "excluded": False}
            for org_id, _, _ in kept[len(spec.organization_labels) :]
        )
        spec = replace(spec, organization_labels=spec.organization_labels + added)
    now = ctx.clock.now()
    run = PaymentRun(
        **_columns(spec),
        tenant_id=ctx.tenant_id,
        payment_run_number=next_number(ctx.session, ctx.tenant_id, "payment_run"),
        status=PaymentRunStatus.PENDING,
        explicit_data=bool(spec.data),
        created_by_id=created_by,
        updated_by_id=created_by,
        created_at=now,
        updated_at=now,
    )
    repo.add_run(ctx.session, run)
    events.emit_status_change(ctx, EventType.PAYMENT_RUN_STATUS_CHANGED, run, None)
    if spec.data:
        if checked is not None and len(checked) != len(spec.data):
            raise ValueError("checked rows must match the data records one for one")
        _insert_data(ctx, run.id, spec.data, checked)
    if spec.run_date is None:
        ctx.enqueue("payment_run.start", tenant_id=ctx.tenant_id, run_id=run.id)
    return run


def update_payment_run(
    ctx: ServiceContext, run: PaymentRun, patch: PaymentRunPatch, *, updated_by: str | None = None
) -> PaymentRun:
    """Change a Pending run's request, decided under its row lock."""
    repo.lock_run(ctx.session, run)
    if run.status != PaymentRunStatus.PENDING:
        raise _rule(
            f"Payment run {run.payment_run_number} is {run.status}; only a Pending payment "
            "run can be updated."
        )
    spec = _check(
        ctx,
        patch.apply(spec_of(run)),
        updating=True,
        stored_data=run.explicit_data and "data" not in patch.values,
    )
    for column, value in _columns(spec).items():
        setattr(run, column, value)
    if "data" in patch.values:
        repo.delete_records(ctx.session, ctx.tenant_id, run.id)
        _insert_data(ctx, run.id, spec.data)
        run.explicit_data = bool(spec.data)
    run.updated_by_id = updated_by
    run.updated_at = ctx.clock.now()
    ctx.session.flush()
    return run


def cancel_payment_run(ctx: ServiceContext, run: PaymentRun) -> PaymentRun:
    """Pending -> Canceled (Zuora publishes no REST cancel: the CLI does it)."""
    repo.lock_run(ctx.session, run)
    if not transition(
        ctx,
        run,
        [PaymentRunStatus.PENDING],
        PaymentRunStatus.CANCELED,
        updated_at=ctx.clock.now(),
    ):
        raise _rule(
            f"Payment run {run.payment_run_number} is {run.status}; only a Pending payment "
            "run can be canceled."
        )
    return run


def delete_payment_run(ctx: ServiceContext, run: PaymentRun) -> None:
    """Remove a Canceled or Error run and its records; the payments it made stay."""
    repo.lock_run(ctx.session, run)
    if run.status not in (PaymentRunStatus.CANCELED, PaymentRunStatus.ERROR):
        raise _rule(
            f"Payment run {run.payment_run_number} is {run.status}; only a Canceled or "
            "Error payment run can be deleted."
        )
    repo.delete_run(ctx.session, ctx.tenant_id, run.id)


# -- summary and records --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunSummary:
    receivables: int
    invoices: int
    payments: int
    errors: int
    unprocessed: int
    unapplied_payments: int
    totals: list[repo.CurrencyTotals]


def summary(ctx: ServiceContext, run: PaymentRun) -> RunSummary:
    totals = repo.summary_totals(ctx.session, ctx.tenant_id, run.id)
    count = sum(t.receivables for t in totals)
    return RunSummary(
        receivables=count,
        invoices=count,
        payments=repo.payment_count(ctx.session, ctx.tenant_id, run.id),
        errors=sum(t.errors for t in totals),
        unprocessed=sum(t.unprocessed for t in totals),
        unapplied_payments=run.unapplied_payments_used,
        totals=totals,
    )


_SETTLED_WORDS = frozenset(status.value for status in SETTLED_STATUSES)


@dataclass(frozen=True, slots=True)
class RecordView:
    record: PaymentRunData
    account_number: str | None
    invoice_number: str | None
    # The status, gateway code and message of the record's payment while the record has
    # no result written: its result is its payment's (``collect._slice_results``).
    payment_status: str | None = None
    payment_code: str | None = None
    payment_message: str | None = None

    @property
    def derived(self) -> bool:
        """The record has no result written and names the payment that collects it (a
        set-based slice writes none for the records its payments settle; a crashed
        chunk leaves its payments Processing, settled later by the reconciler)."""
        return self.record.result is None and self.record.payment_id is not None

    @property
    def payment_settled(self) -> bool:
        return self.payment_status in _SETTLED_WORDS

    @property
    def result(self) -> str | None:
        """The record's result; a derived one is its payment's: Processed once settled,
        Error when it failed, else the payment's status (Processing; also while its
        slice is in flight, its payment not written yet)."""
        if not self.derived:
            return self.record.result
        if self.payment_settled:
            return RecordResult.PROCESSED.value
        if self.payment_status == PaymentStatus.ERROR:
            return RecordResult.ERROR.value
        # No payment row yet: its slice is in flight (written at the slice's finish).
        return self.payment_status or PaymentStatus.PROCESSING.value

    @property
    def amount_collected_minor(self) -> int:
        """A derived record settled collected what it was to collect."""
        collected = self.record.amount_collected_minor
        if self.derived and self.payment_settled:
            return self.record.amount_to_collect_minor or collected
        return collected

    @property
    def error(self) -> tuple[str | None, str | None]:
        """(code, message); a derived failed record's are its payment's gateway words, or
        the generic ones when the gateway gave none."""
        if not (self.derived and self.payment_status == PaymentStatus.ERROR):
            return self.record.error_code, self.record.error_message
        code = self.payment_code if self.payment_code is not None else DECLINED_CODE
        message = self.payment_message if self.payment_message is not None else DECLINED_MESSAGE
        return code[:100], message


def records(
    ctx: ServiceContext, run: PaymentRun, offset: int, limit: int
) -> tuple[list[RecordView], bool]:
    page = repo.records_page(ctx.session, ctx.tenant_id, run.id, offset, limit + 1)
    more = len(page) > limit
    page = page[:limit]
    accounts, invoices = repo.numbers_of(
        ctx.session, ctx.tenant_id, [r.account_id for r in page], [r.invoice_id for r in page]
    )
    waiting = repo.payment_statuses(
        ctx.session,
        ctx.tenant_id,
        [r.payment_id for r in page if r.result is None and r.payment_id is not None],
    )
    return [
        RecordView(
            r,
            accounts.get(r.account_id),
            invoices.get(r.invoice_id),
            *(waiting.get(r.payment_id) or (None, None, None)),  # type: ignore[arg-type]
        )
        for r in page
    ], more


def target_date_of(run: PaymentRun, ctx: ServiceContext) -> date:
    """What the run collects up to: its targetDate, else the day it runs."""
    if run.target_date is not None:
        return run.target_date
    return ctx.clock.date_of(run.run_date or ctx.clock.now())
