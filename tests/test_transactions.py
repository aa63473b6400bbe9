"""A unit of work commits or rolls back as one, savepoints included, on both databases.

pysqlite starts transactions lazily (before the first write), so a savepoint taken
before any write used to open its own transaction and commit on RELEASE: a later
rollback of the unit of work left the savepoint's writes behind. These tests pin the
fix through the two services that use savepoints.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from billcycle.idempotency import Answer, run_once
from billcycle.invoicing.generator import GenerationOptions, generate_invoices
from billcycle.invoicing.models import Invoice
from billcycle.runtime import Runtime
from billcycle.subscriptions.models import SubscriptionCharge
from tests.generation.helpers import subscribe
from tests.subscriptions.factories import flat, setup
from tests.support.api import Api


class Abort(Exception):
    pass


def test_generation_rolls_back_with_its_unit_of_work(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id
    data = setup(runtime, tenant_id, flat("30"))
    subscribe(api, data.account_number, data.plan.rate_plan_key)
    options = GenerationOptions(target_date=date(2026, 3, 1), invoice_date=date(2026, 3, 1))

    def generate_then_fail() -> None:
        with runtime.service_context(tenant_id) as ctx:
            result = generate_invoices(ctx, [data.account_id], options)
            assert len(result.invoice_ids) == 1
            raise Abort  # e.g. recording the chunk's progress failed

    with pytest.raises(Abort):
        generate_then_fail()

    with runtime.service_context(tenant_id) as ctx:
        invoices = ctx.session.scalar(
            select(func.count()).select_from(Invoice).where(Invoice.tenant_id == tenant_id)
        )
        watermarks = ctx.session.scalars(
            select(SubscriptionCharge.billed_through).where(
                SubscriptionCharge.tenant_id == tenant_id
            )
        ).all()
    assert invoices == 0
    assert watermarks == [None]

    # And the work is still there to do, once.
    with runtime.service_context(tenant_id) as ctx:
        assert len(generate_invoices(ctx, [data.account_id], options).invoice_ids) == 1


def test_failed_work_leaves_its_idempotency_key_free(api: Api, runtime: Runtime) -> None:
    tenant_id = api.tenant.tenant_id

    def failing() -> Answer:
        raise Abort

    def claim_then_fail() -> None:
        with runtime.service_context(tenant_id) as ctx:
            run_once(ctx, scope="test", key="key-1", fingerprint="f", work=failing)

    with pytest.raises(Abort):
        claim_then_fail()

    # Not "still being processed": the failed attempt left no record behind.
    with runtime.service_context(tenant_id) as ctx:
        answer = run_once(
            ctx, scope="test", key="key-1", fingerprint="f", work=lambda: Answer(200, {"ok": 1})
        )
    assert answer == Answer(200, {"ok": 1})
