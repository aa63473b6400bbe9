"""Zuora's object API for the catalog: ``/v1/object/product``, ``product-rate-plan`` and
``product-rate-plan-charge`` (create, get, update, delete).

The object API has its own wire habits, which these routes keep (zuora-sdk's
``Proxy*`` models):

* errors are ``{"Success": false, "Errors": [{"Code": "INVALID_VALUE", "Message": ...}]}``
  rather than the REST envelope; a get of an unknown id answers 404 with
  ``{"done": true, "records": [], "size": 0}``; authentication failures answer 401
  with ``{"message": ...}``;
* JSON numbers in request bodies are read as exact decimals (a price of
  12345678901.123456789 arrives as written, not as the nearest float).

Both are done by :class:`ObjectRoute`, so the app-wide handlers stay untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from billcycle.catalog import service
from billcycle.catalog.models import CHARGE, PRODUCT, RATE_PLAN
from billcycle.errors import DomainError, ErrorKind, wire_text
from billcycle.ids import require_zuora_id, to_zuora_id
from billcycle.zuora.deps import Ctx
from billcycle.zuora.errors import CATEGORY_BY_KIND, STATUS_BY_CATEGORY, error_code, is_legacy
from billcycle.zuora.schemas.catalog import (
    ChargeCreateRequest,
    ChargeUpdateRequest,
    ObjectCharge,
    ObjectProduct,
    ObjectRatePlan,
    ProductCreateRequest,
    ProductUpdateRequest,
    ProxyCreateOrModifyResponse,
    ProxyDeleteResponse,
    RatePlanCreateRequest,
    RatePlanUpdateRequest,
    object_charge,
    object_product,
    object_rate_plan,
)

# --- the object API's protocol --------------------------------------------------------

_PROXY_CODES: dict[ErrorKind, str] = {
    ErrorKind.INVALID_VALUE: "INVALID_VALUE",
    ErrorKind.UNKNOWN_FIELD: "INVALID_FIELD",
    ErrorKind.MISSING_FIELD: "MISSING_REQUIRED_VALUE",
    ErrorKind.RULE: "INVALID_VALUE",
    ErrorKind.NOT_FOUND: "INVALID_ID",
    ErrorKind.CONFLICT: "LOCK_COMPETITION",
    ErrorKind.OVER_LIMIT: "REQUEST_EXCEEDED_LIMIT",
    ErrorKind.TOO_LARGE: "MAX_RECORDS_EXCEEDED",
}


def _respond(request: Request, body: dict[str, Any], status: int) -> JSONResponse:
    if is_legacy(request) and status not in (401, 413, 415):
        status = 200
    return JSONResponse(body, status_code=status)


def _proxy_failure(request: Request, code: str, message: str, status: int) -> JSONResponse:
    body = {"Success": False, "Errors": [{"Code": code, "Message": wire_text(message)}]}
    return _respond(request, body, status)


def proxy_error_response(request: Request, exc: DomainError) -> JSONResponse:
    category = CATEGORY_BY_KIND[exc.kind]
    status = STATUS_BY_CATEGORY[category]
    if exc.kind is ErrorKind.AUTHENTICATION:
        return _respond(request, {"message": exc.render(to_zuora_id)}, status)
    if exc.kind is ErrorKind.PERMISSION:
        body = {"code": error_code(exc.resource, category), "message": exc.render(to_zuora_id)}
        return _respond(request, body, status)
    if exc.kind is ErrorKind.NOT_FOUND and request.method == "GET":
        return _respond(request, {"done": True, "records": [], "size": 0}, status)
    code = _PROXY_CODES[exc.kind]
    if exc.kind is ErrorKind.RULE and request.method == "DELETE":
        code = "CANNOT_DELETE"
    return _proxy_failure(request, code, exc.render(to_zuora_id), status)


def proxy_validation_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    first: dict[str, Any] = next(iter(exc.errors()), {})
    kind = str(first.get("type", ""))
    if kind == "json_invalid":
        return _proxy_failure(request, "INVALID_VALUE", "Malformed JSON in the request body.", 400)
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = ".".join(loc)
    if kind == "missing":
        message = f"Missing required field: {field}." if field else "Missing request body."
        return _proxy_failure(request, "MISSING_REQUIRED_VALUE", message, 400)
    detail = str(first.get("msg", "invalid value"))
    message = f"Invalid value for field {field}: {detail}." if field else f"{detail}."
    return _proxy_failure(request, "INVALID_VALUE", message, 400)


class _ExactJsonRequest(Request):
    _exact_json: Any

    async def json(self) -> Any:
        if not hasattr(self, "_exact_json"):
            self._exact_json = json.loads(await self.body(), parse_float=Decimal)
        return self._exact_json


class ObjectRoute(APIRoute):
    """Exact JSON numbers in, the object API's error shapes out."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def object_handler(request: Request) -> Response:
            try:
                return await handler(_ExactJsonRequest(request.scope, request.receive))
            except DomainError as exc:
                return proxy_error_response(request, exc)
            except RequestValidationError as exc:
                return proxy_validation_response(request, exc)

        return object_handler


router = APIRouter(route_class=ObjectRoute, tags=["Object API: catalog"])

ObjectId = Annotated[str, Path(alias="id", description="The object's 32-hex id")]

# --- products --------------------------------------------------------------------------


