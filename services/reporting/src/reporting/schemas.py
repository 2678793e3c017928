"""Response bodies of the reporting API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel

__all__ = ["Money", "PortfolioEntry", "PortfolioView"]


class Money(BaseModel):
    amount: Decimal
    currency: str


class PortfolioEntry(BaseModel):
    id: UUID
    title: str
    sponsor: str
    business_unit: str
    project_type: str
    estimated_cost: Money
    demand_status: str
    requested_by: str
    requested_at: datetime


class PortfolioView(BaseModel):
    count: int
    count_by_status: dict[str, int]
    cost_by_currency: dict[str, Decimal]
    projects: list[PortfolioEntry]
