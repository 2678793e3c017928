"""Reporting's HTTP routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from gatehouse.runtime import ServiceRuntime
from gatehouse.web import CurrentPrincipal, runtime_of
from reporting import queries
from reporting.schemas import Money, PortfolioEntry, PortfolioView

__all__ = ["router"]

router = APIRouter(tags=["portfolio"])

Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]


@router.get("/portfolio", response_model=PortfolioView, summary="The project portfolio",
            responses={401: {"description": "Missing or invalid bearer token"}})
async def get_portfolio(_principal: CurrentPrincipal, runtime: Runtime) -> PortfolioView:
    async with runtime.database.engine.connect() as connection:
        summary = await queries.portfolio(connection)
    return PortfolioView(
        count=len(summary.projects),
        count_by_status=summary.count_by_status,
        cost_by_currency=summary.cost_by_currency,
        projects=[PortfolioEntry(
            id=p.id, title=p.title, sponsor=p.sponsor, business_unit=p.business_unit,
            project_type=p.project_type,
            estimated_cost=Money(amount=p.estimated_cost_amount,
                                 currency=p.estimated_cost_currency),
            demand_status=p.demand_status, requested_by=p.requested_by,
            requested_at=p.requested_at) for p in summary.projects])
