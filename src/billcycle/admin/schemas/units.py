"""Units of measure (a tenant setting) on the admin API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from billcycle.usage.models import UnitOfMeasure


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=25, description="The UOM usage records name")
    decimal_places: int = Field(
        0, alias="decimalPlaces", ge=0, le=9, description="Decimals a quantity may carry"
    )
    display_name: str | None = Field(None, alias="displayName", max_length=100)


class UnitOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    name: str
    decimal_places: int = Field(alias="decimalPlaces")
    display_name: str | None = Field(alias="displayName")
    active: bool

    @classmethod
    def of(cls, uom: UnitOfMeasure) -> UnitOut:
        return cls(
            id=uom.id,
            name=uom.name,
            decimal_places=uom.decimal_places,
            display_name=uom.display_name,
            active=uom.active,
        )


class UnitList(BaseModel):
    data: list[UnitOut]
