"""A BulkPayment create body read record by record (``POST /v1/BulkApi``,
``/v1/bulkPaymentSubmit``): each record is parsed, checked to be in the stored form and
encoded before the next is read, so a million-record body is never held as a million
parsed dicts (~1 GB; the body itself is ~150 MB).

Only the common body takes this way: a JSON object whose ``data`` is an array of records
all in the stored form (``payments.parse_bulk_payments``); the route judges its
``accountUploadType`` as it judges the general way's. Anything else, a malformed body
included, answers None and the caller reads the body the general way, which words every
error as before: this reader never refuses anything itself, and what it accepts it
stores exactly as the general way does (the same check, the same compact encoding).
"""

from __future__ import annotations

import gc
import json
import re
from json.decoder import scanstring  # type: ignore[attr-defined]
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from billcycle.fusebill.schemas.payments import stored_form
from billcycle.payments.activity_statuses import MethodKind, PaymentSource

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined] # the C scanner: (value, end) of the value at an index
# The C encoder ``json.JSONEncoder(separators=(",", ":")).encode`` builds on every call,
# built once (no circular-reference check: a parsed JSON value holds no cycle).
_ENCODE = (
    c_make_encoder(
        None,
        json.JSONEncoder().default,
        encode_basestring_ascii,
        None,
        ":",
        ",",
        False,
        False,
        True,
    )
    if c_make_encoder is not None
    else None
)


# The common record, matched as text (session 8: the scanner, ``stored_form`` and the
# encoder were ~5 µs a record, a million-record body's ~5 s): the keys in this order,
# ``source``, ``reference`` and one allocation optional, JSON whitespace anywhere between
# tokens, and only values whose stored form is their text without that whitespace, so
# what it keeps is exactly what the general way stores (``_records``' scan, check and
# encode; ``tests/fusebill_payments/test_bulk_body_reading.py`` compares them):
# - ids: 1 to 18 digits, no leading zero (``stored_form``'s 1..2**63-1, an int's text);
# - amounts: an integer of at most 15 digits (not ``-0``: it reads as 0), or a decimal of
#   at most 7 + 7 digits with no trailing zero but ``.0``, and not below 0.0001 (below it
#   a float's repr is ``1e-05``): at most 14 significant digits, so the float read from
#   it is written back as the same text (``repr``: the shortest text that reads back as
#   that float), and within ``stored_form``'s bound of 10**15;
# - method and source: one of their values; a reference of printable ASCII with no quote
#   or backslash (the encoder writes it as it is; no escape, no control character).
# Anything else (another order, ``null``, an escape, ``1e2``, ``30.00``, two allocations)
# goes the scanner's way, as before.
_WS_RE = r"[ \t\n\r]*"
_ID_RE = r"([1-9][0-9]{0,17})"
_AMOUNT_RE = (
    r"(-?[1-9][0-9]{0,14}|0|-?(?:0\.(?!0000)|[1-9][0-9]{0,6}\.)(?:0|[0-9]{0,6}[1-9]))"
    r"(?![0-9.eE+-])"
)
_COMMON = re.compile(
    "".join(
        part.replace(" ", _WS_RE)
        for part in (
            r'\{ "customerId" : ' + _ID_RE + r' , "amount" : ' + _AMOUNT_RE,
            r' , "paymentMethod" : "(' + "|".join(kind.value for kind in MethodKind) + r')"',
            r'(?: , "source" : "(' + "|".join(source.value for source in PaymentSource) + r')")?',
            r'(?: , "reference" : "([\x20\x21\x23-\x5b\x5d-\x7e]*)")?',
            r'(?: , "paymentAllocations" : \[ \{ "invoiceId" : ' + _ID_RE,
            r' , "amount" : ' + _AMOUNT_RE + r" \} \])? \}",
        )
    )
)


def _common(match: re.Match[str]) -> str:
    """The stored form of a record ``_COMMON`` matched: its text without the whitespace
    between tokens (only a reference can hold a space; then it is written from its
    parts)."""
    reference = match.group(5)
    if reference is None or " " not in reference:
        return "".join(match.group().split())
    customer, amount, method, source, _, invoice, allocated = match.groups()
    parts = ['{"customerId":', customer, ',"amount":', amount, ',"paymentMethod":"', method, '"']
    if source is not None:
        parts += [',"source":"', source, '"']
    parts += [',"reference":"', reference, '"']
    if invoice is not None:
        parts += [',"paymentAllocations":[{"invoiceId":', invoice, ',"amount":', allocated, "}]"]
    parts.append("}")
    return "".join(parts)


class BulkPaymentBody(NamedTuple):
    upload_type: Any  # the body's accountUploadType as parsed (None when absent)
    records: list[str]  # each record's stored form


class _NotCommon(Exception):
    """The body is not the common shape: read it the general way."""


def read(raw: bytes) -> BulkPaymentBody | None:
    """The body's upload type and stored records when it is an object whose ``data`` is
    records all in the stored form, else None (see the module's docstring)."""
    if _ENCODE is None or raw[:3] == b"\xef\xbb\xbf" or b"\x00" in raw[:4]:
        return None  # a BOM or UTF-16/32: the general way detects the encoding
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    collecting = gc.isenabled()
    gc.disable()  # what the scanner builds holds no cycle; collections would only cost
    try:
        return _read(text)
    except (_NotCommon, ValueError, IndexError, StopIteration, RecursionError):
        return None
    finally:
        if collecting:
            gc.enable()


def _skip(text: str, at: int) -> int:
    return _WHITESPACE.match(text, at).end()  # type: ignore[union-attr]


def _read(text: str) -> BulkPaymentBody | None:
    at = _skip(text, 0)
    if text[at] != "{":
        return None
    at = _skip(text, at + 1)
    fields: dict[str, Any] = {}
    records: list[str] | None = None
    if text[at] == "}":
        return None
    while True:
        if text[at] != '"':
            return None
        key, at = scanstring(text, at + 1)
        at = _skip(text, at)
        if text[at] != ":":
            return None
        at = _skip(text, at + 1)
        folded = key.casefold()
        if folded == "data":
            if text[at] != "[":
                return None
            records, at = _records(text, at + 1)
        else:
            fields[folded], at = _SCAN(text, at)
        at = _skip(text, at)
        if text[at] == ",":
            at = _skip(text, at + 1)
        elif text[at] == "}":
            break
        else:
            return None
    if _skip(text, at + 1) != len(text) or records is None:
        return None
    return BulkPaymentBody(fields.get("accountuploadtype"), records)


def _records(text: str, at: int) -> tuple[list[str], int]:
    """The array's records from just after its ``[``, each in its stored form; and the
    index after its ``]``. Raises ``_NotCommon`` at the first record not in stored form."""
    records: list[str] = []
    at = _skip(text, at)
    if text[at] == "]":
        return records, at + 1
    scan, encode, check, keep, join = _SCAN, _ENCODE, stored_form, records.append, "".join
    common, stored = _COMMON.match, _common
    assert encode is not None
    while True:
        match = common(text, at)
        if match is not None:
            keep(stored(match))
            at = match.end()
        else:
            item, at = scan(text, at)
            if not check(item):
                raise _NotCommon
            keep(join(encode(item, 0)))
        if text[at] != ",":
            at = _skip(text, at)
            if text[at] == "]":
                return records, at + 1
            if text[at] != ",":
                raise _NotCommon
        at += 1
        if text[at] != "{":
            at = _skip(text, at)
