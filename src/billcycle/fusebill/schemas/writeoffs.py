"""Fusebill wire shapes for ``POST /v1/invoices/writeoff``.

Request (Fusebill's InvoiceWriteoff): ``{"invoiceId": 1, "amount": 2.0, "reference": "..."}``.
Property names are matched case-insensitively, as Fusebill's own deserializer does;
unknown properties are ignored. ``amount`` is a JSON number (or a numeric string); it is
parsed exactly later, against the invoice's currency.

Response: the write-off, whose id is the ledger entry's id (the same write-off the Zuora
dialect shows as a credit memo).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from billcycle.fusebill.query import MAX_ID
from billcycle.fusebill.schemas.customers import (
    Amount,
    FusebillResponse,
    fusebill_date_timestamp,
    timestamp,
)
from billcycle.fusebill.schemas.names import fold_names
from billcycle.ledger.models import LedgerEntry
from billcycle.money import from_minor

MAX_REFERENCE = 500
_MAX_AMOUNT_TEXT = 40
_MAX_AMOUNT_DIGITS = 15
_MAX_AMOUNT_PLACES = 30


class WriteOffRequest(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", str_strip_whitespace=True
    )

    invoice_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
    amount: Decimal
    reference: Annotated[StrictStr, Field(max_length=MAX_REFERENCE)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fold_names(cls, data: Any) -> Any:
        return fold_names(cls.model_fields, data)

    @field_validator("amount", mode="before")
    @classmethod
    def _exact_amount(cls, value: Any) -> Any:
        """A JSON number (read through its shortest repr, so ``9.99`` is exactly 9.99) or a
        numeric string; never a boolean."""
        amount: Decimal | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            amount = Decimal(str(value))
        elif isinstance(value, str) and len(value) <= _MAX_AMOUNT_TEXT:
            try:
                amount = Decimal(value.strip())
            except InvalidOperation:
                amount = None
        if amount is None:
            raise PydanticCustomError("decimal_type", "Input should be a decimal number")
        # Bounded before anything scales it to minor units: "1e999999999" would become a
        # billion-digit integer, "1e-999999999" would underflow to zero.
        if amount.is_finite() and amount.adjusted() >= _MAX_AMOUNT_DIGITS:
            raise PydanticCustomError(
                "decimal_max_digits",
                f"Input should have at most {_MAX_AMOUNT_DIGITS} digits before the point",
            )
        exponent = amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -_MAX_AMOUNT_PLACES:
            raise PydanticCustomError(
                "decimal_max_places",
                f"Input should have at most {_MAX_AMOUNT_PLACES} decimal places",
            )
        return amount


class WriteOffResponse(FusebillResponse):
    invoice_id: int
    customer_id: int
    amount: Amount
    currency: str
    reference: str | None
    effective_timestamp: str
    created_timestamp: str
    id: int
    uri: str | None = None


def write_off_response(entry: LedgerEntry) -> WriteOffResponse:
    assert entry.invoice_id is not None
    return WriteOffResponse(
        invoice_id=entry.invoice_id,
        customer_id=entry.account_id,
        amount=from_minor(entry.amount_minor, entry.currency),
        currency=entry.currency,
        reference=entry.reference,
        effective_timestamp=fusebill_date_timestamp(entry.effective_date),
        created_timestamp=timestamp(entry.created_at),
        id=entry.id,
    )
