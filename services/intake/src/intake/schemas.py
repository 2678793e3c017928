"""Request and response bodies of the intake API."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from gatehouse.iso4217 import CURRENCY_CODES

__all__ = ["MoneyBody", "ProjectRequestBody", "ProjectView"]

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]


class MoneyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2,
                                     description="Decimal amount, e.g. \"250000.00\"")]
    currency: Annotated[str, Field(description="ISO 4217 code, e.g. EUR",
                                   examples=["EUR", "USD"])]

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCY_CODES:
            raise ValueError(f"{value!r} is not an active ISO 4217 currency code")
        return value


class ProjectRequestBody(BaseModel):
    """A new project request (demand)."""

    model_config = ConfigDict(extra="forbid")

    title: ShortText
    description: LongText
    sponsor: ShortText
    business_unit: ShortText
    project_type: Annotated[Key, Field(description="Key of the project type, e.g. standard")]
    estimated_cost: MoneyBody


class ProjectView(BaseModel):
    id: UUID
    title: str
    description: str
    sponsor: str
    business_unit: str
    project_type: str
    estimated_cost: MoneyBody
    requested_by: str
    status: str
    version: int
