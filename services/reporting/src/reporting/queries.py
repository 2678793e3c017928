"""Read-model queries behind reporting's API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from reporting.tables import portfolio_projects

__all__ = ["PortfolioProject", "PortfolioSummary", "portfolio"]


@dataclass(frozen=True)
class PortfolioProject:
    id: UUID
    title: str
    sponsor: str
    business_unit: str
    project_type: str
    estimated_cost_amount: Decimal
    estimated_cost_currency: str
    demand_status: str
    requested_by: str
    requested_at: datetime


@dataclass(frozen=True)
class PortfolioSummary:
    projects: list[PortfolioProject]
    count_by_status: dict[str, int]
    cost_by_currency: dict[str, Decimal]


async def portfolio(connection: AsyncConnection) -> PortfolioSummary:
    rows = await connection.execute(
        select(portfolio_projects).order_by(portfolio_projects.c.requested_at.desc(),
                                            portfolio_projects.c.project_id))
    projects = [_project(row) for row in rows]
    counts = await connection.execute(
        select(portfolio_projects.c.demand_status, func.count())
        .group_by(portfolio_projects.c.demand_status))
    costs = await connection.execute(
        select(portfolio_projects.c.estimated_cost_currency,
               func.sum(portfolio_projects.c.estimated_cost_amount))
        .group_by(portfolio_projects.c.estimated_cost_currency))
    return PortfolioSummary(
        projects=projects,
        count_by_status={status: int(count) for status, count in counts},
        cost_by_currency={currency: Decimal(total) for currency, total in costs})


def _project(row: Any) -> PortfolioProject:
    return PortfolioProject(
        id=row.project_id, title=row.title, sponsor=row.sponsor, business_unit=row.business_unit,
        project_type=row.project_type, estimated_cost_amount=Decimal(row.estimated_cost_amount),
        estimated_cost_currency=row.estimated_cost_currency, demand_status=row.demand_status,
        requested_by=row.requested_by, requested_at=row.requested_at)
