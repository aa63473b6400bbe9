"""BulkPayment chunks validated and recorded set-based in SQL
(``bulkjobs.payment_sql_repository``, ``bulkjobs.payment_sets``)
give every record the outcome the record-by-record Python path gives it: the same
status, the same message word for word, the same payment, ledger entries and activity.

Each test runs one job twice, in two tenants with the same customers and invoices: once
as it runs, once with the set-based path switched off (the Python rules only, as before
it), and compares what the records and the ledger show, ids and numbers written as
positions (they differ between tenants)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select, text

from billcycle.bulkjobs import payment_sets, payment_sql_repository
from billcycle.bulkjobs import repository as bulk_repo
from billcycle.db.session import unit_of_work
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.ledger import open_balances_repository as open_balances
from billcycle.ledger.models import LedgerEntry
from billcycle.payments.activity_models import PaymentActivity
from billcycle.payments.models import Payment
from billcycle.runtime import Runtime
from billcycle.tenancy.service import set_bulk_jobs
from tests.fusebill.helpers import new_tenant
from tests.fusebill_payments.helpers import fget, fpost, ok
from tests.payments.helpers import posted_invoices
from tests.support.api import Api, api_for


@pytest.fixture(autouse=True)
def chunks_of_eight(runtime: Runtime) -> None:
    # Good and bad records share chunks (SQL passes some of a chunk, Python judges the rest).
    runtime.settings = runtime.settings.model_copy(update={"bulk_job_chunk_size": 8})


@contextmanager
def python_path_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The set-based path off: every record judged and recorded by the Python rules."""
    with monkeypatch.context() as patched:
        patched.setattr(payment_sql_repository, "pass_good", lambda *args: 0)
        patched.setattr(payment_sets, "shape", lambda *args: None)
        patched.setattr(payment_sets, "record_in_sql", lambda *args: None)
        yield


class World:
    """One tenant's customers and invoices, and how to write its ids as positions."""

    def __init__(self, runtime: Runtime, api: Api) -> None:
        tenant_id = api.tenant.tenant_id
        self.api = api
        self.usd = posted_invoices(runtime, tenant_id, ["30", "30", "12.34"])
        self.other = posted_invoices(runtime, tenant_id, ["50", "20"])
        self.jpy = posted_invoices(runtime, tenant_id, ["1000"], currency="JPY")
        self.draft = posted_invoices(runtime, tenant_id, ["40"], status="Draft")
        self.customers: dict[int, str] = {}
        self.invoices: dict[int, str] = {}
        for label, billed in (
            ("usd", self.usd),
            ("other", self.other),
            ("jpy", self.jpy),
            ("draft", self.draft),
        ):
            self.customers[billed.account_id] = f"<{label}>"
            for n, invoice_id in enumerate(billed.invoice_ids):
                self.invoices[invoice_id] = f"<{label}.{n}>"

    def shown(self, details: str | None) -> str | None:
        """A record's details with this tenant's invoice ids written as names."""
        if details is None:
            return None
        return re.sub(
            r"(?<=[Ii]nvoice )\d+", lambda m: self.invoices.get(int(m.group()), m.group()), details
        )

    def customer(self, account_id: int) -> str:
        return self.customers.get(account_id, str(account_id))

    def invoice(self, invoice_id: int | None) -> str | None:
        return None if invoice_id is None else self.invoices.get(invoice_id, str(invoice_id))


