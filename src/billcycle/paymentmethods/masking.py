"""Masks of account numbers: the only form in which a bank account number or an IBAN
is kept (a card number is masked by the gateway that tokenizes it). Pure functions."""

from __future__ import annotations

import re

from billcycle.errors import InvalidValue

_DIGITS = re.compile(r"^\d{4,17}$", re.ASCII)
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$", re.ASCII)
_MASK = re.compile(r"^[*Xx#\d\s-]{4,40}$", re.ASCII)


def mask_bank_account(number: str) -> str:
    """``*****6789``: an ACH account number (4 to 17 digits) with all but the last four
    hidden."""
    digits = number.replace(" ", "").replace("-", "")
    if not _DIGITS.match(digits):
        raise InvalidValue(
            "The bank account number is 4 to 17 digits.",
            resource="payment_method",
            field="bankAccountNumber",
        )
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_iban(iban: str) -> str:
    """``DE****************3000``: the country code and the last four characters."""
    compact = iban.replace(" ", "").upper()
    if not _IBAN.match(compact) or not _iban_checksum_ok(compact):
        raise InvalidValue("The IBAN is not a valid IBAN.", resource="payment_method", field="IBAN")
    return compact[:2] + "*" * (len(compact) - 6) + compact[-4:]


def check_mask(mask: str, field: str) -> str:
    """A mask the client computed (``cardMaskNumber``, ``bankAccountMaskNumber``): at
    most four visible digits in a row, so a full number cannot pass as a mask."""
    value = mask.strip()
    if not _MASK.match(value) or re.search(r"\d{5,}", value, re.ASCII):
        raise InvalidValue(
            f"{field} is a masked number such as ************1111 (at most four digits in a row).",
            resource="payment_method",
            field=field,
        )
    return value


def _iban_checksum_ok(iban: str) -> bool:
    """ISO 13616's mod-97 check."""
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(digits) % 97 == 1
