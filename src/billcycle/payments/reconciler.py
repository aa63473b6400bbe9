"""The reconciler: settles electronic payments whose gateway outcome billcycle does not
know (a pending sale, a timeout, a process killed between the gateway's approval and
billcycle's commit) by asking the gateway about the attempt's idempotency key.

========================  ==================================================
``gateway.status(key)``   the payment
========================  ==================================================
Approved                  Processed, its intended applications made (once)
Declined, Voided          Error
NotFound                  Error: the charge never reached the gateway, so a
                          retry (a new payment, a new key) is safe
Pending, Unknown          stays Processing, asked again on a later sweep
========================  ==================================================

It never charges: it only asks. Each answer is recorded under the payment's lock and
only while the payment is still Processing, so two reconcilers (or a reconciler and
the charging process that finally finishes) record it once. Only payments Processing
for longer than ``payment_reconcile_after_seconds`` are looked at: longer than any
gateway call lasts, so a call still in flight is not taken for one never received.
Refunds still Processing are looked up the same way (``gateway_refunds``). A payment
run's slice left in flight as long (``payments_in_flight``: its worker died before
writing its payments) has its payments written Processing first, then asked.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from billcycle import metrics
from billcycle.context import ServiceContext
from billcycle.db.session import read_only_unit
from billcycle.errors import DomainError
from billcycle.gateways import service as gateways
from billcycle.gateways.interface import Gateway
from billcycle.payments import charging, gateway_refunds
from billcycle.payments import pending_repository as repo
from billcycle.payments import service as payments
from billcycle.payments.charging import ChargeOutcome
from billcycle.payments.statuses import PaymentStatus, PaymentType
from billcycle.runtime import Runtime

log = logging.getLogger(__name__)


def reconcile_payment(
    runtime: Runtime,
    tenant_id: int,
    payment_id: int,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> ChargeOutcome | None:
    """Ask the gateway about one Processing electronic payment and record the answer;
    None when it is no longer Processing (or not electronic)."""
    with runtime.service_context(tenant_id) as ctx:
        payment = payments.get_payment(ctx, payment_id)
        if (
            payment.status != PaymentStatus.PROCESSING
            or payment.payment_type != PaymentType.ELECTRONIC
        ):
            return None
        key = payment.attempt_key or payment.gateway_order_id or payment.number
        gateway = _open(ctx, payment.gateway_id, sleep)
    with metrics.timed_gateway_call(metrics.gateway_label(gateway), "status") as answered:
        result = gateway.status(key)
        answered.append(result.outcome.value.lower())
    with runtime.service_context(tenant_id) as ctx:
        outcome = charging.record_answer(ctx, payment_id, result)
        charging.notify_collections(ctx, [outcome])
        return outcome


def reconcile_due(
    runtime: Runtime,
    *,
    older_than: timedelta | None = None,
    limit: int | None = None,
    tenant_id: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[ChargeOutcome]:
    """One sweep over every tenant (``tenant_id``: only that one): Processing electronic
    payments and refunds sent more than ``older_than`` ago (the setting by default), the
    longest not looked at first, at most ``limit`` of each. A failure on one (its
    gateway gone, say) is logged and the sweep goes on."""
    settings = runtime.settings
    age = (
        older_than
        if older_than is not None
        else timedelta(seconds=settings.payment_reconcile_after_seconds)
    )
    batch = limit if limit is not None else settings.payment_reconcile_batch
    before = runtime.clock.now() - age
    # Payment runs' slices left in flight as long (their worker died and no worker
    # retook the chunk): their payments written Processing first, asked below.
    with read_only_unit(runtime.session_factory) as session:
        stale = repo.stale_in_flight(session, before, tenant_id)
    for owner, in_flight_id in stale:
        with runtime.service_context(owner) as ctx:
            charging.hold_write_lock(ctx)
            charging.recover_in_flight(ctx, [in_flight_id])
    with read_only_unit(runtime.session_factory) as session:
        due = repo.stale_processing(session, before, batch, tenant_id)
        refunds_due = repo.stale_processing_refunds(session, before, batch, tenant_id)
    outcomes: list[ChargeOutcome] = []
    for owner, payment_id in due:
        try:
            outcome = reconcile_payment(runtime, owner, payment_id, sleep=sleep)
        except DomainError:
            log.exception("reconciling payment %s of tenant %s", payment_id, owner)
            continue
        if outcome is not None:
            outcomes.append(outcome)
    for owner, refund_id in refunds_due:
        try:
            gateway_refunds.reconcile_refund(runtime, owner, refund_id, sleep=sleep)
        except DomainError:
            log.exception("reconciling refund %s of tenant %s", refund_id, owner)
    return outcomes


def _open(ctx: ServiceContext, gateway_id: int | None, sleep: Callable[[float], None]) -> Gateway:
    return gateways.open_gateway(ctx, gateway_id, sleep=sleep)
