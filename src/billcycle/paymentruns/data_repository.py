"""The SQL of a run's explicit ``data[]`` records when the run is created: what the
checks read, a thousand records per statement (the invoices, accounts, methods and
gateways the records name), and the records written by ONE ``INSERT ... SELECT`` from
the invoices (``paymentruns.service._data_rows``). A dunning day's run names a
thousand invoices; one read and one insert per record was most of creating it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from billcycle.accounts.models import Account
from billcycle.db.bulk import PG_JSON_ROWS_NUMBERED, json_text
from billcycle.gateways.models import PaymentGateway
from billcycle.invoicing.models import Invoice
from billcycle.paymentmethods.models import PaymentMethod

IDS_PER_STATEMENT = 1000

_inv = Invoice.__table__.c
_acc = Account.__table__.c
_pm = PaymentMethod.__table__.c
_gw = PaymentGateway.__table__.c


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    """What the checks of a record read of its invoice."""

    id: int
    account_id: int
    invoice_number: str
    status: str
    currency: str


@dataclass(frozen=True, slots=True)
class AccountFacts:
    id: int
    account_number: str


def _parts(values: Sequence[Any]) -> Iterator[list[Any]]:
    unique = sorted(set(values))
    for start in range(0, len(unique), IDS_PER_STATEMENT):
        yield unique[start : start + IDS_PER_STATEMENT]


def _invoice_columns() -> tuple[Any, ...]:
    return (_inv.id, _inv.account_id, _inv.invoice_number, _inv.status, _inv.currency)


def invoices_by_id(
    session: Session, tenant_id: int, invoice_ids: Sequence[int]
) -> dict[int, InvoiceFacts]:
    """The tenant's invoices among ``invoice_ids`` (others are left out)."""
    found: dict[int, InvoiceFacts] = {}
    for part in _parts(invoice_ids):
        for row in session.execute(
            select(*_invoice_columns()).where(_inv.tenant_id == tenant_id, _inv.id.in_(part))
        ):
            found[int(row[0])] = InvoiceFacts(int(row[0]), int(row[1]), row[2], row[3], row[4])
    return found


def invoices_by_number(
    session: Session, tenant_id: int, numbers: Sequence[str]
) -> dict[str, InvoiceFacts]:
    """The tenant's invoices among ``numbers`` (others are left out)."""
    found: dict[str, InvoiceFacts] = {}
    for part in _parts(numbers):
        for row in session.execute(
            select(*_invoice_columns()).where(
                _inv.tenant_id == tenant_id, _inv.invoice_number.in_(part)
            )
        ):
            found[row[2]] = InvoiceFacts(int(row[0]), int(row[1]), row[2], row[3], row[4])
    return found


def accounts_by_id(
    session: Session, tenant_id: int, account_ids: Sequence[int]
) -> dict[int, AccountFacts]:
    found: dict[int, AccountFacts] = {}
    for part in _parts(account_ids):
        for row in session.execute(
            select(_acc.id, _acc.account_number).where(
                _acc.tenant_id == tenant_id, _acc.id.in_(part)
            )
        ):
            found[int(row[0])] = AccountFacts(int(row[0]), row[1])
    return found


def accounts_by_number(
    session: Session, tenant_id: int, numbers: Sequence[str]
) -> dict[str, AccountFacts]:
    found: dict[str, AccountFacts] = {}
    for part in _parts(numbers):
        for row in session.execute(
            select(_acc.id, _acc.account_number).where(
                _acc.tenant_id == tenant_id, _acc.account_number.in_(part)
            )
        ):
            found[row[1]] = AccountFacts(int(row[0]), row[1])
    return found


def method_accounts(session: Session, tenant_id: int, method_ids: Sequence[int]) -> dict[int, int]:
    """The account of each of the tenant's payment methods among ``method_ids``."""
    found: dict[int, int] = {}
    for part in _parts(method_ids):
        for method_id, account_id in session.execute(
            select(_pm.id, _pm.account_id).where(_pm.tenant_id == tenant_id, _pm.id.in_(part))
        ):
            found[int(method_id)] = int(account_id)
    return found


def gateway_ids(session: Session, tenant_id: int, ids: Sequence[int]) -> set[int]:
    """The tenant's gateways among ``ids``."""
    found: set[int] = set()
    for part in _parts(ids):
        found.update(
            int(gateway_id)
            for gateway_id in session.scalars(
                select(_gw.id).where(_gw.tenant_id == tenant_id, _gw.id.in_(part))
            )
        )
    return found


# The records from ONE JSON parameter, an array of [invoice id, amount in minor units,
# method id, gateway id, comment] in the records' order; account and currency from the
# invoice row. (``tenant_id + 0``: the invoices by primary key from the JSON rows, never
# a tenant index walked for each; PostgreSQL plans it alike.)
_INSERT = """
INSERT INTO payment_run_data (tenant_id, payment_run_id, account_id, invoice_id, currency,
    from_input, amount_minor, payment_method_id, payment_gateway_id, comment,
    amount_collected_minor)
SELECT i.tenant_id, :run, i.account_id, i.id, i.currency, :yes, {amount}, {method},
       {gateway}, {comment}, 0
FROM {rows}
JOIN invoices i ON i.id = {invoice} AND i.tenant_id + 0 = :t
ORDER BY {n}
"""
_SQLITE = {
    "rows": "json_each(:rows) j",
    "invoice": "json_extract(j.value, '$[0]')",
    "amount": "json_extract(j.value, '$[1]')",
    "method": "json_extract(j.value, '$[2]')",
    "gateway": "json_extract(j.value, '$[3]')",
    "comment": "json_extract(j.value, '$[4]')",
    "n": "j.key",
}
_POSTGRES = {
    "rows": PG_JSON_ROWS_NUMBERED,
    "invoice": "(j.e->>0)::bigint",
    "amount": "(j.e->>1)::bigint",
    "method": "(j.e->>2)::bigint",
    "gateway": "(j.e->>3)::bigint",
    "comment": "j.e->>4",
    "n": "j.n",
}


def insert_records(
    session: Session,
    tenant_id: int,
    run_id: int,
    records: Sequence[tuple[int, int | None, int | None, int | None, str | None]],
) -> int:
    """The run's records, (invoice id, amount, method id, gateway id, comment) each,
    checked by the service: ONE statement, rows in the given order (ids ascending as
    an insert per record gave them); returns how many were written.

    Tenant: the invoices are read under ``tenant_id``, which each record carries.
    """
    if not records:
        return 0
    parts = _POSTGRES if session.get_bind().dialect.name == "postgresql" else _SQLITE
    result = session.execute(
        text(_INSERT.format(**parts)),
        {
            "t": tenant_id,
            "run": run_id,
            "yes": True,
            "rows": json_text([list(r) for r in records]),
        },
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
