"""Helpers for the Zuora payment tests: the ledger's numbers behind the wire answers, so a
test can say "nothing changed" after a refused request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from billcycle.ledger import service as ledger
from billcycle.ledger.models import LedgerEntry
from billcycle.payments.models import Payment, Refund
from billcycle.runtime import Runtime
from tests.payments.helpers import check_invariants


@dataclass(frozen=True)
class LedgerState:
    """What a refused request must leave as it was: every count and sum the ledger,
    payments and refunds hold for the tenant, and the account's numbers."""

    entries: int
    entry_total: int
    payments: int
    refunds: int
    invoice_balances: tuple[int, ...]
    credit_minor: int


def ledger_state(
    runtime: Runtime, tenant_id: int, account_id: int, invoice_ids: list[int]
) -> LedgerState:
    with runtime.service_context(tenant_id) as ctx:
        check_invariants(ctx)
        session = ctx.session
        count, total = session.execute(
            select(func.count(), func.coalesce(func.sum(LedgerEntry.amount_minor), 0)).where(
                LedgerEntry.tenant_id == tenant_id
            )
        ).one()
        payments = session.scalar(
            select(func.count()).select_from(Payment).where(Payment.tenant_id == tenant_id)
        )
        refunds = session.scalar(
            select(func.count()).select_from(Refund).where(Refund.tenant_id == tenant_id)
        )
        balances = ledger.invoice_balances(session, tenant_id, invoice_ids)
        return LedgerState(
            entries=int(count),
            entry_total=int(total),
            payments=int(payments or 0),
            refunds=int(refunds or 0),
            invoice_balances=tuple(balances[i] for i in invoice_ids),
            credit_minor=ledger.account_credit_minor(session, tenant_id, account_id),
        )


def reason(body: Any) -> tuple[int, str]:
    """The first reason of a Zuora error envelope: (8-digit code, message)."""
    assert body["success"] is False, body
    first = body["reasons"][0]
    return int(first["code"]), str(first["message"])
