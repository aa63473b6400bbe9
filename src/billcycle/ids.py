"""How integer ids and human numbers look on the wire.

One integer primary key per object. Fusebill shows it as is; Zuora shows it as 32
lowercase hex digits (what ``zuora-sdk`` validates). Human numbers are per tenant.
"""

from __future__ import annotations

import re

from billcycle.errors import NotFound

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")

# sequence name -> (prefix, digits)
NUMBER_FORMATS: dict[str, tuple[str, int]] = {
    "account": ("A", 8),
    "invoice": ("INV", 8),
    "bill_run": ("BR-", 8),
    "subscription": ("A-S", 8),
    "charge": ("C-", 8),
    "payment": ("P-", 8),
    "refund": ("R-", 8),
    "payment_run": ("PR-", 8),
}


def is_ascii_digits(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits. ``str.isdigit`` (and ``\\d`` in a
    pattern without ``re.ASCII``) also accepts fullwidth digits (U+FF18), superscripts and other
    scripts' digits, which ``int()`` then reads as numbers: no wire id or count may."""
    return text.isascii() and text.isdigit()


def to_zuora_id(value: int) -> str:
    return f"{value:032x}"


def parse_zuora_id(value: str) -> int | None:
    """The integer behind a 32-hex id, or None when the text is not such an id."""
    if _HEX32.match(value):
        number = int(value, 16)
        return number if number < 2**63 else None
    return None


def format_number(sequence: str, value: int) -> str:
    prefix, digits = NUMBER_FORMATS[sequence]
    return f"{prefix}{value:0{digits}d}"


def require_zuora_id(value: str, resource: str) -> int:
    parsed = parse_zuora_id(value)
    if parsed is None:
        raise NotFound(f"{resource} {value} not found.", resource=resource)
    return parsed
