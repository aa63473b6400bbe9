"""A run's explicit ``data[]`` records are checked and stored when the run is created:
each bad record is refused with the message naming its index (the first bad one in
the order the checks run), nothing is stored then, and a good set is stored as given,
one row per record in the records' order, account and currency from the invoice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from billcycle.accounts import repository as accounts
from billcycle.errors import DomainError
from billcycle.invoicing import repository as invoices
from billcycle.paymentruns import service
from billcycle.paymentruns.models import PaymentRun, PaymentRunData
from billcycle.paymentruns.spec import DataRecord, PaymentRunSpec
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.paymentruns.helpers import add_method, default_gateway
from tests.payments.helpers import pay, posted_invoices

TARGET = date(2026, 1, 10)


def _create(runtime: Runtime, tenant_id: int, *records: DataRecord) -> list[dict[str, Any]]:
    """Create the run (rolled back when refused) and return its stored records."""
    with runtime.service_context(tenant_id) as ctx:
        run = service.create_payment_run(
            ctx, PaymentRunSpec(target_date=TARGET, data=records), created_by="test"
        )
        rows = ctx.session.scalars(
            select(PaymentRunData)
            .where(PaymentRunData.payment_run_id == run.id)
            .order_by(PaymentRunData.id)
        ).all()
        return [
            {
                "tenant": row.tenant_id,
                "account": row.account_id,
                "invoice": row.invoice_id,
                "currency": row.currency,
                "from_input": row.from_input,
                "amount": row.amount_minor,
                "method": row.payment_method_id,
                "gateway": row.payment_gateway_id,
                "comment": row.comment,
                "collected": row.amount_collected_minor,
                "payment": row.payment_id,
                "result": row.result,
            }
            for row in rows
        ]


def _refused(runtime: Runtime, tenant_id: int, *records: DataRecord) -> str:
    with pytest.raises(DomainError) as caught:
        _create(runtime, tenant_id, *records)
    with runtime.service_context(tenant_id) as ctx:
        runs = select(PaymentRun).where(PaymentRun.tenant_id == tenant_id)
        assert ctx.session.scalars(runs).all() == []
        assert (
            ctx.session.scalars(
                select(PaymentRunData).where(PaymentRunData.tenant_id == tenant_id)
            ).all()
            == []
        )
    return str(caught.value.message)


def _numbers(runtime: Runtime, tenant_id: int, account_id: int, invoice_id: int) -> tuple[str, str]:
    with runtime.service_context(tenant_id) as ctx:
        account = accounts.get_account(ctx.session, tenant_id, account_id)
        invoice = invoices.get_invoice(ctx.session, tenant_id, invoice_id)
        assert account is not None
        assert invoice is not None
        return account.account_number, invoice.invoice_number


def test_good_records_are_stored_in_order(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    gateway = default_gateway(runtime, t)
    a = posted_invoices(runtime, t, ["10.00", "20.00"])
    b = posted_invoices(runtime, t, ["30.00"], currency="EUR")
    method = add_method(runtime, t, a.account_id, "tok_visa")
    _, a0_number = _numbers(runtime, t, a.account_id, a.invoice_ids[0])
    b_number, _ = _numbers(runtime, t, b.account_id, b.invoice_ids[0])

    stored = _create(
        runtime,
        t,
        DataRecord(invoice_id=b.invoice_ids[0], account_number=b_number),
        DataRecord(
            invoice_number=a0_number,
            amount=Decimal("4.5"),
            payment_gateway_id=gateway,
            comment="first",
        ),
        DataRecord(account_id=a.account_id, invoice_id=a.invoice_ids[1], payment_method_id=method),
    )

    common = {"tenant": t, "from_input": True, "collected": 0, "payment": None, "result": None}
    assert stored == [
        {
            **common,
            "account": b.account_id,
            "invoice": b.invoice_ids[0],
            "currency": "EUR",
            "amount": None,
            "method": None,
            "gateway": None,
            "comment": None,
        },
        {
            **common,
            "account": a.account_id,
            "invoice": a.invoice_ids[0],
            "currency": "USD",
            "amount": 450,
            "method": None,
            "gateway": gateway,
            "comment": "first",
        },
        {
            **common,
            "account": a.account_id,
            "invoice": a.invoice_ids[1],
            "currency": "USD",
            "amount": None,
            "method": method,
            "gateway": None,
            "comment": None,
        },
    ]


def test_each_bad_record_is_refused_with_its_index(
    runtime: Runtime, tenant: NewTenant, other_tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    default_gateway(runtime, t)
    a = posted_invoices(runtime, t, ["10.00", "20.00"])
    b = posted_invoices(runtime, t, ["30.00"])
    draft = posted_invoices(runtime, t, ["5.00"], status="Draft")
    theirs = posted_invoices(runtime, other_tenant.tenant_id, ["7.00"])
    their_method = add_method(runtime, other_tenant.tenant_id, theirs.account_id, "tok_visa")
    b_method = add_method(runtime, t, b.account_id, "tok_visa")
    a_number, a0_number = _numbers(runtime, t, a.account_id, a.invoice_ids[0])
    _, draft_number = _numbers(runtime, t, draft.account_id, draft.invoice_ids[0])
    good = DataRecord(invoice_id=a.invoice_ids[1])

    # Every invoice is looked up before any other check: a missing one wins.
    message = _refused(
        runtime, t, DataRecord(invoice_id=draft.invoice_ids[0]), DataRecord(invoice_id=999_999)
    )
    assert message == "data[1]: invoice {invoice} not found."
    assert _refused(runtime, t, good, DataRecord(invoice_number="INV-NOPE")) == (
        "data[1]: invoice INV-NOPE not found."
    )
    assert _refused(runtime, t, good, DataRecord(invoice_id=theirs.invoice_ids[0])) == (
        "data[1]: invoice {invoice} not found."
    )
    assert _refused(runtime, t, good, DataRecord(account_id=a.account_id)) == (
        "data[1]: name the invoice to collect (documentId or documentNumber)."
    )
    # Then record by record, in order.
    assert _refused(
        runtime, t, good, DataRecord(account_number="A-NOPE", invoice_id=a.invoice_ids[0])
    ) == ("data[1]: account A-NOPE not found.")
    assert _refused(
        runtime, t, good, DataRecord(account_id=theirs.account_id, invoice_id=a.invoice_ids[0])
    ) == ("data[1]: account {account} not found.")
    assert _refused(
        runtime, t, good, DataRecord(account_id=b.account_id, invoice_id=a.invoice_ids[0])
    ).startswith(f"data[1]: invoice {a0_number} does not belong to account ")
    assert _refused(runtime, t, good, DataRecord(invoice_number=draft_number)) == (
        f"data[1]: invoice {draft_number} is Draft: only posted invoices are collected."
    )
    assert _refused(
        runtime,
        t,
        good,
        DataRecord(account_number=a_number, invoice_id=a.invoice_ids[1]),
    ) == (
        f"data[1]: invoice {_numbers(runtime, t, a.account_id, a.invoice_ids[1])[1]}"
        " is named twice."
    )
    assert _refused(
        runtime, t, good, DataRecord(invoice_id=a.invoice_ids[0], amount=Decimal("10.01"))
    ) == (f"data[1]: the amount 10.01 is more than invoice {a0_number}'s balance (10.00).")
    assert _refused(
        runtime, t, good, DataRecord(invoice_id=a.invoice_ids[0], amount=Decimal("0"))
    ) == ("data[1]: the amount must be positive.")
    assert "data[1]: " in _refused(
        runtime, t, good, DataRecord(invoice_id=a.invoice_ids[0], amount=Decimal("1.001"))
    )
    assert _refused(
        runtime, t, good, DataRecord(invoice_id=a.invoice_ids[0], payment_method_id=b_method)
    ) == ("data[1]: payment method {method} not found on the invoice's account.")
    assert _refused(
        runtime, t, good, DataRecord(invoice_id=a.invoice_ids[0], payment_method_id=their_method)
    ) == ("data[1]: payment method {method} not found on the invoice's account.")
    assert _refused(
        runtime, t, good, DataRecord(invoice_id=a.invoice_ids[0], payment_gateway_id=999_999)
    ) == ("data[1]: payment gateway {gateway} not found.")
    assert _refused(
        runtime, t, good, DataRecord(invoice_id=a.invoice_ids[0], comment="x" * 256)
    ) == ("data[1]: the comment is longer than 255 characters.")
    # The first bad record in order wins, whatever is wrong with a later one.
    assert _refused(
        runtime,
        t,
        DataRecord(invoice_id=a.invoice_ids[0], comment="x" * 256),
        DataRecord(account_number="A-NOPE", invoice_id=a.invoice_ids[1]),
    ) == ("data[0]: the comment is longer than 255 characters.")


def test_an_invoice_without_a_balance_is_refused(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    default_gateway(runtime, t)
    paid = posted_invoices(runtime, t, ["10.00"])
    with runtime.service_context(t) as ctx:
        pay(ctx, paid.account_id, "10.00", (paid.invoice_ids[0], "10.00"))
    _, number = _numbers(runtime, t, paid.account_id, paid.invoice_ids[0])
    assert _refused(runtime, t, DataRecord(invoice_id=paid.invoice_ids[0])) == (
        f"data[0]: invoice {number} has no balance to collect."
    )
