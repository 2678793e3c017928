"""Response bodies of the governance API."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

__all__ = ["KnownProjectView"]


class KnownProjectView(BaseModel):
    """A project as governance knows it from intake's events."""

    id: UUID
    title: str
    sponsor: str
    requested_by: str
    business_unit: str
    project_type: str
    status: str
