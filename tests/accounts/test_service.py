"""The accounts service: the rules every dialect relies on."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billcycle.accounts import service
from billcycle.accounts.inputs import AccountChanges, ContactChanges, ContactInput
from billcycle.accounts.models import Account, Contact
from billcycle.collections.models import CollectionEvent
from billcycle.db.session import unit_of_work
from billcycle.errors import InvalidValue, MissingField, NotFound, RuleViolation
from billcycle.invoicing.models import Invoice, InvoiceItem
from billcycle.payments.models import Payment
from billcycle.runtime import Runtime
from billcycle.subscriptions.models import Subscription, SubscriptionCharge
from billcycle.tenancy.service import NewTenant, create_tenant
from tests.accounts.factories import add_invoice, add_subscription, apply_to_invoice, new_account


def test_create_numbers_accounts_and_applies_defaults(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        first = new_account(ctx, currency="eur")
        second = new_account(ctx)
        assert (first.account_number, second.account_number) == ("A00000001", "A00000002")
        assert first.currency == "EUR"
        assert first.batch == 1
        assert first.payment_term == "Due Upon Receipt"
        assert first.auto_pay is False
        assert first.status == "Active"
        assert first.created_at == runtime.clock.now()


def test_sold_to_copies_bill_to_unless_shared_or_given(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        copied = new_account(ctx)
        bill_to, sold_to = service.contacts_of(ctx, copied)
        assert bill_to is not None
        assert sold_to is not None
        assert bill_to.id != sold_to.id
        assert (sold_to.first_name, sold_to.last_name) == ("Ada", "Lovelace")

        shared = new_account(ctx, sold_to_same_as_bill_to=True)
        assert shared.sold_to_contact_id == shared.bill_to_contact_id

        given = new_account(
            ctx,
            sold_to_same_as_bill_to=True,
            sold_to_contact=ContactInput(first_name="Grace", last_name="Hopper", country="gb"),
        )
        _, sold = service.contacts_of(ctx, given)
        assert sold is not None
        assert (sold.first_name, sold.country) == ("Grace", "United Kingdom")


def test_draft_status_on_request_but_never_canceled(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert new_account(ctx, status="Draft").status == "Draft"
        with pytest.raises(InvalidValue):
            new_account(ctx, status="Canceled")


def test_bill_cycle_day_rules(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        # 0 is Zuora's auto-set; billcycle stores a real day: today's (clock: 2026-01-10).
        assert new_account(ctx, bill_cycle_day=0).bill_cycle_day == 10
        assert new_account(ctx, bill_cycle_day=31).bill_cycle_day == 31
        for bad in (32, -1):
            with pytest.raises(InvalidValue):
                new_account(ctx, bill_cycle_day=bad)
        with pytest.raises(MissingField):
            new_account(ctx, bill_cycle_day=None)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"name": "   "}, MissingField),
        ({"currency": "XYZ"}, InvalidValue),
        ({"currency": "XAU"}, InvalidValue),
        ({"batch": 51}, InvalidValue),
        ({"batch": 0}, InvalidValue),
        ({"payment_term": "Net 31"}, InvalidValue),
        ({"name": "x" * 256}, InvalidValue),
        ({"crm_id": "x" * 101}, InvalidValue),
        ({"bill_to_contact": ContactInput(first_name="", last_name="L")}, MissingField),
        (
            {"bill_to_contact": ContactInput(first_name="A", last_name="L", work_email="nope")},
            InvalidValue,
        ),
        (
            {"bill_to_contact": ContactInput(first_name="A", last_name="L", country="Atlantis")},
            InvalidValue,
        ),
        (
            {"bill_to_contact": ContactInput(first_name="A", last_name="L", city="c" * 41)},
            InvalidValue,
        ),
    ],
)
def test_invalid_accounts_are_refused(
    runtime: Runtime, tenant: NewTenant, overrides: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error), runtime.service_context(tenant.tenant_id) as ctx:
        new_account(ctx, **overrides)
    with runtime.service_context(tenant.tenant_id) as ctx:
        for model in (Account, Contact):
            count = ctx.session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == ctx.tenant_id)
            )
            assert count == 0


def test_client_chosen_numbers(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        assert new_account(ctx, account_number="ACME-1").account_number == "ACME-1"
        with pytest.raises(InvalidValue, match="already exists"):
            new_account(ctx, account_number="ACME-1")
        with pytest.raises(InvalidValue, match="reserved"):
            new_account(ctx, account_number="A00000099")
        with pytest.raises(InvalidValue):
            new_account(ctx, account_number="a/b")


def test_accounts_are_invisible_to_other_tenants(runtime: Runtime, tenant: NewTenant) -> None:
    with unit_of_work(runtime.session_factory) as session:
        other = create_tenant(session, runtime.clock, "other")
    with runtime.service_context(other.tenant_id) as ctx:
        theirs = new_account(ctx)
    with runtime.service_context(tenant.tenant_id) as ctx:
        with pytest.raises(NotFound):
            service.find_account(ctx, account_id=theirs.id, number=theirs.account_number)
        with pytest.raises(NotFound):
            service.require_account(ctx, theirs.id)


def test_update_changes_only_given_fields(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = new_account(ctx, crm_id="crm-1", notes="hello")
        service.update_account(
            ctx,
            account,
            AccountChanges(name="Acme 2", payment_term="net 30", batch=7, crm_id=None),
        )
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = service.require_account(ctx, account.id)
        assert (account.name, account.payment_term, account.batch) == ("Acme 2", "Net 30", 7)
        assert account.crm_id is None
        assert account.notes == "hello"
        assert account.currency == "USD"


def test_currency_is_fixed_once_billing_history_exists(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        fresh = new_account(ctx)
        service.update_account(ctx, fresh, AccountChanges(currency="gbp"))
        assert fresh.currency == "GBP"

        invoiced = new_account(ctx)
        add_invoice(ctx, invoiced, amount_minor=100, status="Draft")
        with pytest.raises(RuleViolation):
            service.update_account(ctx, invoiced, AccountChanges(currency="EUR"))
        # Re-stating the same currency is not a change.
        service.update_account(ctx, invoiced, AccountChanges(currency="usd"))

        subscribed = new_account(ctx)
        add_subscription(ctx, subscribed)
        with pytest.raises(RuleViolation):
            service.update_account(ctx, subscribed, AccountChanges(currency="EUR"))
        with pytest.raises(RuleViolation):
            service.update_account(ctx, subscribed, AccountChanges(bill_cycle_day=0))


def test_status_transitions(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = new_account(ctx, status="Draft")
        for status in ("Active", "Canceled", "Active"):
            service.update_account(ctx, account, AccountChanges(status=status))
            assert account.status == status
        with pytest.raises(RuleViolation):
            service.update_account(ctx, account, AccountChanges(status="Draft"))
        with pytest.raises(InvalidValue):
            service.update_account(ctx, account, AccountChanges(status="Closed"))


def test_updating_a_shared_sold_to_contact_splits_it(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = new_account(ctx, sold_to_same_as_bill_to=True)
        service.update_account(
            ctx, account, AccountChanges(sold_to_contact=ContactChanges(first_name="Grace"))
        )
        bill_to, sold_to = service.contacts_of(ctx, account)
        assert bill_to is not None
        assert sold_to is not None
        assert bill_to.id != sold_to.id
        assert (bill_to.first_name, sold_to.first_name) == ("Ada", "Grace")
        assert sold_to.last_name == "Lovelace"

        service.update_account(
            ctx, account, AccountChanges(bill_to_contact=ContactChanges(city="Paris"))
        )
        assert bill_to.city == "Paris"
        assert sold_to.city is None
        with pytest.raises(MissingField):
            service.update_account(
                ctx, account, AccountChanges(bill_to_contact=ContactChanges(last_name=""))
            )


def test_metrics_sum_posted_invoices_less_ledger(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = new_account(ctx)
        first = add_invoice(ctx, account, amount_minor=10_000)
        add_invoice(ctx, account, amount_minor=5_005)
        add_invoice(ctx, account, amount_minor=7_000, status="Draft")
        add_invoice(ctx, account, amount_minor=9_000, status="Canceled")
        apply_to_invoice(ctx, first, 2_500)
        metrics = service.account_metrics(ctx, account)
        assert metrics.balance == Decimal("125.05")
        assert metrics.total_invoice_balance == Decimal("125.05")
        assert metrics.credit_balance == Decimal("0.00")
        assert metrics.contracted_mrr == Decimal("0.00")

        empty = service.account_metrics(ctx, new_account(ctx, currency="JPY"))
        assert str(empty.balance) == "0"


def test_summary_lists_recent_subscriptions_and_invoices(
    runtime: Runtime, tenant: NewTenant
) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = new_account(ctx)
        for day in range(1, 9):
            add_invoice(ctx, account, amount_minor=100 * day, invoice_date=date(2026, 1, day))
        add_invoice(ctx, account, amount_minor=1, status="Draft", invoice_date=date(2026, 1, 9))
        subscription = add_subscription(ctx, account)
        summary = service.account_summary(ctx, account)
        assert [row.amount_minor for row in summary.invoices] == [800, 700, 600, 500, 400, 300]
        assert summary.last_invoice_date == date(2026, 1, 8)
        assert [s.subscription.id for s in summary.subscriptions] == [subscription.id]
        assert [p.product_sku for p in summary.subscriptions[0].rate_plans] == [
            subscription.rate_plans[0].product_sku
        ]


def test_delete_cascades_drafts_and_subscriptions(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = new_account(ctx)
        draft = add_invoice(ctx, account, amount_minor=1_000, status="Draft")
        add_subscription(ctx, account, with_invoice_item_on=draft)
        account_id = account.id
    with runtime.service_context(tenant.tenant_id) as ctx:
        service.delete_account(ctx, service.require_account(ctx, account_id))
    with runtime.service_context(tenant.tenant_id) as ctx:
        with pytest.raises(NotFound):
            service.require_account(ctx, account_id)
        for model in (Invoice, InvoiceItem, Subscription, SubscriptionCharge, Contact):
            count = ctx.session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == ctx.tenant_id)
            )
            assert count == 0, model


def test_delete_is_refused_once_invoices_are_posted(runtime: Runtime, tenant: NewTenant) -> None:
    with runtime.service_context(tenant.tenant_id) as ctx:
        account = new_account(ctx)
        add_invoice(ctx, account, amount_minor=1_000)
        with pytest.raises(RuleViolation):
            service.delete_account(ctx, account)
        assert service.require_account(ctx, account.id) is account


def test_delete_removes_the_accounts_payments_and_collections_events(
    runtime: Runtime, tenant: NewTenant
) -> None:
    """Payments and collections events have no foreign key to the account (migration
    0044_pgfk_fewer_fk_checks: a payment run's inserts checked one a row); the account's
    delete removes them itself, and nothing of another account."""
    with runtime.service_context(tenant.tenant_id) as ctx:
        gone, kept = new_account(ctx), new_account(ctx)
        now = ctx.clock.now()
        for number, account in (("P-DEL-1", gone), ("P-KEEP-1", kept)):
            # A declined electronic payment: no ledger entry, so the account stays deletable.
            payment = Payment(
                tenant_id=ctx.tenant_id,
                account_id=account.id,
                number=number,
                amount_minor=1_000,
                currency="USD",
                effective_date=now.date(),
                payment_type="Electronic",
                status="Error",
                created_at=now,
                updated_at=now,
            )
            ctx.session.add(payment)
            ctx.session.flush()
            ctx.session.add(
                CollectionEvent(
                    tenant_id=ctx.tenant_id,
                    account_id=account.id,
                    event_type="PaymentFailed",
                    business_date=now.date(),
                    occurred_at=now,
                    payment_id=payment.id,
                    details={},
                )
            )
        gone_id, kept_id = gone.id, kept.id
    with runtime.service_context(tenant.tenant_id) as ctx:
        service.delete_account(ctx, service.require_account(ctx, gone_id))
    with runtime.service_context(tenant.tenant_id) as ctx:
        for model in (Payment, CollectionEvent):
            left = dict(
                ctx.session.execute(
                    select(model.account_id, func.count())
                    .where(model.tenant_id == ctx.tenant_id)
                    .group_by(model.account_id)
                ).all()
            )
            assert left == {kept_id: 1}, model
