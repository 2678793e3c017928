"""Projections: fold consumed events into reporting's read models.

Each projection is called by the tracking consumer inside the transaction that also records the
event as applied, so a redelivered event never counts twice.
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import upsert
from gatehouse.events.envelope import EventEnvelope
from gatehouse.events.intake import ProjectRequested, ProjectTransitioned, intake_events
from reporting.tables import portfolio_projects

__all__ = ["apply_to_portfolio"]

log = logging.getLogger(__name__)


async def apply_to_portfolio(connection: AsyncConnection, envelope: EventEnvelope) -> None:
    if envelope.type not in intake_events:
        return  # another service's event, or a type this version does not know yet
    event = intake_events.deserialize(envelope.type, envelope.data)
    match event:
        case ProjectRequested():
            await upsert(connection, portfolio_projects, {
                "project_id": event.project_id,
                "title": event.title,
                "sponsor": event.sponsor,
                "business_unit": event.business_unit,
                "project_type": event.project_type,
                "estimated_cost_amount": event.estimated_cost.amount,
                "estimated_cost_currency": event.estimated_cost.currency,
                "demand_status": "draft",
                "requested_by": event.requested_by,
                "requested_at": envelope.time,
                "updated_at": envelope.time,
                "version": envelope.stream_version,
            }, key=["project_id"])
        case ProjectTransitioned():
            await connection.execute(
                update(portfolio_projects)
                .where(portfolio_projects.c.project_id == event.project_id)
                .values(demand_status=event.to_status, updated_at=envelope.time,
                        version=envelope.stream_version))
