"""Reading a bulk payment file (Fusebill's "Bulk Manual Payment Recording" import): a CSV
with a header line naming its columns, one payment per line. Pure: bytes in, payments
out, InvalidValue (400, naming the line) for a file that is not one.

Columns, matched case-insensitively; Fusebill's starting file names the first three:

- ``StaxBillID`` (also ``FusebillID`` or ``CustomerId``), required: the customer;
- ``Amount``, required: the payment, in the customer's currency;
- ``Reference``: up to 500 characters;
- ``PaymentMethod``: ``Check`` (the default), ``Cash`` or ``DirectDeposit``;
- ``Source``: ``Import`` (the default), ``Manual``, ``Automatic``, ``SelfServicePortal``;
- invoice allocation columns, in pairs: ``InvoiceID`` with ``AllocationAmount`` (or
  ``InvoiceAmount``), and numbered pairs ``InvoiceID2``/``AllocationAmount2``, ...;
- ``AutoAllocate`` (``true``/``false``) and ``AutoAllocateOrder`` (``OldestToNewest``,
  ``NewestToOldest``), for a payment with no allocation columns filled.

Fusebill's starting file carries a line of column descriptions under the header: a line
whose customer cell starts with "(" (as "(Required) ...") is skipped.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal, InvalidOperation

from billcycle.errors import InvalidValue
from billcycle.ids import is_ascii_digits
from billcycle.payments.activity_statuses import AllocationOrder, MethodKind, PaymentSource
from billcycle.payments.inputs import InvoiceApplication, NewCollection

MAX_ID = 2**63 - 1
_CUSTOMER = ("staxbillid", "fusebillid", "customerid")
_INVOICE = re.compile(r"^invoiceid(\d*)$", re.ASCII)
_ALLOCATION = re.compile(r"^(?:allocationamount|invoiceamount)(\d*)$", re.ASCII)
_SHOWN = 40
_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0", "")


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "..."


def _bad(line: int, message: str) -> InvalidValue:
    return InvalidValue(f"Line {line}: {message}", field="file")


def _id(value: str, line: int, column: str) -> int:
    text = value.strip()
    if not is_ascii_digits(text) or not 1 <= int(text) <= MAX_ID:
        raise _bad(line, f"{column} '{_shown(text)}' is not an id (a positive integer).")
    return int(text)


def _amount(value: str, line: int, column: str) -> Decimal:
    text = value.strip().replace(",", "").lstrip("$")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount.adjusted() >= 15:
        raise _bad(line, f"{column} '{_shown(value.strip())}' is not an amount.")
    return amount


def _word(value: str, words: type, line: int, column: str, default: object) -> object:
    text = value.strip()
    if not text:
        return default
    for member in words:  # type: ignore[attr-defined]
        if member.value.casefold() == text.casefold():
            return member
    allowed = ", ".join(member.value for member in words)  # type: ignore[attr-defined]
    raise _bad(line, f"{column} '{_shown(text)}' is not one of {allowed}.")


def parse_payments(content: bytes) -> list[NewCollection]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidValue("The file is not UTF-8 text.", field="file") from exc
    if "\0" in text:
        raise InvalidValue("The file is not a text file.", field="file")
    rows = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    found: list[NewCollection] = []
    for row in rows:
        line = rows.line_num
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip().casefold() for cell in row]
            if not any(name in header for name in _CUSTOMER):
                raise _bad(line, "the header names no StaxBillID column (the customer).")
            if "amount" not in header:
                raise _bad(line, "the header names no Amount column.")
            continue
        cells = dict(zip(header, (cell for cell in row), strict=False))
        customer_column = next(name for name in _CUSTOMER if name in header)
        customer = cells.get(customer_column, "").strip()
        if customer.startswith("("):
            continue  # the starting file's descriptions
        found.append(_payment(cells, customer, line))
    return found


def _payment(cells: dict[str, str], customer: str, line: int) -> NewCollection:
    invoices: dict[str, str] = {}
    amounts: dict[str, str] = {}
    for name, value in cells.items():
        if (match := _INVOICE.match(name)) is not None and value.strip():
            invoices[match.group(1) or "1"] = value
        elif (match := _ALLOCATION.match(name)) is not None and value.strip():
            amounts[match.group(1) or "1"] = value
    allocations = []
    for key in sorted(set(invoices) | set(amounts), key=int):
        if key not in invoices or key not in amounts:
            raise _bad(line, f"invoice allocation {key} needs both its InvoiceID and its amount.")
        allocations.append(
            InvoiceApplication(
                _id(invoices[key], line, "InvoiceID"),
                _amount(amounts[key], line, "AllocationAmount"),
            )
        )
    auto = cells.get("autoallocate", "").strip().casefold()
    if auto not in _TRUE and auto not in _FALSE:
        raise _bad(line, f"AutoAllocate '{_shown(auto)}' is not true or false.")
    reference = cells.get("reference", "").strip()
    return NewCollection(
        account_id=_id(customer, line, "StaxBillID"),
        amount=_amount(cells.get("amount", ""), line, "Amount"),
        method_kind=_word(  # type: ignore[arg-type]
            cells.get("paymentmethod", ""), MethodKind, line, "PaymentMethod", MethodKind.CHECK
        ),
        source=_word(  # type: ignore[arg-type]
            cells.get("source", ""), PaymentSource, line, "Source", PaymentSource.IMPORT
        ),
        reference=reference or None,
        allocations=tuple(allocations),
        auto_allocate=auto in _TRUE,
        order=_word(  # type: ignore[arg-type]
            cells.get("autoallocateorder", ""),
            AllocationOrder,
            line,
            "AutoAllocateOrder",
            AllocationOrder.OLDEST_TO_NEWEST,
        ),
    )
