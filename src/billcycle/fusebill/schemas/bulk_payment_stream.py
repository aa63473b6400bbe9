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

import codecs
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
    collecting = gc.isenabled()
    gc.disable()  # what the scanner builds holds no cycle; collections would only cost
    try:
        return _read(_Window(raw))
    except (_NotCommon, ValueError, IndexError, StopIteration, RecursionError):
        return None  # UnicodeDecodeError (not UTF-8) is a ValueError
    finally:
        if collecting:
            gc.enable()


# The body is decoded a window at a time (session 9): the whole body decoded at once was
# a second copy of it (a million records: ~150 MB of bytes, then ~150 MB of text) held
# while every record was read. A token or record is read only with ``_AHEAD`` characters
# (or the rest of the body) in the window, or again with a wider window when the
# scanner ran into the window's end.
_CHUNK = 1 << 20  # bytes decoded at a time
_AHEAD = 1 << 16  # characters ahead of a record before it is read


class _Window:
    """The body's text from some point on, decoded as it is read (strict UTF-8: a body
    that is not raises ``UnicodeDecodeError`` when its bad bytes are reached)."""

    def __init__(self, raw: bytes) -> None:
        self._raw = memoryview(raw)
        self._fed = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""

    def more(self) -> bool:
        """Whether bytes remain to be decoded."""
        return self._fed < len(self._raw)

    def ahead(self, at: int, need: int) -> int:
        """Makes the window hold at least ``need`` characters from ``at`` on (or the rest
        of the body); answers ``at``'s index in the window as it then is."""
        text = self.text
        if len(text) - at >= need or not self.more():
            return at
        pieces, have = [text[at:]], len(text) - at
        while have < need and self.more():
            end = self._fed + max(_CHUNK, need - have)
            piece = self._decoder.decode(self._raw[self._fed : end], end >= len(self._raw))
            self._fed = min(end, len(self._raw))
            pieces.append(piece)
            have += len(piece)
        self.text = "".join(pieces)
        return 0

    def next_char(self, at: int) -> tuple[str, int]:
        """The first character at or after ``at`` that is not JSON whitespace, and its
        index ('' and the window's end when only whitespace is left)."""
        while True:
            at = _skip(self.text, at)
            if at < len(self.text) or not self.more():
                return self.text[at : at + 1], at
            at = self.ahead(at, _AHEAD)

    def scan(self, read: Any, at: int) -> tuple[Any, int]:
        """``read(text, at)`` (a scanner: the value at ``at`` and the index after it),
        widening the window while the value may run past its end."""
        need = _AHEAD
        while True:
            at = self.ahead(at, need)
            try:
                value, end = read(self.text, at)
            except (StopIteration, ValueError):
                if not self.more():
                    raise
            else:
                if end < len(self.text) or not self.more():
                    return value, end
            need = 2 * max(need, len(self.text) - at)


def _skip(text: str, at: int) -> int:
    return _WHITESPACE.match(text, at).end()  # type: ignore[union-attr]


def _string_from(text: str, at: int) -> tuple[str, int]:
    """A string token's value (``at``: its opening quote) and the index after it."""
    return scanstring(text, at + 1)  # type: ignore[no-any-return]


def _read(window: _Window) -> BulkPaymentBody | None:
    char, at = window.next_char(0)
    if char != "{":
        return None
    char, at = window.next_char(at + 1)
    fields: dict[str, Any] = {}
    records: list[str] | None = None
    if char == "}":
        return None
    while True:
        if char != '"':
            return None
        key, at = window.scan(_string_from, at)
        char, at = window.next_char(at)
        if char != ":":
            return None
        char, at = window.next_char(at + 1)
        folded = key.casefold()
        if folded == "data":
            if char != "[":
                return None
            records, at = _records(window, at + 1)
        else:
            fields[folded], at = window.scan(_SCAN, at)
        char, at = window.next_char(at)
        if char == ",":
            char, at = window.next_char(at + 1)
        elif char == "}":
            break
        else:
            return None
    if window.next_char(at + 1)[0] != "" or records is None:
        return None
    return BulkPaymentBody(fields.get("accountuploadtype"), records)


def _records(window: _Window, at: int) -> tuple[list[str], int]:
    """The array's records from just after its ``[``, each in its stored form; and the
    index after its ``]``. Raises ``_NotCommon`` at the first record not in stored form."""
    records: list[str] = []
    char, at = window.next_char(at)
    if char == "]":
        return records, at + 1
    scan, encode, check, keep, join = _SCAN, _ENCODE, stored_form, records.append, "".join
    common, stored, more = _COMMON.match, _common, window.more
    assert encode is not None
    text = window.text
    # Past ``refill`` the window is widened before the next record is read.
    refill = len(text) - _AHEAD if more() else len(text)
    while True:
        if at > refill:
            at = window.ahead(at, _AHEAD)
            text = window.text
            refill = len(text) - _AHEAD if more() else len(text)
        match = common(text, at)
        if match is not None:
            keep(stored(match))
            at = match.end()
        else:
            item, at = window.scan(scan, at)
            text = window.text
            refill = len(text) - _AHEAD if more() else len(text)
            if not check(item):
                raise _NotCommon
            keep(join(encode(item, 0)))
        if at >= len(text) or text[at] != ",":
            char, at = window.next_char(at)
            text = window.text
            refill = len(text) - _AHEAD if more() else len(text)
            if char == "]":
                return records, at + 1
            if char != ",":
                raise _NotCommon
        at += 1
        if at >= len(text) or text[at] != "{":
            char, at = window.next_char(at)
            text = window.text
            refill = len(text) - _AHEAD if more() else len(text)