def _records(w: World) -> list[str]:
    """Raw JSON records (some amounts written as text, as ``9.990`` must arrive)."""
    u, o, j, d = w.usd, w.other, w.jpy, w.draft
    u0, u1, u2 = u.invoice_ids
    o0, o1 = o.invoice_ids

    def rec(customer: int, amount: str, method: str = "Check", **more: Any) -> str:
        body = {"customerId": customer, "amount": "@", "paymentMethod": method, **more}
        return json.dumps(body).replace('"@"', amount)

    def alloc(*pairs: tuple[int, str]) -> list[dict[str, Any]]:
        return [{"invoiceId": i, "amount": float(a) if "." in a else int(a)} for i, a in pairs]

    long_ref = "r" * 150
    return [
        rec(u.account_id, "10", paymentAllocations=alloc((u0, "10"))),  # good
        rec(u.account_id, "0"),  # not positive
        rec(u.account_id, "-5"),  # negative
        rec(u.account_id, "1.001"),  # too precise
        rec(u.account_id, "9.990", paymentAllocations=alloc((u1, "9.99"))),  # good, odd text
        rec(u.account_id, '"7.50"', source="Automatic"),  # good: a string amount, unallocated
        rec(999_999_999, "5"),  # unknown customer
        rec(o.account_id, "1", paymentAllocations=alloc((u0, "1"))),  # another's invoice
        rec(u.account_id, "5", paymentAllocations=alloc((999_999_999, "5"))),  # no invoice
        rec(d.account_id, "5", paymentAllocations=alloc((d.invoice_ids[0], "5"))),  # draft
        rec(o.account_id, "60", paymentAllocations=alloc((o0, "51"))),  # over the balance
        rec(o.account_id, "5", paymentAllocations=alloc((o0, "3"), (o1, "3"))),  # over amount
        rec(o.account_id, "40", paymentAllocations=alloc((o1, "15"), (o1, "15"))),  # twice
        rec(o.account_id, "5", paymentAllocations=alloc((o0, "0"))),  # zero allocation
        rec(o.account_id, "5", paymentAllocations=alloc((o0, "1.005"))),  # too precise
        rec(o.account_id, "5", autoAllocate=True, paymentAllocations=alloc((o0, "5"))),  # both
        rec(o.account_id, "5", autoAllocate=True),  # auto only: good
        rec(u.account_id, "5", reference="x" * 501),  # reference too long
        rec(u.account_id, "2.34", reference=long_ref, paymentAllocations=alloc((u2, "2.34"))),
        rec(u.account_id, "5", "CreditCard"),  # a card with no method
        rec(j.account_id, "1000", paymentAllocations=alloc((j.invoice_ids[0], "1000"))),  # JPY
        rec(j.account_id, "1.5"),  # too precise for JPY
        rec(
            o.account_id,
            "20",
            "Cash",
            source="Import",
            reference="wire 1",
            paymentAllocations=alloc((o1, "20")),
        ),
        rec(u.account_id, "30", paymentAllocations=alloc((u0, "20"), (u1, "10"))),  # good
    ]


def _run_job(
    w: World, runtime: Runtime, jobs: ManualDispatcher, bodies: list[str]
) -> dict[str, Any]:
    raw = '{"accountUploadType":"BulkPayment","data":[' + ",".join(bodies) + "]}"
    job = ok(fpost(w.api, "/v1/BulkApi", content=raw, headers={"content-type": "application/json"}))
    jobs.run_until_idle()
    validated = ok(fget(w.api, f"/v1/BulkApi/{job['id']}", view="Full"))
    ok(fpost(w.api, "/v1/BulkApi/Process", {"id": job["id"]}))
    jobs.run_until_idle()
    done = ok(fget(w.api, f"/v1/BulkApi/{job['id']}", view="Full"))
    return {"validated": _outcome(w, validated), "done": _outcome(w, done)} | _ledger(w, runtime)


def _outcome(w: World, job: dict[str, Any]) -> Any:
    counts = {k: v for k, v in job.items() if k.endswith("Records")}
    return counts, job["status"], [(r["status"], w.shown(r["details"])) for r in job["records"]]


