"""Shared steps of the payment-run tests: autopay customers with posted invoices and a
card on the test gateway, runs created and read through the Zuora API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from billcycle.accounts import repository as accounts_repo
from billcycle.clock import FrozenClock
from billcycle.db.session import unit_of_work
from billcycle.gateways.models import TestGatewayCharge
from billcycle.gateways.test_gateway import charge_book
from billcycle.jobs import chunks
from billcycle.jobs.chunks import ClaimedChunk
from billcycle.jobs.dispatch import ManualDispatcher, TaskCall
from billcycle.jobs.models import WorkChunk
from billcycle.paymentmethods.statuses import PaymentMethodStatus
from billcycle.paymentruns import collect
from billcycle.paymentruns.ahead import DecisionsAhead
from billcycle.paymentruns.tasks import COLLECT
from billcycle.payments.models import Payment
from billcycle.runtime import Runtime
from billcycle.webhooks import service as webhooks
from tests.charging.helpers import add_method
from tests.gateways.helpers import configure_test_gateway
from tests.payments.helpers import balance, posted_invoices
from tests.support.api import Api

PAYMENT_RUNS = "/zuora/v1/payment-runs"

__all__ = ["add_method", "balance"]


@dataclass(frozen=True)
class Customer:
    account_id: int
    invoice_ids: list[int]
    method_id: int | None


def default_gateway(runtime: Runtime, tenant_id: int) -> int:
    """The tenant's default gateway: the test gateway."""
    return configure_test_gateway(runtime, tenant_id, make_default=True)


def customer(
    runtime: Runtime,
    tenant_id: int,
    amounts: list[str],
    token: str | None = "tok_visa",
    *,
    auto_pay: bool = True,
    method_status: PaymentMethodStatus = PaymentMethodStatus.ACTIVE,
) -> Customer:
    """An account with one posted invoice per amount (due in 2025) and, unless ``token``
    is None, a default card on that test token."""
    billed = posted_invoices(runtime, tenant_id, amounts)
    set_auto_pay(runtime, tenant_id, billed.account_id, auto_pay)
    method_id = (
        add_method(runtime, tenant_id, billed.account_id, token, status=method_status)
        if token is not None
        else None
    )
    return Customer(billed.account_id, billed.invoice_ids, method_id)


def set_auto_pay(runtime: Runtime, tenant_id: int, account_id: int, value: bool = True) -> None:
    with runtime.service_context(tenant_id) as ctx:
        account = accounts_repo.get_account(ctx.session, tenant_id, account_id)
        assert account is not None
        account.auto_pay = value


def create_run(api: Api, status: int = 200, **body: Any) -> dict[str, Any]:
    response = api.client.post(PAYMENT_RUNS, json=body, headers=api.zuora_headers)
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()
    return data


def started_run(
    api: Api, jobs: ManualDispatcher, runtime: Runtime, tenant_id: int
) -> tuple[str, int]:
    """A run created for 2026-01-10, its start task run (its chunks cut, none claimed)
    and each chunk's records taken (a chunk's first step, ``take_records``): its key and
    id, for tests that drive the chunks' phases themselves."""
    run = create_run(api, targetDate="2026-01-10")
    run_id = int(run["id"], 16)
    assert jobs.execute is not None
    jobs.execute(TaskCall("payment_run.start", {"tenant_id": tenant_id, "run_id": run_id}))
    take_records(runtime, tenant_id, run_id)
    return run["id"], run_id


def take_records(runtime: Runtime, tenant_id: int, run_id: int) -> int:
    """Every chunk's first step of a started run: its records selected and written
    (``collect.take_chunk_records``); returns how many in all."""
    with unit_of_work(runtime.session_factory) as session:
        ranges = session.execute(
            select(WorkChunk.first_id, WorkChunk.last_id)
            .where(WorkChunk.kind == COLLECT, WorkChunk.parent_id == run_id)
            .order_by(WorkChunk.seq)
        ).all()
    return sum(
        collect.take_chunk_records(runtime, tenant_id, run_id, first, last)
        for first, last in ranges
    )


def claim_collect_chunk(
    runtime: Runtime, run_id: int, worker: str, machine_clock: FrozenClock
) -> ClaimedChunk:
    """The run's next collect chunk, claimed by ``worker`` as a worker claims it."""
    with unit_of_work(runtime.session_factory) as session:
        chunk = chunks.claim_next(
            session,
            kind=COLLECT,
            parent_id=run_id,
            worker=worker,
            now=machine_clock.now(),
            lease=timedelta(seconds=runtime.settings.worker_lease_seconds),
        )
    assert chunk is not None
    return chunk


def collect_one_record_a_slice(
    runtime: Runtime,
    tenant_id: int,
    run_id: int,
    chunk: ClaimedChunk,
    keep_lease: collect.KeepLease,
    *,
    ahead: DecisionsAhead | None = None,
) -> None:
    """The chunk collected as a worker collects it, one record a slice and one slice in
    flight (each slice's begin and finish can be told apart), ``keep_lease`` renewing."""
    collect.collect_pipelined(
        runtime,
        tenant_id,
        run_id,
        chunk.first_id,
        chunk.last_id,
        keep_lease,
        in_flight=1,
        slice_records=1,
        ahead=ahead,
    )


def read(api: Api, path: str = "") -> dict[str, Any]:
    response = api.client.get(f"{PAYMENT_RUNS}{path}", headers=api.zuora_headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def run_to_end(api: Api, jobs: ManualDispatcher, **body: Any) -> dict[str, Any]:
    """Create a run-now payment run, let the workers finish it, answer it re-read."""
    created = create_run(api, **body)
    jobs.run_until_idle()
    return read(api, f"/{created['id']}")


def records(api: Api, run_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = read(api, f"/{run_id}/data")["data"]
    return data


def gateway_charges(runtime: Runtime, tenant_id: int) -> int:
    with charge_book(runtime.engine)() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(TestGatewayCharge)
                .where(TestGatewayCharge.tenant_id == tenant_id)
            )
            or 0
        )


def payments_of(runtime: Runtime, tenant_id: int) -> list[Payment]:
    with runtime.service_context(tenant_id) as ctx:
        return list(
            ctx.session.scalars(
                select(Payment).where(Payment.tenant_id == tenant_id).order_by(Payment.id)
            )
        )


def set_failures(runtime: Runtime, tenant_id: int, method_id: int, failures: int) -> None:
    """The method failed ``failures`` times in a row (what the retry rule reads)."""
    from billcycle.paymentmethods import repository as methods

    with runtime.service_context(tenant_id) as ctx:
        method = methods.get_method(ctx.session, tenant_id, method_id)
        assert method is not None
        method.num_consecutive_failures = failures


def unapplied_payment(runtime: Runtime, tenant_id: int, account_id: int, amount: str) -> int:
    """An external payment left unapplied on the account (its credit balance)."""
    from billcycle.payments.statuses import PaymentType
    from tests.payments.helpers import pay

    with runtime.service_context(tenant_id) as ctx:
        return pay(ctx, account_id, amount, payment_type=PaymentType.EXTERNAL).id


def subscribe_all(runtime: Runtime, tenant_id: int, event_types: list[str] | None = None) -> None:
    """An enabled webhook endpoint of the tenant subscribing to ``event_types`` (all by
    default): a payment run then writes its payments' per-payment events."""
    with runtime.service_context(tenant_id) as ctx:
        webhooks.set_allow_private(ctx, True)
        webhooks.add_endpoint(
            ctx,
            webhooks.NewEndpoint(url="http://127.0.0.1:9/hook", event_types=event_types or ["*"]),
        )
