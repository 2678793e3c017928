"""Governance's local view of projects, folded from intake's events."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from gatehouse.database import upsert
from gatehouse.events.envelope import EventEnvelope
from gatehouse.events.intake import (
    ProjectEdited,
    ProjectRequested,
    ProjectTransitioned,
    intake_events,
)
from governance.tables import known_projects

__all__ = ["apply_intake_event"]


async def apply_intake_event(connection: AsyncConnection, envelope: EventEnvelope) -> None:
    if envelope.type not in intake_events:
        return
    event = intake_events.deserialize(envelope.type, envelope.data)
    match event:
        case ProjectRequested():
            await upsert(connection, known_projects, {
                "project_id": event.project_id, "title": event.title, "sponsor": event.sponsor,
                "requested_by": event.requested_by, "business_unit": event.business_unit,
                "project_type": event.project_type, "status": "draft",
                "updated_at": envelope.time, "version": envelope.stream_version,
            }, key=["project_id"])
        case ProjectEdited():
            # Who sponsors a project matters to segregation of duties; its type to its gates.
            tracked = ("title", "sponsor", "business_unit", "project_type")
            values = {name: getattr(event.changes, name) for name in tracked
                      if name in event.changed_fields and getattr(event.changes, name)
                      is not None}
            await connection.execute(
                update(known_projects)
                .where(known_projects.c.project_id == event.project_id)
                .values(**values, updated_at=envelope.time, version=envelope.stream_version))
        case ProjectTransitioned():
            # The stage once the project is in delivery, its demand status before that.
            await connection.execute(
                update(known_projects)
                .where(known_projects.c.project_id == event.project_id)
                .values(status=event.to_stage or event.to_status, updated_at=envelope.time,
                        version=envelope.stream_version))
