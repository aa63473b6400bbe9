# The SDK types nearly every field Optional and leaves its constructors untyped.
# mypy: disable-error-code="union-attr, no-untyped-call, arg-type, index"
"""The issue's done-when sentence through zuora-sdk, unchanged: record an external payment,
apply it to two invoices, unapply part, refund it, and read the balances right (the
invoices', the account's, and the payment's applied/unapplied/refunded amounts)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from zuora_sdk.exceptions import ApiException
from zuora_sdk.models.apply_payment_invoice_application import ApplyPaymentInvoiceApplication
from zuora_sdk.models.apply_payment_request import ApplyPaymentRequest
from zuora_sdk.models.create_payment_invoice_application import CreatePaymentInvoiceApplication
from zuora_sdk.models.create_payment_request import CreatePaymentRequest
from zuora_sdk.models.create_refund_request import CreateRefundRequest
from zuora_sdk.models.create_refundwith_auto_unapply import CreateRefundwithAutoUnapply
from zuora_sdk.models.unapply_payment_invoice_application import UnapplyPaymentInvoiceApplication
from zuora_sdk.models.unapply_payment_request import UnapplyPaymentRequest
from zuora_sdk.models.update_refund_request import UpdateRefundRequest
from zuora_sdk.zuora_client import ZuoraClient

from billcycle.accounts import service as accounts
from billcycle.ids import to_zuora_id
from billcycle.invoicing import service as invoicing
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.payments.helpers import check_invariants, posted_invoices
from tests.support.zuora_sdk import make_sdk_client


@pytest.fixture
def client(live_url: str, tenant: NewTenant) -> ZuoraClient:
    return make_sdk_client(f"{live_url}/zuora", tenant.client_id, tenant.client_secret)


def money(value: float | int | None) -> Decimal:
    assert value is not None
    return Decimal(str(value))


def amounts(payment: object) -> tuple[object, ...]:
    return tuple(
        money(getattr(payment, name))
        for name in ("amount", "applied_amount", "unapplied_amount", "refund_amount")
    )


def test_external_payment_applied_unapplied_refunded_through_the_sdk(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant
) -> None:
    billed = posted_invoices(runtime, tenant.tenant_id, ["100", "40"])
    first, second = billed.invoice_ids
    with runtime.service_context(tenant.tenant_id) as ctx:
        account_number = accounts.require_account(ctx, billed.account_id).account_number
        second_number = invoicing.get_invoice(ctx, second).invoice_number
    payments, invoices = client.payments_api(), client.invoices_api()

    created = payments.create_payment(
        CreatePaymentRequest(
            account_number=account_number,
            amount=150,
            currency="USD",
            type="External",
            effective_date="2026-01-10",
            comment="check 1001",
        )
    )
    assert (created.success, created.status, created.type, created.number) == (
        True,
        "Processed",
        "External",
        "P-00000001",
    )
    assert created.account_id == to_zuora_id(billed.account_id)
    assert created.account_number == account_number
    assert amounts(created) == (150, 0, 150, 0)
    assert created.effective_date == "2026-01-10"
    assert created.created_date == "2026-01-10 09:00:00"

    applied = payments.apply_payment(
        created.number,
        ApplyPaymentRequest(
            invoices=[
                ApplyPaymentInvoiceApplication(invoice_id=to_zuora_id(first), amount=100),
                ApplyPaymentInvoiceApplication(invoice_number=second_number, amount=30.5),
            ]
        ),
    )
    assert amounts(applied) == (150, Decimal("130.5"), Decimal("19.5"), 0)
    assert money(invoices.get_invoice(to_zuora_id(first)).balance) == 0
    assert money(invoices.get_invoice(second_number).balance) == Decimal("9.5")

    unapplied = payments.unapply_payment(
        created.id,
        UnapplyPaymentRequest(
            invoices=[UnapplyPaymentInvoiceApplication(invoice_id=to_zuora_id(first), amount=25)]
        ),
    )
    assert amounts(unapplied) == (150, Decimal("105.5"), Decimal("44.5"), 0)
    # Invoice Settlement: unapplied money stays on the payment; none becomes credit balance.
    assert money(unapplied.credit_balance_amount) == 0
    metrics = client.accounts_api().get_account(account_number).metrics
    assert money(metrics.credit_balance) == 0
    assert money(metrics.unapplied_payment_amount) == Decimal("44.5")
    got = invoices.get_invoice(to_zuora_id(first))
    assert (money(got.balance), money(got.payment_amount)) == (Decimal(25), Decimal(75))

    refund = payments.create_refund_payment(
        created.number,
        CreateRefundRequest(total_amount=44.5, type="External", method_type="Check"),
    )
    assert (refund.success, refund.number, refund.status, refund.type) == (
        True,
        "R-00000001",
        "Processed",
        "External",
    )
    assert (refund.payment_id, refund.payment_number) == (created.id, created.number)
    assert money(refund.amount) == Decimal("44.5")
    assert refund.refund_date == "2026-01-10"

    # Refund the rest, taking it back from the second invoice first.
    rest = payments.refund_paymentwith_auto_unapply(
        created.number,
        CreateRefundwithAutoUnapply(
            total_amount=10,
            type="External",
            method_type="Cash",
            invoices=[
                ApplyPaymentInvoiceApplication(invoice_number=second_number, amount=10),
            ],
        ),
    )
    assert money(rest.amount) == 10

    after = payments.get_payment(created.id)
    assert amounts(after) == (150, Decimal("95.5"), 0, Decimal("54.5"))
    assert money(after.credit_balance_amount) == 0
    assert money(invoices.get_invoice(second_number).balance) == Decimal("19.5")
    account = client.accounts_api().get_account(account_number)
    # Owed: 25 + 19.5; no unapplied payment money is left on the account.
    assert money(account.metrics.balance) == Decimal("44.5")
    assert money(account.metrics.credit_balance) == 0
    assert money(account.metrics.unapplied_payment_amount) == 0

    # Refunds by number and id; notes change, money does not.
    refunds = client.refunds_api()
    updated = refunds.update_refund(
        refund.id, UpdateRefundRequest(comment="sent by check", reason_code="Other")
    )
    assert (updated.comment, updated.reason_code, money(updated.amount)) == (
        "sent by check",
        "Other",
        Decimal("44.5"),
    )
    assert refunds.get_refund(refund.number).id == refund.id
    listed = refunds.get_refunds(payment_id=created.id, sort="-number")
    assert [r.number for r in listed.refunds] == ["R-00000001", "R-00000002"]

    canceled = refunds.cancel_refund(refund.number)
    assert canceled.status == "Canceled"
    assert canceled.cancelled_on == "2026-01-10 09:00:00"
    assert amounts(payments.get_payment(created.number)) == (
        150,
        Decimal("95.5"),
        Decimal("44.5"),
        10,
    )
    assert refunds.delete_refund(refund.number).success is True
    with pytest.raises(ApiException) as gone:
        refunds.get_refund(refund.id)
    assert gone.value.status == 404

    with runtime.service_context(tenant.tenant_id) as ctx:
        check_invariants(ctx)


def test_list_pages_filters_and_sorts_through_the_sdk(
    client: ZuoraClient, runtime: Runtime, tenant: NewTenant
) -> None:
    billed = posted_invoices(runtime, tenant.tenant_id, ["100", "40"])
    first, second = billed.invoice_ids
    payments = client.payments_api()
    account_id = to_zuora_id(billed.account_id)
    numbers = []
    for amount, invoice in ((60, first), (25, second), (10, None), (5, None), (1, None)):
        created = payments.create_payment(
            CreatePaymentRequest(
                account_id=account_id,
                amount=amount,
                currency="USD",
                type="External",
                invoices=(
                    [
                        CreatePaymentInvoiceApplication(
                            invoice_id=to_zuora_id(invoice), amount=amount
                        )
                    ]
                    if invoice
                    else None
                ),
            )
        )
        numbers.append(created.number)
    assert payments.get_payment(numbers[0]).applied_amount == 60

    # Newest number first by default; three pages of two; nextPage absent on the last.
    seen = []
    page = payments.get_retrieve_all_payments(page_size=2)
    pages = 1
    while True:
        seen += [p.number for p in page.payments]
        if page.next_page is None:
            break
        assert f"page={pages + 1}" in page.next_page
        page = payments.get_retrieve_all_payments(page_size=2, page=pages + 1)
        pages += 1
    assert (pages, seen) == (3, list(reversed(numbers)))

    applied = payments.get_retrieve_all_payments(applied_amount=0, sort="-amount")
    assert [money(p.amount) for p in applied.payments] == [1, 5, 10]
    assert applied.next_page is None
    by_unapplied = payments.get_retrieve_all_payments(unapplied_amount=10, account_id=account_id)
    assert [p.number for p in by_unapplied.payments] == [numbers[2]]
    # creditBalanceAmount is 0 on every payment (Invoice Settlement): the filter matches
    # them all at 0 and none at their unapplied amount; as a sort key it changes nothing.
    no_credit = payments.get_retrieve_all_payments(
        credit_balance_amount=0, account_id=account_id, sort="creditBalanceAmount"
    )
    everything = payments.get_retrieve_all_payments(account_id=account_id)
    assert [p.number for p in no_credit.payments] == [p.number for p in everything.payments]
    assert payments.get_retrieve_all_payments(credit_balance_amount=10).payments == []
    assert payments.get_retrieve_all_payments(number=numbers[1]).payments[0].number == numbers[1]
    two = payments.get_retrieve_all_payments(status="Processed", type="External", sort="+amount")
    assert [money(p.amount) for p in two.payments] == [60, 25, 10, 5, 1]
    assert payments.get_retrieve_all_payments(currency="EUR").payments == []
