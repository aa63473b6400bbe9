"""Fusebill wire shapes for a customer's billing settings (``/v1/customerbillingsetting``).

Fusebill's Customer Billing Settings object overrides, for one customer, the account-wide
billing preferences. Its reference recommends reading the object, changing what is wanted
and putting the whole object back, so every field ``GET`` answers is accepted by ``PUT``
with the value ``GET`` answered.

What billcycle has a meaning for:

- ``term``: the account's payment term (``Net0`` is billcycle's ``Due Upon Receipt``;
  ``Net15``, ``Net30``, ``Net45``, ``Net60``, ``Net90`` the terms of those days);
- ``autoCollect``: the account's auto-pay (payment runs and dunning attempts charge only
  auto-pay accounts); ``null`` keeps it (billcycle has no tenant-wide auto-collect
  setting to fall back to);
- ``dunningExempt``: the collections policy's per-account exemption (standing never
  changes by itself, no automatic attempts);
- ``customerGracePeriod``: the account's own grace period, days in poor standing before
  suspension (``null``: the tenant's ``grace_days``);
- ``hasPaymentMethod`` (read only): the customer has a default payment method.

The others are shown as Fusebill shows a customer without the override (``invoiceDay``
-1, ``interval`` ``Monthly``, both deprecated and read only; ``rechargeType`` ``""``,
``acquisitionCost`` 0, the rest null). A PUT may send them back unchanged; any other value
is a 400, since billcycle would not keep it. Property names are matched
case-insensitively, as Fusebill's deserializer does; unknown properties are ignored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator
from pydantic.alias_generators import to_camel

from billcycle.accounts.payment_terms import PaymentTerm
from billcycle.fusebill.query import MAX_ID
from billcycle.fusebill.schemas.customers import Amount, FusebillResponse
from billcycle.fusebill.schemas.names import fold_names

# Fusebill's term names for billcycle's payment terms.
TERM_BY_PAYMENT_TERM: dict[PaymentTerm, str] = {
    term: "Net0" if term is PaymentTerm.DUE_UPON_RECEIPT else term.value.replace(" ", "")
    for term in PaymentTerm
}
_TERM_BY_STORED: dict[str, str] = {term.value: name for term, name in TERM_BY_PAYMENT_TERM.items()}
PAYMENT_TERM_BY_TERM: dict[str, PaymentTerm] = {
    name.casefold(): term for term, name in TERM_BY_PAYMENT_TERM.items()
}

# The read-only fields (a PUT may carry anything there: Fusebill ignores them too).
READ_ONLY = ("invoice_day", "interval", "has_payment_method")

# What GET shows for the settings billcycle does not keep; a PUT may only repeat it.
# (None is always accepted: it is "no override" in Fusebill's object.)
UNSUPPORTED_DEFAULTS: dict[str, object] = {
    "auto_collect_setting_type": None,
    "recharge_type": "",
    "recharge_threshold_amount": None,
    "recharge_target_amount": None,
    "status_on_threshold": None,
    "auto_post_draft_invoice": None,
    "grace_period_extension": None,
    "standing_po": None,
    "acquisition_cost": Decimal(0),
}


class BillingSettingsRequest(BaseModel):
    """The PUT body: ``id`` (the customer) and the settings to keep."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", str_strip_whitespace=True
    )

    id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
    invoice_day: Any = None
    term: Annotated[StrictStr, Field(max_length=40)] | None = None
    interval: Any = None
    auto_collect: StrictBool | None = None
    auto_collect_setting_type: Annotated[StrictStr, Field(max_length=40)] | None = None
    dunning_exempt: StrictBool | None = None
    recharge_type: Annotated[StrictStr, Field(max_length=40)] | None = None
    recharge_threshold_amount: Annotated[Decimal, Field(allow_inf_nan=False)] | None = None
    recharge_target_amount: Annotated[Decimal, Field(allow_inf_nan=False)] | None = None
    status_on_threshold: StrictBool | None = None
    auto_post_draft_invoice: StrictBool | None = None
    has_payment_method: Any = None
    customer_grace_period: StrictInt | None = None
    grace_period_extension: StrictInt | None = None
    standing_po: Annotated[StrictStr, Field(max_length=255)] | None = None
    acquisition_cost: Annotated[Decimal, Field(allow_inf_nan=False)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fold_names(cls, data: Any) -> Any:
        return fold_names(cls.model_fields, data)

    def given(self, name: str) -> bool:
        """Whether the body carried ``name`` (null included)."""
        return name in self.model_fields_set


class BillingSettingsResponse(FusebillResponse):
    id: int
    invoice_day: int = -1
    term: str
    interval: Literal["Monthly"] = "Monthly"
    auto_collect: bool
    auto_collect_setting_type: str | None = None
    dunning_exempt: bool
    recharge_type: str = ""
    recharge_threshold_amount: Amount | None = None
    recharge_target_amount: Amount | None = None
    status_on_threshold: bool | None = None
    auto_post_draft_invoice: bool | None = None
    has_payment_method: bool
    customer_grace_period: int | None
    grace_period_extension: int | None = None
    standing_po: str | None = None
    acquisition_cost: Amount = Decimal(0)


def billing_settings_response(
    *,
    customer_id: int,
    payment_term: str,
    auto_pay: bool,
    dunning_exempt: bool,
    grace_days: int | None,
    has_payment_method: bool,
) -> BillingSettingsResponse:
    return BillingSettingsResponse(
        id=customer_id,
        term=_TERM_BY_STORED.get(payment_term, payment_term),
        auto_collect=auto_pay,
        dunning_exempt=dunning_exempt,
        has_payment_method=has_payment_method,
        customer_grace_period=grace_days,
    )
