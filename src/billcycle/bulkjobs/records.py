"""What makes a bulk write-off record valid: pure rules over what one set-based query
read about each record's invoice, and the messages a record's ``details`` shows.

Messages do not repeat the invoice id (the record's ``data`` shows it), so the records of
a chunk that fail for the same reason are updated by one statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from billcycle.accounts.statuses import AccountStatus
from billcycle.invoicing.statuses import InvoiceStatus

# billcycle account statuses a write-off accepts: Fusebill's Active and Cancelled.
WRITABLE_ACCOUNT_STATUSES = (AccountStatus.ACTIVE, AccountStatus.CANCELED)
_FUSEBILL_CUSTOMER_STATUS: dict[str, str] = {AccountStatus.CANCELED: "Cancelled"}

NOT_FOUND = "Invoice not found."
NO_BALANCE = "Invoice has no outstanding balance to write off."
NO_BALANCE_ANY_MORE = (
    "Invoice has no outstanding balance to write off any more (paid or written off since "
    "validation)."
)
DUPLICATE = "Invoice appears more than once in this job; only its first record is written off."


def not_posted(status: str) -> str:
    return f"Invoice status is {status}: only posted invoices can be written off."


def customer_not_writable(account_status: str) -> str:
    shown = _FUSEBILL_CUSTOMER_STATUS.get(account_status, account_status)
    return f"Customer status is {shown}: the customer must be Active or Cancelled."


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    """One record's invoice as read (None fields: no such invoice in the tenant)."""

    record_id: int
    preset_failure: str | None  # a reason decided when the job was created (duplicates)
    invoice_id: int | None
    invoice_status: str | None
    account_status: str | None
    balance_minor: int | None


def failure_of(facts: InvoiceFacts) -> str | None:
    """Why the record cannot be written off, or None when it can."""
    if facts.preset_failure is not None:
        return facts.preset_failure
    if facts.invoice_id is None:
        return NOT_FOUND
    if facts.invoice_status != InvoiceStatus.POSTED:
        return not_posted(facts.invoice_status or "unknown")
    if facts.account_status not in WRITABLE_ACCOUNT_STATUSES:
        return customer_not_writable(facts.account_status or "unknown")
    if facts.balance_minor is None or facts.balance_minor <= 0:
        return NO_BALANCE
    return None


def judge(rows: Iterable[InvoiceFacts]) -> tuple[list[int], dict[str, list[int]]]:
    """(record ids that pass, failure message -> record ids)."""
    passed: list[int] = []
    failed: dict[str, list[int]] = {}
    for facts in rows:
        reason = failure_of(facts)
        if reason is None:
            passed.append(facts.record_id)
        else:
            failed.setdefault(reason, []).append(facts.record_id)
    return passed, failed


def duplicate_positions(invoice_ids: Sequence[int]) -> list[int]:
    """1-based positions (record seqs) of ids already seen earlier in the list."""
    seen: set[int] = set()
    repeats: list[int] = []
    for position, invoice_id in enumerate(invoice_ids, start=1):
        if invoice_id in seen:
            repeats.append(position)
        else:
            seen.add(invoice_id)
    return repeats
