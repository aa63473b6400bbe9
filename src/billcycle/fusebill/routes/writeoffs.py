"""Fusebill route: ``POST /v1/invoices/writeoff``, the single full write-off.

Gated like bulk jobs (404 while the tenant's feature is off). Statuses:

- 400: malformed body, an amount with more decimals than the currency, a zero or
  negative amount, or an amount that is not the full outstanding balance (the request
  itself is wrong: Fusebill's reference says the amount "must be the full outstanding
  balance"; the ledger's error code is mapped in ``fusebill.errors.STATUS_BY_CODE``);
- 404: an unknown invoice, another tenant's, or one that is not posted (a draft is not a
  Fusebill invoice);
- 409: a posted invoice with nothing left to write off (the request is well formed, the
  invoice's state refuses it).

The body is read after authentication and the feature check, so an unauthenticated or
ungated caller learns nothing from how its body is parsed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request

from billcycle.fusebill.deps import BulkCtx
from billcycle.fusebill.schemas.writeoffs import (
    WriteOffRequest,
    WriteOffResponse,
    write_off_response,
)
from billcycle.invoicing import listing_service
from billcycle.ledger import service as ledger
from billcycle.ledger.models import EntrySource

router = APIRouter(tags=["Invoices"])


async def _raw_body(request: Request) -> bytes:
    return await request.body()


def _parse(raw: bytes) -> WriteOffRequest:
    try:
        return WriteOffRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


@router.post(
    "/v1/invoices/writeoff",
    response_model=WriteOffResponse,
    summary="Write off an invoice",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": WriteOffRequest.model_json_schema()}},
        }
    },
)
def write_off_invoice(ctx: BulkCtx, raw: Annotated[bytes, Depends(_raw_body)]) -> WriteOffResponse:
    """Write off the full outstanding balance of a posted invoice. Cannot be undone."""
    body = _parse(raw)
    invoice = listing_service.get_posted_invoice(ctx, body.invoice_id)
    entry = ledger.apply_write_off(
        ctx,
        invoice,
        body.amount,
        reference=body.reference,
        comment=None,
        source=EntrySource.FUSEBILL,
    )
    return write_off_response(entry)
