"""Event types the outbox tests did not reach: a subscription cancelled and renewed (by
hand and by the bill run's auto-renewal path), an invoice emailed, and a refund's
lifecycle (created, processed or failed at the gateway, cancelled). Each is read back
from the outbox in the transaction's aftermath, payload included."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from billcycle.events import service as events
from billcycle.events.models import Event
from billcycle.events.statuses import EventType
from billcycle.gateways.interface import RefundRequest
from billcycle.notifications.mailer import OutboxMailer
from billcycle.notifications.service import email_invoices
from billcycle.payments import charging, gateway_refunds, refunds
from billcycle.payments.inputs import NewRefund
from billcycle.payments.statuses import PaymentType, RefundMethodType, RefundStatus
from billcycle.runtime import Runtime
from billcycle.subscriptions import lifecycle, service
from billcycle.subscriptions.inputs import Cancellation, NewSubscription, ObjectKey, RatePlanInput
from billcycle.tenancy.service import NewTenant
from tests.charging.helpers import Sleeps, request, setup
from tests.gateways.helpers import open_test_gateway
from tests.notifications.helpers import invoice_for
from tests.payments.helpers import pay, posted_invoices
from tests.subscriptions.factories import flat, setup_in
from tests.support.api import Api


def _of(runtime: Runtime, tenant_id: int, event_type: EventType) -> list[Event]:
    with runtime.service_context(tenant_id) as ctx:
        found = events.list_events(ctx, types=[event_type], limit=1000)
        ctx.session.expunge_all()
        return found


def test_subscriptions_cancelled_and_renewed_write_their_events(
    runtime: Runtime, tenant: NewTenant
) -> None:
    t = tenant.tenant_id
    with runtime.service_context(t) as ctx:
        data = setup_in(ctx, flat("100"))

        def subscription(**fields: object) -> int:
            values: dict[str, object] = {
                "account": ObjectKey(id=None, text=data.account_number),
                "contract_effective_date": date(2026, 1, 1),
                "term_type": "TERMED",
                "initial_term": 1,
                "renewal_term": 1,
                "auto_renew": True,
                "rate_plans": (RatePlanInput(ObjectKey(id=data.plan.rate_plan_id, text=""), ()),),
                **fields,
            }
            return service.create_subscription(ctx, NewSubscription(**values)).id  # type: ignore[arg-type]

        by_hand, automatic, cancelled = subscription(), subscription(), subscription()
        lifecycle.renew_subscription(ctx, ObjectKey(id=by_hand, text=""))
        lifecycle.cancel_subscription(
            ctx, ObjectKey(id=cancelled, text=""), Cancellation("SpecificDate", date(2026, 1, 20))
        )
        # The auto-renewal a bill run does for its accounts' subscriptions due by its date.
        lifecycle.renew_due_subscriptions(ctx, [data.account_id], date(2026, 2, 15))

    renewed = _of(runtime, t, EventType.SUBSCRIPTION_RENEWED)
    assert [(e.object_id, "automatic" in e.payload) for e in renewed] == [
        (by_hand, False),
        (automatic, True),
    ]
    assert renewed[1].payload["automatic"] is True
    assert renewed[0].payload["object"]["term_end_date"] == "2026-03-01"
    [gone] = _of(runtime, t, EventType.SUBSCRIPTION_CANCELLED)
    assert gone.object_type == "subscription"
    assert gone.object_id == cancelled
    assert gone.payload["object"]["status"] == "Cancelled"
    assert gone.payload["object"]["cancelled_date"] == "2026-01-20"


def test_an_emailed_invoice_writes_invoice_emailed(
    api: Api, runtime: Runtime, tmp_path: Path
) -> None:
    t = api.tenant.tenant_id
    invoice_id = invoice_for(api, runtime)
    with runtime.service_context(t) as ctx:
        outcome = email_invoices(
            ctx, [invoice_id], OutboxMailer(tmp_path / "mail"), resend=False, skip_zero_amount=False
        )
    assert outcome.failed == 0
    [emailed] = _of(runtime, t, EventType.INVOICE_EMAILED)
    assert (emailed.object_type, emailed.object_id) == ("invoice", invoice_id)
    assert emailed.payload["object"]["recipient"] == "jane@example.com"
    assert emailed.payload["object"]["emailed_at"]
    assert emailed.payload["object"]["id"] == invoice_id
    # A failed send writes no event: nothing else was emailed.
    with runtime.service_context(t) as ctx:
        email_invoices(
            ctx, [invoice_id], OutboxMailer(tmp_path / "mail"), resend=False, skip_zero_amount=False
        )  # already emailed
    assert len(_of(runtime, t, EventType.INVOICE_EMAILED)) == 1


def test_a_refunds_lifecycle_writes_its_events(runtime: Runtime, tenant: NewTenant) -> None:
    t = tenant.tenant_id
    # An external refund, then cancelled: created, payment.refunded, cancelled.
    billed = posted_invoices(runtime, t, ["100"])
    with runtime.service_context(t) as ctx:
        payment_id = pay(ctx, billed.account_id, "60", (billed.invoice_ids[0], "20")).id
        external = refunds.refund_payment(
            ctx,
            payment_id,
            NewRefund(amount=Decimal("40"), method_type=RefundMethodType.CASH),
        )
    with runtime.service_context(t) as ctx:
        refunds.cancel_refund(ctx, external.id)
    [created] = _of(runtime, t, EventType.REFUND_CREATED)
    assert (created.object_type, created.object_id) == ("refund", external.id)
    assert created.payload["object"]["amount"] == "40.00"
    [cancelled] = _of(runtime, t, EventType.REFUND_CANCELLED)
    assert cancelled.object_id == external.id
    assert cancelled.payload["object"]["status"] == RefundStatus.CANCELED.value
    assert [e.object_id for e in _of(runtime, t, EventType.PAYMENT_REFUNDED)] == [payment_id]

    # Through a gateway: one processed, then one declined (failed).
    s = setup(runtime, t, ["100"])
    charged = charging.charge_now(runtime, t, request(s, 10000, (s.invoice_ids[0], None)))
    assert charged.payment_id is not None
    assert charged.transaction_id is not None
    electronic = NewRefund(amount=Decimal("30"), refund_type=PaymentType.ELECTRONIC)
    good = gateway_refunds.refund_now(runtime, t, charged.payment_id, electronic, auto_unapply=True)
    open_test_gateway(runtime, t, Sleeps()).refund(
        RefundRequest(
            idempotency_key="outside-1",
            transaction_id=charged.transaction_id,
            amount=Decimal(60),
            currency="USD",
        )
    )
    bad = gateway_refunds.refund_now(
        runtime,
        t,
        charged.payment_id,
        NewRefund(amount=Decimal("20"), refund_type=PaymentType.ELECTRONIC),
        auto_unapply=True,
    )
    assert (good.status, bad.status) == (RefundStatus.PROCESSED, RefundStatus.ERROR)
    assert [e.object_id for e in _of(runtime, t, EventType.REFUND_PROCESSED)] == [good.id]
    [failed] = _of(runtime, t, EventType.REFUND_FAILED)
    assert failed.object_id == bad.id
    assert failed.payload["object"]["status"] == RefundStatus.ERROR.value
    assert {e.object_id for e in _of(runtime, t, EventType.REFUND_CREATED)} == {
        external.id,
        good.id,
        bad.id,
    }