@router.post(
    "/v1/object/product", response_model=ProxyCreateOrModifyResponse, summary="Create a product"
)
def create_product(body: ProductCreateRequest, ctx: Ctx) -> ProxyCreateOrModifyResponse:
    product = service.create_product(ctx, body.to_input())
    return ProxyCreateOrModifyResponse(id=to_zuora_id(product.id))


@router.get(
    "/v1/object/product/{id}",
    response_model=ObjectProduct,
    response_model_exclude_none=True,
    summary="Retrieve a product",
)
def get_product(object_id: ObjectId, ctx: Ctx) -> ObjectProduct:
    product_id = require_zuora_id(object_id, PRODUCT)
    return object_product(service.get_product(ctx, product_id))


@router.put(
    "/v1/object/product/{id}",
    response_model=ProxyCreateOrModifyResponse,
    summary="Update a product",
)
def update_product(
    object_id: ObjectId, body: ProductUpdateRequest, ctx: Ctx
) -> ProxyCreateOrModifyResponse:
    product_id = require_zuora_id(object_id, PRODUCT)
    product = service.update_product(ctx, product_id, body.to_changes())
    return ProxyCreateOrModifyResponse(id=to_zuora_id(product.id))


@router.delete(
    "/v1/object/product/{id}",
    response_model=ProxyDeleteResponse,
    summary="Delete a product, with its rate plans and charges",
)
def delete_product(object_id: ObjectId, ctx: Ctx) -> ProxyDeleteResponse:
    product_id = require_zuora_id(object_id, PRODUCT)
    service.delete_product(ctx, product_id)
    return ProxyDeleteResponse(id=to_zuora_id(product_id))


# --- product rate plans ------------------------------------------------------------------


@router.post(
    "/v1/object/product-rate-plan",
    response_model=ProxyCreateOrModifyResponse,
    summary="Create a product rate plan",
)
def create_rate_plan(body: RatePlanCreateRequest, ctx: Ctx) -> ProxyCreateOrModifyResponse:
    plan = service.create_rate_plan(ctx, body.to_input())
    return ProxyCreateOrModifyResponse(id=to_zuora_id(plan.id))


@router.get(
    "/v1/object/product-rate-plan/{id}",
    response_model=ObjectRatePlan,
    response_model_exclude_none=True,
    summary="Retrieve a product rate plan",
)
def get_rate_plan(object_id: ObjectId, ctx: Ctx) -> ObjectRatePlan:
    plan_id = require_zuora_id(object_id, RATE_PLAN)
    return object_rate_plan(service.get_rate_plan(ctx, plan_id))


@router.put(
    "/v1/object/product-rate-plan/{id}",
    response_model=ProxyCreateOrModifyResponse,
    summary="Update a product rate plan",
)
def update_rate_plan(
    object_id: ObjectId, body: RatePlanUpdateRequest, ctx: Ctx
) -> ProxyCreateOrModifyResponse:
    plan_id = require_zuora_id(object_id, RATE_PLAN)
    plan = service.update_rate_plan(ctx, plan_id, body.to_changes())
    return ProxyCreateOrModifyResponse(id=to_zuora_id(plan.id))


@router.delete(
    "/v1/object/product-rate-plan/{id}",
    response_model=ProxyDeleteResponse,
    summary="Delete a product rate plan, with its charges",
)
def delete_rate_plan(object_id: ObjectId, ctx: Ctx) -> ProxyDeleteResponse:
    plan_id = require_zuora_id(object_id, RATE_PLAN)
    service.delete_rate_plan(ctx, plan_id)
    return ProxyDeleteResponse(id=to_zuora_id(plan_id))


# --- product rate plan charges -----------------------------------------------------------


@router.post(
    "/v1/object/product-rate-plan-charge",
    response_model=ProxyCreateOrModifyResponse,
    summary="Create a product rate plan charge with its prices",
)
def create_charge(body: ChargeCreateRequest, ctx: Ctx) -> ProxyCreateOrModifyResponse:
    charge = service.create_charge(ctx, body.to_input())
    return ProxyCreateOrModifyResponse(id=to_zuora_id(charge.id))


@router.get(
    "/v1/object/product-rate-plan-charge/{id}",
    response_model=ObjectCharge,
    response_model_exclude_none=True,
    summary="Retrieve a product rate plan charge with its prices",
)
def get_charge(object_id: ObjectId, ctx: Ctx) -> ObjectCharge:
    charge_id = require_zuora_id(object_id, CHARGE)
    return object_charge(service.get_charge(ctx, charge_id))


@router.put(
    "/v1/object/product-rate-plan-charge/{id}",
    response_model=ProxyCreateOrModifyResponse,
    summary="Update a product rate plan charge (prices given for a currency replace it)",
)
def update_charge(
    object_id: ObjectId, body: ChargeUpdateRequest, ctx: Ctx
) -> ProxyCreateOrModifyResponse:
    charge_id = require_zuora_id(object_id, CHARGE)
    charge = service.update_charge(ctx, charge_id, body.to_changes())
    return ProxyCreateOrModifyResponse(id=to_zuora_id(charge.id))


@router.delete(
    "/v1/object/product-rate-plan-charge/{id}",
    response_model=ProxyDeleteResponse,
    summary="Delete a product rate plan charge",
)
def delete_charge(object_id: ObjectId, ctx: Ctx) -> ProxyDeleteResponse:
    charge_id = require_zuora_id(object_id, CHARGE)
    service.delete_charge(ctx, charge_id)
    return ProxyDeleteResponse(id=to_zuora_id(charge_id))
