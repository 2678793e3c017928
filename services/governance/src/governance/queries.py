"""Queries over governance's local view of projects."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from governance.tables import known_projects

__all__ = ["KnownProject", "known_project"]


@dataclass(frozen=True)
class KnownProject:
    id: UUID
    title: str
    sponsor: str
    requested_by: str
    business_unit: str
    project_type: str
    status: str


async def known_project(connection: AsyncConnection, project_id: UUID) -> KnownProject | None:
    row = (await connection.execute(
        select(known_projects).where(known_projects.c.project_id == project_id))).first()
    if row is None:
        return None
    return KnownProject(id=row.project_id, title=row.title, sponsor=row.sponsor,
                        requested_by=row.requested_by, business_unit=row.business_unit,
                        project_type=row.project_type, status=row.status)