def _ledger(w: World, runtime: Runtime) -> dict[str, Any]:
    """What the job wrote, in id order, ids written as positions or names."""
    tenant_id = w.api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        s = ctx.session
        payments = s.scalars(
            select(Payment).where(Payment.tenant_id == tenant_id).order_by(Payment.id)
        ).all()
        position = {p.id: n for n, p in enumerate(payments)}
        numbers = {p.number: f"#{n}" for n, p in enumerate(payments)}
        entries = s.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.tenant_id == tenant_id, LedgerEntry.payment_id.is_not(None))
            .order_by(LedgerEntry.id)
        ).all()
        activities = s.scalars(
            select(PaymentActivity)
            .where(PaymentActivity.tenant_id == tenant_id)
            .order_by(PaymentActivity.id)
        ).all()
        # The AR summaries moved with the ledger, on either path (the set-based one moves
        # them by the balances it read under the invoices' locks, not by a second read).
        drift = (
            open_balances.differences(s, tenant_id),
            open_balances.account_differences(s, tenant_id),
        )
        assert drift == ([], [])
        return {
            "payments": [
                (
                    w.customer(p.account_id),
                    p.amount_minor,
                    p.currency,
                    p.effective_date,
                    p.payment_type,
                    p.status,
                    p.gateway_state,
                    p.reference_id,
                    p.created_at,
                )
                for p in payments
            ],
            "entries": [
                (
                    w.customer(e.account_id),
                    w.invoice(e.invoice_id),
                    position[e.payment_id] if e.payment_id is not None else None,
                    e.entry_type,
                    e.amount_minor,
                    e.currency,
                    e.effective_date,
                    numbers.get(e.reference or "", e.reference),
                    e.source,
                    e.created_at,
                )
                for e in entries
            ],
            "activities": [
                (
                    w.customer(a.account_id),
                    position.get(a.payment_id or 0),
                    a.status,
                    a.transaction_type,
                    a.source,
                    a.method_kind,
                    a.method,
                    a.amount_minor,
                    a.currency,
                    a.reference,
                    a.effective_at,
                )
                for a in activities
            ],
        }


def _two_worlds(api: Api, runtime: Runtime) -> tuple[World, World]:
    other = api_for(api.client, new_tenant(runtime, "python path", bulk_jobs=True))
    return World(runtime, api), World(runtime, other)


def _compare(
    api: Api,
    runtime: Runtime,
    jobs: ManualDispatcher,
    monkeypatch: pytest.MonkeyPatch,
    bodies_of: Callable[[World], list[str]],
) -> dict[str, Any]:
    sql_world, python_world = _two_worlds(api, runtime)
    with python_path_only(monkeypatch):
        before = _run_job(python_world, runtime, jobs, bodies_of(python_world))
    passed_by_sql: list[int] = []
    real = payment_sql_repository.pass_good

    def counted(*args: Any) -> int:
        passed_by_sql.append(real(*args))
        return passed_by_sql[-1]

    monkeypatch.setattr(payment_sql_repository, "pass_good", counted)
    after = _run_job(sql_world, runtime, jobs, bodies_of(sql_world))
    assert sum(passed_by_sql) > 0  # the set-based path did pass records
    assert after == before
    return after


