"""Reading a bulk write-off file: invoice ids, one per line or comma-separated, with an
optional header line (``InvoiceId``). Pure: bytes in, ids out, InvalidValue (400) for
anything that is not an invoice id.
"""

from __future__ import annotations

import re

from billcycle.errors import InvalidValue

MAX_ID = 2**63 - 1
_INTEGER = re.compile(r"^\d{1,19}$", re.ASCII)
_SHOWN = 40


def _token(raw: str) -> str:
    return raw.strip().strip('"').strip("'").strip()


def _is_id(token: str) -> bool:
    return bool(_INTEGER.match(token)) and 1 <= int(token) <= MAX_ID


def parse_invoice_ids(content: bytes) -> list[int]:
    """Ids in file order (duplicates kept: validation reports them per record).

    The first non-blank line is a header when none of its values is an id; every other
    value must be an id (1 to 2^63-1), blank values (trailing commas) are skipped.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidValue("The file is not UTF-8 text.", field="file") from exc
    if "\0" in text:
        raise InvalidValue("The file is not a text file.", field="file")
    ids: list[int] = []
    first = True
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = [token for token in (_token(part) for part in line.split(",")) if token]
        if not tokens:
            continue
        if first:
            first = False
            if not any(_is_id(token) for token in tokens):
                continue  # a header line
        for token in tokens:
            if not _is_id(token):
                shown = token if len(token) <= _SHOWN else token[:_SHOWN] + "..."
                raise InvalidValue(
                    f"Line {number}: '{shown}' is not an invoice id (a positive integer).",
                    field="file",
                )
            ids.append(int(token))
    return ids
