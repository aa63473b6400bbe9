"""A recorded conversation with both dialects, replayed on a fresh database.

Every request a client of either dialect typically sends (and many a client sends by
mistake) runs in order against a brand-new SQLite database with a frozen clock, so ids,
numbers and dates come out the same on every run. What each request answered (status,
content type and the exact body bytes) is compared with ``wire.jsonl``: a refactor that
changes a byte on the wire fails the test, and a deliberate change is re-recorded with
``BILLCYCLE_UPDATE_GOLDEN=1`` and shows up in the diff of ``wire.jsonl``.

Steps refer to earlier answers through ``Seen`` (``seen.json(3)["id"]``), never through
hard-coded ids, so the scenario stays readable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from billcycle.clock import FrozenClock
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall

Body = dict[str, Any] | list[Any] | None


@dataclass
class Seen:
    """The answers so far, by step name."""

    answers: dict[str, httpx.Response] = field(default_factory=dict)

    def json(self, name: str) -> Any:
        return self.answers[name].json()


@dataclass(frozen=True)
class Step:
    name: str
    method: str
    path: str | Callable[[Seen], str]
    body: Body | Callable[[Seen], Body] = None
    dialect: str = "zuora"  # which credentials: zuora (Bearer) or fusebill (Basic)
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    raw: bytes | None = None  # a body sent as is (malformed JSON)
    before: Callable[[FrozenClock, ManualDispatcher], None] | None = None
    run_jobs: bool = False  # drain background work after the answer


def _run(_clock: FrozenClock, jobs: ManualDispatcher) -> None:
    jobs.run_until_idle()


def _advance(days: int) -> Callable[[FrozenClock, ManualDispatcher], None]:
    def move(clock: FrozenClock, jobs: ManualDispatcher) -> None:
        clock.advance(timedelta(days=days))
        jobs.dispatch(TaskCall("tick"))  # what the scheduler's periodic tick does
        jobs.run_until_idle()

    return move


def _id(step: str, key: str = "Id") -> Callable[[Seen], str]:
    return lambda seen: str(seen.json(step)[key])


def _product(**over: Any) -> dict[str, Any]:
    return {
        "Name": "Gold",
        "SKU": "GOLD-1",
        "Description": "The gold product",
        "EffectiveStartDate": "2025-01-01",
        "EffectiveEndDate": "2035-01-01",
        **over,
    }


def _charge(plan_step: str, **over: Any) -> Callable[[Seen], Body]:
    def body(seen: Seen) -> Body:
        return {
            "ProductRatePlanId": seen.json(plan_step)["Id"],
            "Name": "Seats",
            "ChargeType": "Recurring",
            "ChargeModel": "Per Unit Pricing",
            "BillingPeriod": "Month",
            "BillCycleType": "DefaultFromCustomer",
            "TriggerEvent": "ContractEffective",
            "UOM": "Each",
            "DefaultQuantity": 3,
            "UseDiscountSpecificAccountingCode": False,
            "ProductRatePlanChargeTierData": {
                "ProductRatePlanChargeTier": [{"Currency": "USD", "Price": 10.5}]
            },
            **over,
        }

    return body


def _account(name: str, bcd: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "name": name,
        "currency": "USD",
        "billCycleDay": bcd,
        "paymentTerm": "Net 30",
        "billToContact": {"firstName": "Ada", "lastName": name, "workEmail": "ada@example.com"},
        **over,
    }


def _subscription(account_step: str, plan_step: str, **over: Any) -> Callable[[Seen], Body]:
    def body(seen: Seen) -> Body:
        return {
            "accountKey": seen.json(account_step)["accountNumber"],
            "contractEffectiveDate": "2026-01-01",
            "termType": "TERMED",
            "initialTerm": 12,
            "renewalTerm": 12,
            "autoRenew": True,
            "subscribeToRatePlans": [{"productRatePlanId": seen.json(plan_step)["Id"]}],
            **over,
        }

    return body


def _filter_run(account_step: str, **over: Any) -> Callable[[Seen], Body]:
    def body(seen: Seen) -> Body:
        return {
            "billRunFilters": [
                {"filterType": "Account", "accountId": seen.json(account_step)["accountId"]}
            ],
            "targetDate": "2026-02-01",
            **over,
        }

    return body


def _run_key(step: str) -> Callable[[Seen], str]:
    return lambda seen: f"/zuora/v1/bill-runs/{seen.json(step)['id']}"


def _bad_runs() -> Iterator[Step]:
    """Bill-run bodies a client gets wrong, one error answer each."""
    bodies: list[Any] = [
        {},
        {"batches": ["AllBatches"]},
        {"batches": [], "targetDate": "2026-02-01"},
        {"batches": ["Batch51"], "targetDate": "2026-02-01"},
        {"batches": ["Batch1", "Batch1"], "targetDate": "2026-02-01"},
        {"batches": ["AllBatches", "Batch3"], "targetDate": "2026-02-01"},
        {"batches": "AllBatches", "targetDate": "2026-02-01"},
        {"batches": ["AllBatches"], "targetDate": "2026-02-30"},
        {"batches": ["AllBatches"], "targetDate": "02/01/2026"},
        {"batches": ["AllBatches"], "targetDate": "2040-01-01"},
        {"batches": ["AllBatches"], "targetDate": "1899-12-31"},
        {"batches": ["AllBatches"], "targetDate": "2026-02-01", "billCycleDay": "32"},
        {"batches": ["AllBatches"], "targetDate": "2026-02-01", "billCycleDay": "AsRunDay"},
        {"batches": ["AllBatches"], "targetDate": "2026-02-01", "autoPost": "yes"},
        {"batches": ["AllBatches"], "targetDate": "2026-02-01", "chargeTypeToExclude": ["Foo"]},
        {
            "batches": ["AllBatches"],
            "targetDate": "2026-02-01",
            "chargeTypeToExclude": ["OneTime", "Recurring", "Usage"],
        },
        {"batches": ["AllBatches"], "targetDate": "2026-02-01", "invoiceDateOffset": 3},
        {"batches": ["AllBatches"], "targetDate": "2026-02-01", "name": "x" * 256},
        {"billRunFilters": [], "targetDate": "2026-02-01"},
        {"billRunFilters": [{"filterType": "Account"}], "targetDate": "2026-02-01"},
        {
            "billRunFilters": [{"filterType": "Account", "accountId": "nothex"}],
            "targetDate": "2026-02-01",
        },
        {
            "billRunFilters": [{"filterType": "Subscription", "accountId": "0" * 31 + "1"}],
            "targetDate": "2026-02-01",
        },
        {
            "billRunFilters": [{"filterType": "Account", "accountId": "0" * 31 + "1"}],
            "batches": ["AllBatches"],
            "targetDate": "2026-02-01",
        },
        {
            "billRunFilters": [{"filterType": "Account", "accountId": "f" * 32}],
            "targetDate": "2026-02-01",
        },
        {"batches": ["AllBatches"], "schedule": {"repeatType": "Monthly", "runTime": 3}},
        {
            "batches": ["AllBatches"],
            "schedule": {"repeatFrom": "2026-01-01", "repeatType": "Monthly", "runTime": 3},
        },
        {
            "batches": ["AllBatches"],
            "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Monthly", "runTime": 24},
        },
        {
            "batches": ["AllBatches"],
            "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Weekly", "runTime": 3},
        },
        {
            "batches": ["AllBatches"],
            "schedule": {
                "repeatFrom": "2026-02-01",
                "repeatType": "Weekly",
                "runTime": 3,
                "weeklyOnDay": ["Funday"],
            },
        },
        {
            "batches": ["AllBatches"],
            "schedule": {
                "repeatFrom": "2026-02-01",
                "repeatType": "Daily",
                "runTime": 3,
                "monthlyOnEndOfMonth": True,
            },
        },
        {
            "batches": ["AllBatches"],
            "schedule": {
                "repeatFrom": "2026-02-01",
                "repeatType": "Monthly",
                "runTime": 3,
                "monthlyOnEndOfMonth": True,
            },
        },
        {
            "batches": ["AllBatches"],
            "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Daily", "runTime": 3},
            "invoiceDateMonthOffset": 1,
            "invoiceDateDayOfMonth": 1,
        },
        {
            "batches": ["AllBatches"],
            "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Monthly", "runTime": 3},
            "invoiceDateMonthOffset": 1,
        },
        {
            "batches": ["AllBatches"],
            "schedule": {"repeatFrom": "2026-02-01", "repeatType": "Monthly", "runTime": 3},
            "invoiceDate": "2026-02-03",
            "invoiceDateOffset": 2,
        },
        [1, 2],
    ]
    for index, body in enumerate(bodies):
        yield Step(f"bad run {index}", "POST", "/zuora/v1/bill-runs", body)
    yield Step("bad run json", "POST", "/zuora/v1/bill-runs", raw=b'{"batches": [')
    yield Step(
        "bad run unknown field",
        "POST",
        "/zuora/v1/bill-runs",
        {"batches": ["AllBatches"], "targetDate": "2026-02-01", "colour": "red"},
        params={"rejectUnknownFields": "true"},
    )


def steps() -> Iterator[Step]:
    # -- catalog ----------------------------------------------------------------------
    yield Step("product", "POST", "/zuora/v1/object/product", _product())
    yield Step("product dup", "POST", "/zuora/v1/object/product", _product())
    yield Step("product bad", "POST", "/zuora/v1/object/product", _product(SKU="X", Name=""))
    yield Step(
        "plan",
        "POST",
        "/zuora/v1/object/product-rate-plan",
        lambda s: {"ProductId": s.json("product")["Id"], "Name": "Monthly"},
    )
    yield Step(
        "plan unknown product",
        "POST",
        "/zuora/v1/object/product-rate-plan",
        {"ProductId": "a" * 32, "Name": "Monthly"},
    )
    yield Step("charge", "POST", "/zuora/v1/object/product-rate-plan-charge", _charge("plan"))
    yield Step(
        "charge flat",
        "POST",
        "/zuora/v1/object/product-rate-plan-charge",
        _charge(
            "plan",
            Name="Platform fee",
            ChargeModel="Flat Fee Pricing",
            DefaultQuantity=None,
            ProductRatePlanChargeTierData={
                "ProductRatePlanChargeTier": [{"Currency": "USD", "Price": 100}]
            },
        ),
    )
    yield Step(
        "charge tiered",
        "POST",
        "/zuora/v1/object/product-rate-plan-charge",
        _charge(
            "plan",
            Name="Storage",
            ChargeModel="Tiered Pricing",
            DefaultQuantity=25,
            ProductRatePlanChargeTierData={
                "ProductRatePlanChargeTier": [
                    {"Currency": "USD", "StartingUnit": 1, "EndingUnit": 10, "Price": 2.25},
                    {"Currency": "USD", "StartingUnit": 11, "Price": 1.125},
                ]
            },
        ),
    )
    yield Step(
        "charge bad model",
        "POST",
        "/zuora/v1/object/product-rate-plan-charge",
        _charge("plan", ChargeModel="Magic Pricing"),
    )
    yield Step(
        "charge bad period",
        "POST",
        "/zuora/v1/object/product-rate-plan-charge",
        _charge("plan", BillingPeriod="Fortnight"),
    )
    yield Step(
        "charge unknown plan",
        "POST",
        "/zuora/v1/object/product-rate-plan-charge",
        _charge("plan", ProductRatePlanId="b" * 32),
    )
    yield Step(
        "product read", "GET", lambda s: f"/zuora/v1/object/product/{s.json('product')['Id']}"
    )
    yield Step("product missing", "GET", "/zuora/v1/object/product/" + "c" * 32)
    yield Step(
        "charge read",
        "GET",
        lambda s: f"/zuora/v1/object/product-rate-plan-charge/{s.json('charge')['Id']}",
    )
    yield Step("catalog", "GET", "/zuora/v1/catalog/products")
    yield Step(
        "catalog product", "GET", lambda s: f"/zuora/v1/catalog/product/{s.json('product')['Id']}"
    )
    yield Step(
        "catalog plans",
        "GET",
        lambda s: f"/zuora/v1/rateplan/{s.json('product')['Id']}/productRatePlan",
    )
    yield Step(
        "catalog plan", "GET", lambda s: f"/zuora/v1/product-rate-plans/{s.json('plan')['Id']}"
    )
    # -- accounts ---------------------------------------------------------------------
    yield Step("acct1", "POST", "/zuora/v1/accounts", _account("One"))
    yield Step("acct2", "POST", "/zuora/v1/accounts", _account("Two", 15))
    yield Step("acct3", "POST", "/zuora/v1/accounts", _account("Three", batch="Batch2"))
    yield Step("acct bad currency", "POST", "/zuora/v1/accounts", _account("Bad", currency="XXQ"))
    yield Step("acct bad bcd", "POST", "/zuora/v1/accounts", _account("Bad", 32))
    yield Step(
        "acct no contact",
        "POST",
        "/zuora/v1/accounts",
        {"name": "N", "currency": "USD", "billCycleDay": 1},
    )
    yield Step(
        "acct unknown nested",
        "POST",
        "/zuora/v1/accounts",
        {**_account("Bad"), "billToContact": {"firstName": "A", "lastName": "B", "shoe": 1}},
        params={"rejectUnknownFields": "true"},
    )
    yield Step(
        "acct read", "GET", lambda s: f"/zuora/v1/accounts/{s.json('acct1')['accountNumber']}"
    )
    yield Step(
        "acct read id", "GET", lambda s: f"/zuora/v1/accounts/{s.json('acct2')['accountId']}"
    )
    yield Step("acct missing", "GET", "/zuora/v1/accounts/A99999999")
    yield Step(
        "acct update",
        "PUT",
        lambda s: f"/zuora/v1/accounts/{s.json('acct1')['accountNumber']}",
        {"notes": "VIP", "billToContact": {"city": "Paris"}},
    )
    yield Step(
        "acct update bad",
        "PUT",
        lambda s: f"/zuora/v1/accounts/{s.json('acct1')['accountNumber']}",
        {"billCycleDay": 40},
    )
    yield Step(
        "acct summary",
        "GET",
        lambda s: f"/zuora/v1/accounts/{s.json('acct1')['accountNumber']}/summary",
    )
    # -- subscriptions ----------------------------------------------------------------
    yield Step("sub1", "POST", "/zuora/v1/subscriptions", _subscription("acct1", "plan"))
    yield Step("sub2", "POST", "/zuora/v1/subscriptions", _subscription("acct2", "plan"))
    yield Step(
        "sub3",
        "POST",
        "/zuora/v1/subscriptions",
        _subscription("acct3", "plan", contractEffectiveDate="2025-12-20", termType="EVERGREEN"),
    )
    yield Step(
        "sub bad term",
        "POST",
        "/zuora/v1/subscriptions",
        _subscription("acct1", "plan", termType="FOREVER"),
    )
    yield Step(
        "sub bad plan",
        "POST",
        "/zuora/v1/subscriptions",
        _subscription("acct1", "plan", subscribeToRatePlans=[{"productRatePlanId": "d" * 32}]),
    )
    yield Step(
        "sub bad date",
        "POST",
        "/zuora/v1/subscriptions",
        _subscription("acct1", "plan", contractEffectiveDate="2026-13-01"),
    )
    yield Step(
        "sub read",
        "GET",
        lambda s: f"/zuora/v1/subscriptions/{s.json('sub1')['subscriptionNumber']}",
    )
    yield Step(
        "subs of acct",
        "GET",
        lambda s: f"/zuora/v1/subscriptions/accounts/{s.json('acct1')['accountNumber']}",
    )
    # -- bill runs --------------------------------------------------------------------
    yield from _bad_runs()
    yield Step(
        "run adhoc",
        "POST",
        "/zuora/v1/bill-runs",
        {"batches": ["AllBatches"], "targetDate": "2026-02-01", "name": "January"},
        run_jobs=True,
    )
    yield Step("run adhoc read", "GET", _run_key("run adhoc"))
    yield Step(
        "run adhoc by number",
        "GET",
        lambda s: f"/zuora/v1/bill-runs/{s.json('run adhoc')['billRunNumber']}",
    )
    yield Step("run missing", "GET", "/zuora/v1/bill-runs/" + "e" * 32)
    yield Step("run missing number", "GET", "/zuora/v1/bill-runs/BR-99999999")
    yield Step("run update completed", "PUT", _run_key("run adhoc"), {"name": "x"})
    yield Step("run delete completed", "DELETE", _run_key("run adhoc"))
    yield Step(
        "documents acct1",
        "GET",
        "/zuora/v1/billing-documents",
        params={"accountNumber": "A00000001"},
    )
    yield Step(
        "run post",
        "PUT",
        lambda s: _run_key("run adhoc")(s) + "/post",
        {"invoiceDate": "2026-02-01"},
        run_jobs=True,
    )
    yield Step("run posted read", "GET", _run_key("run adhoc"))
    yield Step("run cancel posted", "PUT", lambda s: _run_key("run adhoc")(s) + "/cancel", {})
    yield Step(
        "run email",
        "POST",
        lambda s: _run_key("run adhoc")(s) + "/emails",
        {"resend": False},
        run_jobs=True,
    )
    yield Step(
        "run filtered",
        "POST",
        "/zuora/v1/bill-runs",
        _filter_run(
            "acct2", targetDate="2026-03-20", autoPost=True, chargeTypeToExclude=["OneTime"]
        ),
        run_jobs=True,
    )
    yield Step("run filtered read", "GET", _run_key("run filtered"))
    yield Step(
        "run by subscription",
        "POST",
        "/zuora/v1/bill-runs",
        lambda s: {
            "billRunFilters": [
                {
                    "filterType": "Subscription",
                    "accountId": s.json("acct3")["accountId"],
                    "subscriptionId": s.json("sub3")["subscriptionId"],
                }
            ],
            "targetDate": "2026-03-01",
            "invoiceDate": "2026-03-01",
        },
        run_jobs=True,
    )
    yield Step("run by subscription read", "GET", _run_key("run by subscription"))
    yield Step(
        "run cancel",
        "PUT",
        lambda s: _run_key("run by subscription")(s) + "/cancel",
        {},
        run_jobs=True,
    )
    yield Step("run canceled read", "GET", _run_key("run by subscription"))
    yield Step("run delete", "DELETE", _run_key("run by subscription"), run_jobs=True)
    yield Step("run deleted read", "GET", _run_key("run by subscription"))
    yield Step(
        "run batch2",
        "POST",
        "/zuora/v1/bill-runs",
        {
            "batches": ["Batch2"],
            "billCycleDay": "1",
            "targetDate": "2026-04-01",
            "invoiceDate": "2026-04-01",
        },
        run_jobs=True,
    )
    yield Step("run batch2 read", "GET", _run_key("run batch2"))
    yield Step(
        "run catchup",
        "POST",
        "/zuora/v1/bill-runs",
        {"batches": ["Batch1"], "billRunType": "CatchUp", "targetDate": "2026-05-01"},
        run_jobs=True,
    )
    yield Step("run catchup read", "GET", _run_key("run catchup"))
    yield Step(
        "run scheduled",
        "POST",
        "/zuora/v1/bill-runs",
        {
            "batches": ["AllBatches"],
            "billCycleDay": "AsRunDay",
            "schedule": {
                "repeatFrom": "2026-01-31",
                "repeatTo": "2026-12-31",
                "repeatType": "Monthly",
                "runTime": 4,
                "monthlyOnEndOfMonth": True,
            },
            "invoiceDateMonthOffset": 1,
            "invoiceDateDayOfMonth": 1,
            "targetDateOffset": 5,
            "organizationLabels": [{"organizationName": "EU", "cascadingDown": True}],
            "autoEmail": True,
            "noEmailForZeroAmountInvoice": True,
        },
    )
    yield Step(
        "run weekly",
        "POST",
        "/zuora/v1/bill-runs",
        {
            "batches": ["Batch1", "Batch3"],
            "schedule": {
                "repeatFrom": "2026-01-12",
                "repeatType": "Weekly",
                "runTime": 0,
                "weeklyOnDay": ["Fri", "Mon"],
            },
            "invoiceDate": "2026-01-14",
        },
    )
    yield Step("run weekly read", "GET", _run_key("run weekly"))
    yield Step(
        "run weekly update",
        "PUT",
        _run_key("run weekly"),
        {"schedule": {"repeatType": "Daily"}, "name": "daily now", "autoPost": True},
    )
    yield Step(
        "run weekly update bad", "PUT", _run_key("run weekly"), {"schedule": {"runTime": 30}}
    )
    yield Step(
        "run weekly update batches",
        "PUT",
        _run_key("run weekly"),
        {"batches": ["AllBatches"], "billCycleDay": 5, "invoiceDateOffset": -2},
    )
    yield Step(
        "run weekly cancel once",
        "PUT",
        lambda s: _run_key("run weekly")(s) + "/cancel",
        {"cancelOnce": True},
    )
    yield Step("run list pending", "GET", "/zuora/v1/bill-runs", params={"status": "Pending"})
    yield Step("run list bad status", "GET", "/zuora/v1/bill-runs", params={"status": "Sleeping"})
    yield Step("run list page", "GET", "/zuora/v1/bill-runs", params={"pageSize": "2", "page": "2"})
    yield Step(
        "tick to schedule",
        "GET",
        "/zuora/v1/bill-runs",
        params={"status": "Completed"},
        before=_advance(21),
    )
    yield Step("run scheduled read", "GET", _run_key("run scheduled"))
    yield Step(
        "run scheduled cancel all",
        "PUT",
        lambda s: _run_key("run scheduled")(s) + "/cancel",
        {"cancelOnce": False},
    )
    yield Step("run list all", "GET", "/zuora/v1/bill-runs", params={"pageSize": "50"})
    yield Step(
        "idem 1",
        "POST",
        "/zuora/v1/bill-runs",
        {"batches": ["Batch9"], "targetDate": "2026-02-01"},
        headers={"Idempotency-Key": "k-1"},
    )
    yield Step(
        "idem 2",
        "POST",
        "/zuora/v1/bill-runs",
        {"batches": ["Batch9"], "targetDate": "2026-02-01"},
        headers={"Idempotency-Key": "k-1"},
    )
    yield Step(
        "idem 3",
        "POST",
        "/zuora/v1/bill-runs",
        {"batches": ["Batch8"], "targetDate": "2026-02-01"},
        headers={"Idempotency-Key": "k-1"},
    )
    # -- invoices -----------------------------------------------------------------------
    yield Step(
        "documents acct2",
        "GET",
        "/zuora/v1/billing-documents",
        params={"accountNumber": "A00000002", "pageSize": "1"},
    )
    yield Step("invoice by number", "GET", "/zuora/v1/invoices/INV00000001")
    yield Step("invoice items", "GET", "/zuora/v1/invoices/INV00000001/items")
    yield Step("invoice missing", "GET", "/zuora/v1/invoices/INV99999999")
    yield Step("invoice post posted", "PUT", "/zuora/v1/invoices/INV00000001/post", {})
    yield Step("invoice cancel draft", "PUT", "/zuora/v1/invoices/INV00000004/cancel", {})
    yield Step(
        "acct1 after", "GET", lambda s: f"/zuora/v1/accounts/{s.json('acct1')['accountNumber']}"
    )
    # -- fusebill -------------------------------------------------------------------------
    yield Step(
        "fb customer",
        "GET",
        lambda s: f"/fusebill/v1/customers/{int(s.json('acct1')['accountId'], 16)}",
        dialect="fusebill",
    )
    yield Step(
        "fb customer invoices",
        "GET",
        lambda s: f"/fusebill/v1/customers/{int(s.json('acct1')['accountId'], 16)}/invoices",
        dialect="fusebill",
    )
    yield Step(
        "fb customer invoices query",
        "GET",
        lambda s: f"/fusebill/v1/customers/{int(s.json('acct1')['accountId'], 16)}/invoices",
        dialect="fusebill",
        params={"query": "status:Unpaid", "pageSize": "1"},
    )
    yield Step(
        "fb invoice",
        "GET",
        lambda s: f"/fusebill/v1/invoices/{_first_invoice(s, 'fb customer invoices')}",
        dialect="fusebill",
    )
    yield Step("fb invoice missing", "GET", "/fusebill/v1/invoices/987654321", dialect="fusebill")
    yield Step(
        "fb bulk bad type",
        "POST",
        "/fusebill/v1/bulkwriteoff",
        {"accountUploadType": "Nope", "data": [1]},
        dialect="fusebill",
    )
    yield Step(
        "fb bulk",
        "POST",
        "/fusebill/v1/bulkwriteoff",
        lambda s: {
            "accountUploadType": "BulkWriteOff",
            "data": [_first_invoice(s, "fb customer invoices"), 987654321],
        },
        dialect="fusebill",
        run_jobs=True,
    )
    yield Step(
        "fb bulk poll",
        "GET",
        lambda s: f"/fusebill/v1/BulkApi/{s.json('fb bulk')['id']}",
        dialect="fusebill",
        params={"view": "full"},
    )
    yield Step(
        "fb bulk process",
        "POST",
        "/fusebill/v1/BulkApi/Process/",
        lambda s: {"id": s.json("fb bulk")["id"]},
        dialect="fusebill",
        run_jobs=True,
    )
    yield Step(
        "fb bulk poll 2",
        "GET",
        lambda s: f"/fusebill/v1/BulkApi/{s.json('fb bulk')['id']}",
        dialect="fusebill",
        params={"view": "full"},
    )
    yield Step("fb bulk list", "GET", "/fusebill/v1/BulkApi", dialect="fusebill")
    yield Step(
        "fb bulk cancel done",
        "POST",
        lambda s: f"/fusebill/v1/BulkApi/Cancel/{s.json('fb bulk')['id']}",
        dialect="fusebill",
    )
    yield Step(
        "zuora invoice after write-off",
        "GET",
        lambda s: f"/zuora/v1/invoices/{_first_invoice(s, 'fb customer invoices'):032x}",
    )
    yield Step(
        "fb writeoff missing",
        "POST",
        "/fusebill/v1/invoices/writeoff",
        {"invoiceId": 987654321, "amount": 1},
        dialect="fusebill",
    )
    yield Step(
        "acct delete", "DELETE", lambda s: f"/zuora/v1/accounts/{s.json('acct3')['accountNumber']}"
    )
    yield Step("no token", "GET", "/zuora/v1/bill-runs", dialect="none")
    yield Step("fb no key", "GET", "/fusebill/v1/BulkApi", dialect="none")


def _first_invoice(seen: Seen, step: str) -> int:
    body = seen.json(step)
    first = body[0] if isinstance(body, list) else body["invoices"][0]
    return int(first["id"])


_RANDOM = re.compile(r'"(processId|requestId|access_token|jti)": ?"[^"]*"')


def dump(step: Step, response: httpx.Response) -> str:
    """One line of ``wire.jsonl``: what the client saw, minus per-run randomness (Zuora's
    process and request ids, tokens)."""
    return json.dumps(
        {
            "step": step.name,
            "status": response.status_code,
            "type": response.headers.get("content-type"),
            "body": _RANDOM.sub(r'"\1": "*"', response.text),
        },
        ensure_ascii=False,
    )