def test_mixed_records_get_the_python_paths_outcome(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    after = _compare(api, runtime, jobs, monkeypatch, _records)
    _, status, records = after["validated"]
    assert status == "ValidatedWithErrors"
    assert [s for s, _ in records].count("PassedValidation") == 8
    assert records[14] == (
        "FailedValidation",
        "The allocation to invoice <other.0>: amount has more decimal places than USD allows (2).",
    )
    assert records[21] == (
        "FailedValidation",
        "The amount has more decimal places than JPY allows (0).",
    )
    _, status, records = after["done"]
    assert status == "ProcessedWithErrors"
    assert [s for s, _ in records].count("Processed") == 8
    assert len(after["payments"]) == 8
    # The 150-character reference is the activity's, not the payment's (Zuora's 100).
    assert [p[7] for p in after["payments"]].count(None) == 7


def test_sql_passes_every_good_record_of_a_form_it_reads(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The set-based validation passes every good record of the mix (eight: the same as
    the whole job passes, see the test above) and none of the failures, so only failures
    are left to the Python rules, on SQLite (its own statement) and PostgreSQL alike."""
    w = World(runtime, api)
    passed: list[int] = []
    real = payment_sql_repository.pass_good

    def counted(*args: Any) -> int:
        passed.append(real(*args))
        return passed[-1]

    monkeypatch.setattr(payment_sql_repository, "pass_good", counted)
    raw = '{"accountUploadType":"BulkPayment","data":[' + ",".join(_records(w)) + "]}"
    ok(fpost(api, "/v1/BulkApi", content=raw, headers={"content-type": "application/json"}))
    jobs.run_until_idle()
    assert len(passed) == 3  # chunks of eight
    assert sum(passed) == 8


def test_a_chunk_whose_balances_ran_out_fails_the_same_records(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records that each fit at validation but not together (one invoice, one chunk):
    the set-based write sees it under the invoices' locks and leaves the chunk to the
    Python rules, which fail the second with the usual message."""

    def bodies(w: World) -> list[str]:
        u0 = w.usd.invoice_ids[0]
        one = {
            "customerId": w.usd.account_id,
            "amount": 20,
            "paymentMethod": "Check",
            "paymentAllocations": [{"invoiceId": u0, "amount": 20}],
        }
        return [json.dumps(one)] * 3

    after = _compare(api, runtime, jobs, monkeypatch, bodies)
    _, _, records = after["done"]
    message = (
        "The allocation to invoice <usd.0> (20.00) is more than its outstanding balance (10.00)."
    )
    assert records == [
        ("Processed", None),
        ("FailedProcessing", message),
        ("FailedProcessing", message),
    ]


def test_set_based_chunks_move_the_ar_summaries_as_the_python_path(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks recorded set-based move the AR summaries by the balances they read under
    the invoices' locks (no second read): partial and whole payments, an invoice paid by
    two records of one chunk, two currencies, an unallocated payment. Both paths leave
    the same ledger and summaries equal to their recomputation (``_ledger``)."""

    def bodies(w: World) -> list[str]:
        u0, u1, u2 = w.usd.invoice_ids
        o0, o1 = w.other.invoice_ids

        def rec(customer: int, amount: str, *pairs: tuple[int, str]) -> str:
            allocations = [{"invoiceId": i, "amount": a} for i, a in pairs]
            body = {"customerId": customer, "amount": amount, "paymentMethod": "Check"}
            return json.dumps(body | ({"paymentAllocations": allocations} if pairs else {}))

        return [
            rec(w.usd.account_id, "10", (u0, "10")),  # partial
            rec(w.usd.account_id, "20", (u0, "20")),  # the rest: u0 paid off in one chunk
            rec(w.usd.account_id, "17.34", (u1, "5"), (u2, "12.34")),  # partial and whole
            rec(w.other.account_id, "50", (o0, "50")),
            rec(w.other.account_id, "7", (o1, "7")),
            rec(w.other.account_id, "3"),  # unallocated
            rec(w.jpy.account_id, "400", (w.jpy.invoice_ids[0], "400")),
            rec(w.usd.account_id, "25", (u1, "25")),  # u1 paid off in the next chunk
            rec(w.jpy.account_id, "600", (w.jpy.invoice_ids[0], "600")),
        ]

    recorded: list[int] = []
    real_record = payment_sets.record

    def counted(*args: Any) -> list[int] | None:
        written = real_record(*args)
        recorded.append(-1 if written is None else len(written))
        return written

    real_in_sql = payment_sets.record_in_sql

    def counted_in_sql(*args: Any) -> tuple[list[int], list[int]] | None:
        written = real_in_sql(*args)
        recorded.append(-1 if written is None else len(written[1]))
        return written

    monkeypatch.setattr(payment_sets, "record", counted)
    monkeypatch.setattr(payment_sets, "record_in_sql", counted_in_sql)
    after = _compare(api, runtime, jobs, monkeypatch, bodies)
    assert recorded == [8, 1]  # both chunks set-based
    _, status, _ = after["done"]
    assert status == "Processed"
    assert len(after["payments"]) == 9


def _good(w: World, count: int) -> list[str]:
    u0 = w.usd.invoice_ids[0]
    return [
        json.dumps(
            {
                "customerId": w.usd.account_id,
                "amount": "0.01",
                "paymentMethod": "Check",
                "paymentAllocations": [{"invoiceId": u0, "amount": 0.01}],
            }
        )
        for _ in range(count)
    ]


def test_a_chunk_that_crashes_after_writing_is_recorded_once(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk that fails after its payments were written (before the records are
    marked) rolls back whole; its re-run writes each payment once."""
    w = World(runtime, api)
    raw = '{"accountUploadType":"BulkPayment","data":[' + ",".join(_good(w, 20)) + "]}"
    job = ok(fpost(api, "/v1/BulkApi", content=raw, headers={"content-type": "application/json"}))
    jobs.run_until_idle()
    ok(fpost(api, "/v1/BulkApi/Process", {"id": job["id"]}))
    crashes: list[int] = []
    real = bulk_repo.set_processed

    def crash_once(*args: Any, **kwargs: Any) -> int:
        if not crashes:
            crashes.append(1)
            raise RuntimeError("the worker died here")
        return real(*args, **kwargs)

    monkeypatch.setattr(bulk_repo, "set_processed", crash_once)
    recorded: list[int] = []
    real_record = payment_sets.record

    def counted(*args: Any) -> list[int] | None:
        written = real_record(*args)
        recorded.append(-1 if written is None else len(written))
        return written

    real_in_sql = payment_sets.record_in_sql

    def counted_in_sql(*args: Any) -> tuple[list[int], list[int]] | None:
        written = real_in_sql(*args)
        recorded.append(-1 if written is None else len(written[1]))
        return written

    monkeypatch.setattr(payment_sets, "record", counted)
    monkeypatch.setattr(payment_sets, "record_in_sql", counted_in_sql)
    jobs.run_until_idle()
    assert crashes == [1]
    assert recorded == [8, 8, 8, 4]  # set-based, the first chunk twice
    done = ok(fget(api, f"/v1/BulkApi/{job['id']}", view="Full"))
    assert done["status"] == "Processed"
    created = [r["createdEntityId"] for r in done["records"]]
    assert len(set(created)) == 20
    tenant_id = api.tenant.tenant_id
    with runtime.service_context(tenant_id) as ctx:
        paid = ctx.session.execute(
            text(
                "SELECT COUNT(*), COUNT(DISTINCT payment_id), SUM(amount_minor) "
                "FROM ledger_entries "
                "WHERE tenant_id = :t AND invoice_id = :i"
            ),
            {"t": tenant_id, "i": w.usd.invoice_ids[0]},
        ).one()
        payments = ctx.session.scalars(
            select(Payment.id).where(Payment.tenant_id == tenant_id).order_by(Payment.id)
        ).all()
    assert tuple(paid) == (20, 20, 20)
    assert sorted(created) == list(payments)


def test_cancel_between_chunks_keeps_whole_chunks(
    api: Api, runtime: Runtime, jobs: ManualDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel while a job is processing: chunks recorded before it keep their payments,
    the chunk that sees the cancel writes nothing, every other record fails with the
    cancel's words and no payment."""
    w = World(runtime, api)
    tenant_id = api.tenant.tenant_id
    with unit_of_work(runtime.session_factory) as session:
        set_bulk_jobs(session, tenant_id, True, record_limit=100)
    raw = '{"accountUploadType":"BulkPayment","data":[' + ",".join(_good(w, 40)) + "]}"
    job = ok(fpost(api, "/v1/BulkApi", content=raw, headers={"content-type": "application/json"}))
    jobs.run_until_idle()
    ok(fpost(api, "/v1/BulkApi/Process", {"id": job["id"]}))
    seen: list[int] = []
    real = payment_sets.in_sql

    def cancel_at_third(ctx: Any) -> bool:
        # Asked as each processing chunk begins, before it takes any lock.
        seen.append(1)
        if len(seen) == 3:  # the API cancels as the third chunk begins
            ok(fpost(api, f"/v1/BulkApi/Cancel/{job['id']}"))
        return real(ctx)

    monkeypatch.setattr(payment_sets, "in_sql", cancel_at_third)
    jobs.run_until_idle()
    done = ok(fget(api, f"/v1/BulkApi/{job['id']}", view="Full"))
    assert done["status"] == "ProcessedWithErrors"
    statuses = [(r["status"], r["details"], r["createdEntityId"] is None) for r in done["records"]]
    assert statuses[:16] == [("Processed", None, False)] * 16
    assert statuses[16:] == [("FailedProcessing", "Manually marked as Failed.", True)] * 24
    with runtime.service_context(tenant_id) as ctx:
        payments = ctx.session.scalars(
            select(Payment.id).where(Payment.tenant_id == tenant_id).order_by(Payment.id)
        ).all()
    assert sorted(r["createdEntityId"] for r in done["records"][:16]) == list(payments)
