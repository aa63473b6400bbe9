"""Wire shapes of the catalog in the Zuora dialect.

Two spellings of the same objects:

* the object API (``/v1/object/product...``): PascalCase; enums spelled as on Zuora's
  objects (``Semi-Annual``, ``In Advance``, ``Per Unit Pricing``); numbers as JSON numbers;
* the catalog REST API (``/v1/catalog/...``): camelCase; enums spelled as in Zuora's REST
  API (``IN_ADVANCE``, ``PerUnit``); decimals as strings, as zuora-sdk's models declare.

Request bodies map to :mod:`billcycle.catalog.inputs`; unknown enum spellings pass through
unchanged so the service reports them. Nothing here decides a business rule.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
)

from billcycle.catalog import service
from billcycle.catalog.inputs import (
    ChargeChanges,
    NewCharge,
    NewProduct,
    NewRatePlan,
    ProductChanges,
    RatePlanChanges,
    TierInput,
)
from billcycle.catalog.models import (
    CHARGE,
    RATE_PLAN,
    Product,
    ProductRatePlan,
    ProductRatePlanCharge,
    ProductRatePlanChargeTier,
)
from billcycle.catalog.vocabulary import EndDateCondition
from billcycle.errors import InvalidValue
from billcycle.ids import parse_zuora_id, to_zuora_id
from billcycle.rating.types import BillingPeriod, BillingTiming, ChargeModel, PriceFormat
from billcycle.unset import UNSET, Unset
from billcycle.zuora.schemas.base import (
    CamelResponse,
    CommonResponse,
    PascalRequest,
    PascalResponse,
    WireDate,
)

Number = int | float | str

# --- vocabularies: domain value -> wire spelling -------------------------------------

OBJECT_BILLING_PERIODS: dict[str, str] = {
    BillingPeriod.Month: "Month",
    BillingPeriod.Quarter: "Quarter",
    BillingPeriod.Semi_Annual: "Semi-Annual",
    BillingPeriod.Annual: "Annual",
    BillingPeriod.Week: "Week",
    BillingPeriod.Specific_Months: "Specific Months",
}
OBJECT_TIMINGS: dict[str, str] = {
    BillingTiming.InAdvance: "In Advance",
    BillingTiming.InArrears: "In Arrears",
}
REST_MODELS: dict[str, str] = {
    ChargeModel.FlatFee: "FlatFee",
    ChargeModel.PerUnit: "PerUnit",
    ChargeModel.Tiered: "Tiered",
    ChargeModel.Volume: "Volume",
}
REST_PRICE_FORMATS: dict[str, str] = {
    PriceFormat.FlatFee: "FlatFee",
    PriceFormat.PerUnit: "PerUnit",
}


def _domain(value: str | None, spellings: dict[str, str]) -> str | None:
    """Accept the wire spelling or the domain one; anything else goes on for the service
    to reject with the list of allowed values."""
    if value is None:
        return None
    for domain_value, wire in spellings.items():
        if value in (wire, domain_value):
            return domain_value
    return value


def _given(model: PascalRequest, field: str) -> Any:
    return getattr(model, field) if field in model.model_fields_set else UNSET


def _reference(value: str, field: str, resource: str) -> int:
    parsed = parse_zuora_id(value)
    if parsed is None:
        raise InvalidValue(
            f"Invalid value for {field}: '{value}' is not a valid id.",
            resource=resource,
            field=field,
        )
    return parsed


def _number(value: Decimal | None) -> Number | None:
    """A JSON number, as Zuora's object API sends; a string in the rare case where a
    float would not carry the exact decimal."""
    if value is None:
        return None
    if value == value.to_integral_value() and abs(value) < 2**53:
        return int(value)
    as_float = float(value)
    return as_float if Decimal(repr(as_float)) == value else format(value, "f")


def _text_number(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _object_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


# --- object API: requests ------------------------------------------------------------


class ProductCreateRequest(PascalRequest):
    name: str
    sku: str | None = Field(default=None, alias="SKU")
    description: str | None = None
    category: str | None = None
    effective_start_date: WireDate
    effective_end_date: WireDate
    product_number: str | None = None  # accepted; billcycle does not number products
    allow_feature_changes: StrictBool | None = None

    def to_input(self) -> NewProduct:
        return NewProduct(
            name=self.name,
            sku=self.sku,
            description=self.description,
            category=self.category,
            effective_start_date=self.effective_start_date,
            effective_end_date=self.effective_end_date,
        )


class ProductUpdateRequest(PascalRequest):
    name: str | None = None
    sku: str | None = Field(default=None, alias="SKU")
    description: str | None = None
    category: str | None = None
    effective_start_date: WireDate | None = None
    effective_end_date: WireDate | None = None
    product_number: str | None = None
    allow_feature_changes: StrictBool | None = None

    def to_changes(self) -> ProductChanges:
        return ProductChanges(
            name=_given(self, "name"),
            sku=_given(self, "sku"),
            description=_given(self, "description"),
            category=_given(self, "category"),
            effective_start_date=_given(self, "effective_start_date"),
            effective_end_date=_given(self, "effective_end_date"),
        )


class RatePlanCreateRequest(PascalRequest):
    product_id: str
    name: str
    description: str | None = None
    effective_start_date: WireDate | None = None
    effective_end_date: WireDate | None = None
    active_currencies: list[str] | None = None  # derived from the charges' prices
    product_rate_plan_number: str | None = None
    grade: int | float | None = None

    def to_input(self) -> NewRatePlan:
        return NewRatePlan(
            product_id=_reference(self.product_id, "ProductId", RATE_PLAN),
            name=self.name,
            description=self.description,
            effective_start_date=self.effective_start_date,
            effective_end_date=self.effective_end_date,
        )


class RatePlanUpdateRequest(PascalRequest):
    product_id: str | None = None
    name: str | None = None
    description: str | None = None
    effective_start_date: WireDate | None = None
    effective_end_date: WireDate | None = None
    active_currencies: list[str] | None = None
    product_rate_plan_number: str | None = None
    grade: int | float | None = None

    def to_changes(self) -> RatePlanChanges:
        product_id: int | Unset = UNSET
        if self.product_id is not None:
            product_id = _reference(self.product_id, "ProductId", RATE_PLAN)
        return RatePlanChanges(
            product_id=product_id,
            name=_given(self, "name"),
            description=_given(self, "description"),
            effective_start_date=_given(self, "effective_start_date"),
            effective_end_date=_given(self, "effective_end_date"),
        )


class TierRequest(PascalRequest):
    currency: str | None = None
    price: Decimal | None = None
    starting_unit: Decimal | None = None
    ending_unit: Decimal | None = None
    price_format: str | None = None
    tier: StrictInt | None = None
    # Zuora's discount charges give their value here instead of Price.
    discount_percentage: Decimal | None = None
    discount_amount: Decimal | None = None

    def to_input(self) -> TierInput:
        price = self.price
        if price is None:
            price = (
                self.discount_percentage
                if self.discount_percentage is not None
                else (self.discount_amount)
            )
        return TierInput(
            currency=self.currency,
            price=price,
            tier=self.tier,
            starting_unit=self.starting_unit,
            ending_unit=self.ending_unit,
            price_format=self.price_format,
        )


class TierDataRequest(PascalRequest):
    product_rate_plan_charge_tier: list[TierRequest]

    def to_inputs(self) -> list[TierInput]:
        return [tier.to_input() for tier in self.product_rate_plan_charge_tier]


class _ChargeFields(PascalRequest):
    billing_period: str | None = None
    specific_billing_period: StrictInt | None = None
    billing_timing: str | None = None
    bill_cycle_type: str | None = None
    bill_cycle_day: StrictInt | None = None
    weekly_bill_cycle_day: str | None = None
    trigger_event: str | None = None
    default_quantity: Decimal | None = None
    uom: str | None = Field(default=None, alias="UOM")
    included_units: Decimal | None = None
    discount_level: str | None = None
    apply_discount_to: str | None = None
    up_to_periods: StrictInt | None = None
    up_to_periods_type: str | None = None  # billcycle counts billing periods
    description: str | None = None
    # Sent by zuora-sdk (its model requires it); discounts are not billed by billcycle.
    use_discount_specific_accounting_code: StrictBool | None = None
    product_rate_plan_charge_number: str | None = None


class ChargeCreateRequest(_ChargeFields):
    product_rate_plan_id: str
    name: str
    charge_type: str
    charge_model: str
    product_rate_plan_charge_tier_data: TierDataRequest

    def to_input(self) -> NewCharge:
        return NewCharge(
            product_rate_plan_id=_reference(self.product_rate_plan_id, "ProductRatePlanId", CHARGE),
            name=self.name,
            charge_type=self.charge_type,
            charge_model=self.charge_model,
            tiers=self.product_rate_plan_charge_tier_data.to_inputs(),
            billing_period=_domain(self.billing_period, OBJECT_BILLING_PERIODS),
            specific_billing_period=self.specific_billing_period,
            billing_timing=_domain(self.billing_timing, OBJECT_TIMINGS),
            bill_cycle_type=self.bill_cycle_type,
            bill_cycle_day=self.bill_cycle_day,
            weekly_bill_cycle_day=self.weekly_bill_cycle_day,
            trigger_event=self.trigger_event,
            default_quantity=self.default_quantity,
            uom=self.uom,
            included_units=self.included_units,
            discount_level=self.discount_level,
            apply_discount_to=self.apply_discount_to,
            up_to_periods=self.up_to_periods,
            description=self.description,
        )


class ChargeUpdateRequest(_ChargeFields):
    product_rate_plan_id: str | None = None
    name: str | None = None
    charge_type: str | None = None
    charge_model: str | None = None
    product_rate_plan_charge_tier_data: TierDataRequest | None = None

    def to_changes(self) -> ChargeChanges:
        plan_id: int | Unset = UNSET
        if self.product_rate_plan_id is not None:
            plan_id = _reference(self.product_rate_plan_id, "ProductRatePlanId", CHARGE)
        tier_data = self.product_rate_plan_charge_tier_data
        period = _given(self, "billing_period")
        timing = _given(self, "billing_timing")
        return ChargeChanges(
            product_rate_plan_id=plan_id,
            name=_given(self, "name"),
            charge_type=_given(self, "charge_type"),
            charge_model=_given(self, "charge_model"),
            tiers=UNSET if tier_data is None else tier_data.to_inputs(),
            billing_period=period if period is UNSET else _domain(period, OBJECT_BILLING_PERIODS),
            specific_billing_period=_given(self, "specific_billing_period"),
            billing_timing=timing if timing is UNSET else _domain(timing, OBJECT_TIMINGS),
            bill_cycle_type=_given(self, "bill_cycle_type"),
            bill_cycle_day=_given(self, "bill_cycle_day"),
            weekly_bill_cycle_day=_given(self, "weekly_bill_cycle_day"),
            trigger_event=_given(self, "trigger_event"),
            default_quantity=_given(self, "default_quantity"),
            uom=_given(self, "uom"),
            included_units=_given(self, "included_units"),
            discount_level=_given(self, "discount_level"),
            apply_discount_to=_given(self, "apply_discount_to"),
            up_to_periods=_given(self, "up_to_periods"),
            description=_given(self, "description"),
        )


# --- object API: responses -----------------------------------------------------------


class ProxyCreateOrModifyResponse(PascalResponse):
    success: bool = True
    id: str


class ProxyDeleteResponse(CamelResponse):
    """Zuora answers object deletes in lower case."""

    success: bool = True
    id: str


class ObjectProduct(PascalResponse):
    # Fields without a value are left out (response_model_exclude_none), as Zuora does:
    # they are optional in the schema, as in zuora-sdk's models.
    id: str
    name: str
    sku: str = Field(alias="SKU")
    description: str | None = None
    category: str | None = None
    effective_start_date: date
    effective_end_date: date
    allow_feature_changes: bool = False
    created_date: str
    updated_date: str


class ObjectRatePlan(PascalResponse):
    id: str
    product_id: str
    name: str
    description: str | None = None
    effective_start_date: date | None = None
    effective_end_date: date | None = None
    active_currencies: list[str]
    created_date: str
    updated_date: str


class ObjectTier(PascalResponse):
    id: str
    currency: str
    tier: int
    starting_unit: Number | None = None
    ending_unit: Number | None = None
    price: Number
    price_format: str


class ObjectTierData(PascalResponse):
    product_rate_plan_charge_tier: list[ObjectTier]


class ObjectCharge(PascalResponse):
    id: str
    product_rate_plan_id: str
    name: str
    description: str | None = None
    charge_type: str
    charge_model: str
    billing_period: str | None = None
    specific_billing_period: int | None = None
    billing_timing: str
    bill_cycle_type: str
    bill_cycle_day: int | None = None
    weekly_bill_cycle_day: str | None = None
    trigger_event: str
    default_quantity: Number | None = None
    uom: str | None = Field(default=None, alias="UOM")
    included_units: Number | None = None
    discount_level: str | None = None
    apply_discount_to: str | None = None
    up_to_periods: int | None = None
    created_date: str
    updated_date: str
    product_rate_plan_charge_tier_data: ObjectTierData


def object_product(product: Product) -> ObjectProduct:
    return ObjectProduct(
        id=to_zuora_id(product.id),
        name=product.name,
        sku=product.sku,
        description=product.description,
        category=product.category,
        effective_start_date=product.effective_start_date,
        effective_end_date=product.effective_end_date,
        created_date=_object_datetime(product.created_at),
        updated_date=_object_datetime(product.updated_at),
    )


def object_rate_plan(plan: ProductRatePlan) -> ObjectRatePlan:
    currencies = {tier.currency for charge in plan.charges for tier in charge.tiers}
    return ObjectRatePlan(
        id=to_zuora_id(plan.id),
        product_id=to_zuora_id(plan.product_id),
        name=plan.name,
        description=plan.description,
        effective_start_date=plan.effective_start_date,
        effective_end_date=plan.effective_end_date,
        active_currencies=sorted(currencies),
        created_date=_object_datetime(plan.created_at),
        updated_date=_object_datetime(plan.updated_at),
    )


def _object_tier(tier: ProductRatePlanChargeTier) -> ObjectTier:
    price = _number(tier.price)
    assert price is not None  # price is NOT NULL
    return ObjectTier(
        id=to_zuora_id(tier.id),
        currency=tier.currency,
        tier=tier.tier,
        starting_unit=_number(tier.starting_unit),
        ending_unit=_number(tier.ending_unit),
        price=price,
        price_format=tier.price_format,
    )


def object_charge(charge: ProductRatePlanCharge) -> ObjectCharge:
    period = charge.billing_period
    return ObjectCharge(
        id=to_zuora_id(charge.id),
        product_rate_plan_id=to_zuora_id(charge.product_rate_plan_id),
        name=charge.name,
        description=charge.description,
        charge_type=charge.charge_type,
        charge_model=charge.charge_model,
        billing_period=OBJECT_BILLING_PERIODS.get(period, period) if period else None,
        specific_billing_period=charge.specific_billing_period,
        billing_timing=OBJECT_TIMINGS.get(charge.billing_timing, charge.billing_timing),
        bill_cycle_type=charge.bill_cycle_type,
        bill_cycle_day=charge.bill_cycle_day,
        weekly_bill_cycle_day=charge.weekly_bill_cycle_day,
        trigger_event=charge.trigger_event,
        default_quantity=_number(charge.default_quantity),
        uom=charge.uom,
        included_units=_number(charge.included_units),
        discount_level=charge.discount_level,
        apply_discount_to=charge.apply_discount_to,
        up_to_periods=charge.up_to_periods,
        created_date=_object_datetime(charge.created_at),
        updated_date=_object_datetime(charge.updated_at),
        product_rate_plan_charge_tier_data=ObjectTierData(
            product_rate_plan_charge_tier=[_object_tier(tier) for tier in charge.tiers]
        ),
    )


# --- catalog REST API: responses -------------------------------------------------------


class CatalogTier(CamelResponse):
    tier: int
    starting_unit: str | None
    ending_unit: str | None
    price: str
    price_format: str


class CatalogPricing(CamelResponse):
    currency: str
    price: str | None
    tiers: list[CatalogTier] | None
    included_units: str | None = None
    overage_price: str | None = None
    discount_percentage: str | None = None
    discount_amount: str | None = None


class CatalogCharge(CamelResponse):
    id: str
    name: str
    type: str
    model: str
    description: str | None
    uom: str | None
    pricing_summary: list[str]
    pricing: list[CatalogPricing]
    default_quantity: str | None
    billing_day: str
    billing_period: str | None
    specific_billing_period: int | None
    billing_timing: str
    trigger_event: str
    end_date_condition: str = EndDateCondition.SubscriptionEnd
    taxable: bool = False


class CatalogRatePlan(CamelResponse):
    id: str
    status: str
    name: str
    description: str | None
    effective_start_date: date | None
    effective_end_date: date | None
    product_rate_plan_number: str | None = None
    grade: int | None = None
    product_rate_plan_charges: list[CatalogCharge]


class CatalogProduct(CamelResponse):
    id: str
    sku: str
    product_number: str | None = None
    name: str
    description: str | None
    category: str | None
    effective_start_date: date
    effective_end_date: date
    # The rate plans, or (for Zuora-Version below 230.0) the URL that lists them.
    product_rate_plans: list[CatalogRatePlan] | str
    product_features: list[dict[str, Any]] = []


class CatalogProductResponse(CatalogProduct):
    success: bool = True


P = TypeVar("P", bound=CatalogProduct)


class _Paged(CommonResponse):
    # Zuora leaves nextPage out on the last page.
    next_page: str | None = Field(default=None, exclude_if=lambda value: value is None)


class CatalogProductsResponse(_Paged):
    products: list[CatalogProduct]


class RatePlansOfProductResponse(_Paged):
    product_rate_plans: list[CatalogRatePlan]


class RatePlanResponse(CommonResponse):
    id: str
    name: str
    description: str | None
    effective_start_date: date | None
    effective_end_date: date | None
    status: str
    product_rate_plan_number: str | None = None
    grade: int | None = None
    externally_managed_plan_ids: list[str] = []


def _billing_day(charge: ProductRatePlanCharge) -> str:
    if charge.bill_cycle_day is not None:
        return f"{charge.bill_cycle_type}({charge.bill_cycle_day})"
    if charge.weekly_bill_cycle_day is not None:
        return f"{charge.bill_cycle_type}({charge.weekly_bill_cycle_day})"
    return charge.bill_cycle_type


def _summary(charge: ProductRatePlanCharge, currency: str, tiers: list[CatalogTier]) -> str:
    unit = charge.uom or "unit"
    parts = []
    for tier in tiers:
        amount = f"{currency}{tier.price}"
        amount = amount if tier.price_format == "FlatFee" else f"{amount}/{unit}"
        if charge.charge_model in (ChargeModel.Tiered, ChargeModel.Volume):
            upper = f"{tier.ending_unit}" if tier.ending_unit is not None else "+"
            span = f"{tier.starting_unit}-{upper}" if upper != "+" else f"{tier.starting_unit}+"
            amount = f"{span}: {amount}"
        parts.append(amount)
    return ", ".join(parts)


def catalog_charge(charge: ProductRatePlanCharge) -> CatalogCharge:
    tiered = charge.charge_model in (ChargeModel.Tiered, ChargeModel.Volume)
    by_currency: dict[str, list[CatalogTier]] = {}
    for row in charge.tiers:
        price = _text_number(row.price)
        assert price is not None  # price is NOT NULL
        by_currency.setdefault(row.currency, []).append(
            CatalogTier(
                tier=row.tier,
                starting_unit=_text_number(row.starting_unit),
                ending_unit=_text_number(row.ending_unit),
                price=price,
                price_format=REST_PRICE_FORMATS.get(row.price_format, row.price_format),
            )
        )
    pricing = [
        CatalogPricing(
            currency=currency,
            price=None if tiered else tiers[0].price,
            tiers=tiers if tiered else None,
        )
        for currency, tiers in by_currency.items()
    ]
    return CatalogCharge(
        id=to_zuora_id(charge.id),
        name=charge.name,
        type=charge.charge_type,
        model=REST_MODELS.get(charge.charge_model, charge.charge_model),
        description=charge.description,
        uom=charge.uom,
        pricing_summary=[_summary(charge, cur, tiers) for cur, tiers in by_currency.items()],
        pricing=pricing,
        default_quantity=_text_number(charge.default_quantity),
        billing_day=_billing_day(charge),
        billing_period=(
            OBJECT_BILLING_PERIODS.get(charge.billing_period, charge.billing_period)
            if charge.billing_period
            else None
        ),
        specific_billing_period=charge.specific_billing_period,
        billing_timing=charge.billing_timing,
        trigger_event=charge.trigger_event,
    )


def catalog_rate_plan(plan: ProductRatePlan, today: date) -> CatalogRatePlan:
    return CatalogRatePlan(
        id=to_zuora_id(plan.id),
        status=service.rate_plan_status(plan, today),
        name=plan.name,
        description=plan.description,
        effective_start_date=plan.effective_start_date,
        effective_end_date=plan.effective_end_date,
        product_rate_plan_charges=[catalog_charge(charge) for charge in plan.charges],
    )


def rate_plans_url(product: Product) -> str:
    return f"/v1/rateplan/{to_zuora_id(product.id)}/productRatePlan"


def catalog_product(product: Product, today: date, *, plans_as_url: bool, shape: type[P]) -> P:
    """A product as the catalog API shows it (``shape`` picks the list item or the
    single-product answer, which adds ``success``)."""
    return shape(
        id=to_zuora_id(product.id),
        sku=product.sku,
        name=product.name,
        description=product.description,
        category=product.category,
        effective_start_date=product.effective_start_date,
        effective_end_date=product.effective_end_date,
        product_rate_plans=(
            rate_plans_url(product)
            if plans_as_url
            else [catalog_rate_plan(plan, today) for plan in product.rate_plans]
        ),
    )


def rate_plan_response(plan: ProductRatePlan, today: date) -> RatePlanResponse:
    return RatePlanResponse(
        id=to_zuora_id(plan.id),
        name=plan.name,
        description=plan.description,
        effective_start_date=plan.effective_start_date,
        effective_end_date=plan.effective_end_date,
        status=service.rate_plan_status(plan, today),
    )
